"""The report as one self-contained HTML page (inline CSS, inline SVG plots, no script, no external loads).

Table cells are prepared here as plain values; the Jinja template only lays them out, with autoescaping on,
because generator names, errors and failure reasons come from users and models.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from agorabench.report import format as fmt
from agorabench.report import text
from agorabench.report.model import ReportData, StudentBlock
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
from agorabench.results import RankAgreement, Score
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


def _leaderboard(b: StudentBlock) -> list[dict]:
    out = []
    for row in b.rows:
        prefix = f"lb-note-{b.anchor}"
        cells = [
            entry_td(row.settings[s], b.note_of.get((row.generator, s)), prefix, is_best(row, s, b.best))
            for s in SETTINGS
        ]
        cells += [average_td(row.method_avg[m], is_best(row, m, b.best)) for m in METHODS]
        cells.append(average_td(row.overall, is_best(row, OVERALL, b.best)))
        out.append({"generator": row.generator, "cells": cells})
    return out


def _benchmarks(b: StudentBlock) -> list[dict]:
    out = []
    for i, row in enumerate(b.bench_rows):
        cells = []
        for _, bench in b.bench_columns:
            e = row.entries[bench]
            note = b.bench_note_of.get((row.generator, row.method, bench))
            cells.append(entry_td(e.pgr, note, f"bm-note-{b.anchor}", title=score_text(e.student)))
        out.append(
            {
                "generator": row.generator,
                "method": METHOD_SHORT[row.method],
                "first": i % len(METHODS) == 0,
                "cells": cells,
            }
        )
    return out


def _block(b: StudentBlock) -> dict:
    """What the template draws for one student: its tables' cells and its per-benchmark column groups."""
    return {
        "b": b,
        "leaderboard": _leaderboard(b),
        "benchmarks": _benchmarks(b),
        "bench_groups": _groups([dom for dom, _ in b.bench_columns]),
        "bench_starts": {
            i for i, (dom, _) in enumerate(b.bench_columns) if i == 0 or b.bench_columns[i - 1][0] != dom
        },
    }


def _scaling(d: ReportData) -> list[dict]:
    v = d.scaling
    if v is None:
        return []
    out = []
    for i, curve in enumerate(v.curves):
        cells = []
        for n in v.sizes:
            e = curve.at(n)
            cells.append(Td("") if e is None else entry_td(e, v.note_of.get((i, n)), "sc-note-"))
        out.append({"curve": curve, "cells": cells})
    return out


def tau_td(agreement: RankAgreement) -> Td:
    if agreement.tau is None:
        return Td(fmt.NOT_DEFINED, cls="na", title=agreement.note or "")
    return Td(f"{agreement.tau:.2f}", sub=fmt.ci(agreement.ci, 2))


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
            blocks=[_block(b) for b in d.blocks],
            scaling_rows=_scaling(d),
            tau_td=tau_td,
            generators={g.name: g for g in d.results.generators},
            n_settings=len(SETTINGS),
            # Where a group of columns starts (IG, RG, QE, averages), for the rule between groups.
            lb_starts={i * len(DOMAINS) for i in range(len(METHODS) + 1)},
            colour_legend=[(v, fmt.pgr_colour(v)) for v in (-100, -50, 0, 50, 100)],
        )
    )
