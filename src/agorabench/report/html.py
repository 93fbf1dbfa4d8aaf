"""The report as one self-contained HTML page (inline CSS, inline SVG plots, no script, no external loads).

Table cells are prepared here as plain values; the Jinja template only lays them out, with autoescaping on,
because generator names, errors and failure reasons come from users and models.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from agorabench.report import format as fmt
from agorabench.report import text
from agorabench.report.model import ReportData
from agorabench.report.tables import (
    COLUMNS,
    OVERALL,
    SETTINGS,
    Average,
    Entry,
    column_label,
    is_best,
    setting_label,
)
from agorabench.results import Score
from agorabench.taxonomy import DOMAINS, METHOD_SHORT, METHODS


@dataclass(frozen=True)
class Td:
    """One table cell as the template draws it."""

    text: str
    sub: str = ""  # smaller grey line under the value: a CI, or "2 of 3"
    cls: str = ""
    colour: str | None = None
    title: str = ""  # tooltip
    note: int | None = None
    anchor: str = ""


def entry_td(e: Entry, note: int | None = None, anchor: str = "", best: bool = False, title: str = "") -> Td:
    cls = {"ok": "", "undefined": "na", "failed": "failed", "pending": "pending"}[e.status]
    tooltip = e.reason or title
    return Td(
        text=fmt.entry_text(e),
        sub=fmt.ci(e.ci) if e.status == "ok" else "",
        cls=f"{cls} best".strip() if best else cls,
        colour=fmt.pgr_colour(e.value),
        title=tooltip,
        note=note,
        anchor=f"{anchor}{note}" if note else "",
    )


def average_td(avg: Average, best: bool = False) -> Td:
    if avg.value is None:
        return Td(fmt.NOT_DEFINED, cls="na avg", title="no defined PGR to average")
    return Td(
        fmt.number(avg.value),
        sub=f"{avg.n} of {avg.of}" if avg.partial else "",
        cls="avg best" if best else "avg",
        colour=fmt.pgr_colour(avg.value),
        title=f"mean of {avg.n} of {avg.of} settings" if avg.partial else "",
    )


def score_text(score: Score | None) -> str:
    if score is None:
        return ""
    return f"student {fmt.number(score.value)} {fmt.ci(score.ci)} (n={score.n})".replace("  ", " ")


def _leaderboard(d: ReportData) -> list[dict]:
    out = []
    for row in d.rows:
        cells = [
            entry_td(row.settings[s], d.note_of.get((row.generator, s)), "lb-note-", is_best(row, s, d.best))
            for s in SETTINGS
        ]
        cells += [average_td(row.method_avg[m], is_best(row, m, d.best)) for m in METHODS]
        cells.append(average_td(row.overall, is_best(row, OVERALL, d.best)))
        out.append({"generator": row.generator, "cells": cells})
    return out


def _benchmarks(d: ReportData) -> list[dict]:
    out = []
    for i, row in enumerate(d.bench_rows):
        cells = []
        for _, bench in d.bench_columns:
            e = row.entries[bench]
            note = d.bench_note_of.get((row.generator, row.method, bench))
            cells.append(entry_td(e.pgr, note, "bm-note-", title=score_text(e.student)))
        out.append(
            {
                "generator": row.generator,
                "method": METHOD_SHORT[row.method],
                "first": i % len(METHODS) == 0,
                "cells": cells,
            }
        )
    return out


def _groups(keys: list[str]) -> list[tuple[str, int]]:
    """Runs of equal keys as (key, length): the spans of a grouped table header."""
    spans: list[tuple[str, int]] = []
    for key in keys:
        if spans and spans[-1][0] == key:
            spans[-1] = (key, spans[-1][1] + 1)
        else:
            spans.append((key, 1))
    return spans


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("agorabench.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        number=fmt.number,
        ci=fmt.ci,
        usd=fmt.usd,
        tokens=fmt.tokens,
        percent=fmt.percent,
        price=fmt.price,
        per_dollar=fmt.per_dollar,
    )
    return env


def render(d: ReportData) -> str:
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            d=d,
            r=d.results,
            text=text,
            fmt=fmt,
            methods=[(m, METHOD_SHORT[m]) for m in METHODS],
            domains=DOMAINS,
            setting_label=setting_label,
            column_label=column_label,
            columns=COLUMNS,
            leaderboard=_leaderboard(d),
            benchmarks=_benchmarks(d),
            generators={g.name: g for g in d.results.generators},
            n_settings=len(SETTINGS),
            # Where a group of columns starts (IG, RG, QE, averages), for the rule between groups.
            lb_starts={i * len(DOMAINS) for i in range(len(METHODS) + 1)},
            bench_groups=_groups([dom for dom, _ in d.bench_columns]),
            bench_starts={
                i for i, (dom, _) in enumerate(d.bench_columns) if i == 0 or d.bench_columns[i - 1][0] != dom
            },
            colour_legend=[(v, fmt.pgr_colour(v)) for v in (-100, -50, 0, 50, 100)],
        )
    )
