"""The report as Markdown (GitHub-flavoured tables; plots as PNG links into figures/)."""

from __future__ import annotations

from collections.abc import Sequence

from agorabench.report import format as fmt
from agorabench.report import text
from agorabench.report.model import ReportData
from agorabench.report.tables import (
    COLUMNS,
    OVERALL,
    SETTINGS,
    Average,
    Entry,
    Note,
    column_label,
    is_best,
    setting_label,
)
from agorabench.taxonomy import METHOD_SHORT, METHODS

md = fmt.md


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1, prose: int | None = None
) -> str:
    """A GFM table: the first `left` columns (names) and column `prose` left-aligned, numbers right-aligned."""
    align = [":---" if i < left or i == prose else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def entry(e: Entry, note: int | None = None, best: bool = False) -> str:
    value = fmt.entry_text(e)
    if best:
        value = f"**{value}**"
    if e.status == "ok" and e.ci:
        value += f" {fmt.ci(e.ci)}"
    if note is not None:
        value += f" (note {note})"
    return value


def average(avg: Average, best: bool = False) -> str:
    if avg.value is None:
        return fmt.NOT_DEFINED
    value = fmt.number(avg.value)
    value = f"**{value}**" if best else value
    return f"{value} ({avg.n} of {avg.of})" if avg.partial else value


def notes(items: list[Note]) -> str:
    return "\n".join(f"{n.number}. {md(n.text)} ({md(', '.join(n.where))})" for n in items)


def _header(d: ReportData) -> list[str]:
    r = d.results
    counts = d.status_counts
    meta = [
        ("Run", md(r.name) + (f" (profile {md(r.profile)})" if r.profile else "")),
        ("Created", md(r.created_at)),
        ("Student base", md(r.student_base)),
        ("Recipe", md(r.training or r.recipe)),
        ("Seed", str(r.seed)),
        ("Base", f"{md(r.base.label)}: {md(r.base.model)}"),
        ("Reference", f"{md(r.reference.label)}: {md(r.reference.model)}"),
        (
            "Cells",
            f"{sum(counts.values())}: {counts['done']} done, {counts['failed']} failed, {counts['pending']} pending",
        ),
    ]
    out = [f"# {md(d.title)}", "", table(["", ""], meta, left=2)]
    if r.notes:
        out += ["", "Notes:", ""] + [f"- {md(n)}" for n in r.notes]
    return out


def _leaderboard(d: ReportData) -> list[str]:
    headers = ["Generator"] + [column_label(k) for k in COLUMNS]
    rows = []
    for row in d.rows:
        cells = [md(row.generator)]
        cells += [
            entry(row.settings[s], d.note_of.get((row.generator, s)), is_best(row, s, d.best))
            for s in SETTINGS
        ]
        cells += [average(row.method_avg[m], is_best(row, m, d.best)) for m in METHODS]
        cells.append(average(row.overall, is_best(row, OVERALL, d.best)))
        rows.append(cells)
    out = [
        "## 1. PGR leaderboard",
        "",
        md(text.PGR_DEFINITION),
        "",
        table(headers, rows),
        "",
        md(text.AVERAGES),
    ]
    if d.notes:
        out += ["", notes(d.notes)]
    return out


def _benchmarks(d: ReportData) -> list[str]:
    headers = ["Generator", "Method"] + [f"{md(b)} ({dom})" for dom, b in d.bench_columns]
    rows = []
    for row in d.bench_rows:
        cells = [md(row.generator), METHOD_SHORT[row.method]]
        cells += [
            entry(row.entries[b].pgr, d.bench_note_of.get((row.generator, row.method, b)))
            for _, b in d.bench_columns
        ]
        rows.append(cells)
    out = ["## 2. PGR per benchmark", "", md(text.BENCHMARKS), "", table(headers, rows, left=2)]
    if d.bench_notes:
        out += ["", notes(d.bench_notes)]

    def score(s) -> str:
        return "" if s is None else f"{fmt.number(s.value)} {fmt.ci(s.ci)} (n={s.n})".replace("  ", " ")

    refs = [
        [md(r.benchmark), r.domain, md(r.metric), score(r.base), score(r.reference), fmt.number(r.gap)]
        for r in d.references
    ]
    out += [
        "",
        "### Base and reference scores",
        "",
        md(text.REFERENCE),
        "",
        table(
            [
                "Benchmark",
                "Domain",
                "Metric",
                f"Base: {md(d.results.base.label)}",
                f"Reference: {md(d.results.reference.label)}",
                "Gap",
            ],
            refs,
            left=2,
            prose=2,
        ),
    ]
    return out


def _cost(d: ReportData) -> list[str]:
    info = {g.name: g for g in d.results.generators}
    rows = []
    for row in d.rows:
        g = info.get(row.generator)
        priced = g is not None and (g.price_input_per_mtok is not None or g.price_output_per_mtok is not None)
        prices = (
            f"{fmt.price(g.price_input_per_mtok)} / {fmt.price(g.price_output_per_mtok)}" if priced else ""
        )
        rows.append(
            [
                md(row.generator),
                md(g.model) if g else "",
                md(g.backend) if g else "",
                prices,
                fmt.tokens(row.prompt_tokens),
                fmt.tokens(row.completion_tokens),
                fmt.usd(row.cost_usd),
                fmt.number(row.overall.value) or fmt.NOT_DEFINED,
                fmt.per_dollar(row.pgr_per_dollar, row.cost_usd),
            ]
        )
    headers = [
        "Generator",
        "Model",
        "Backend",
        "Price in / out per 1M tok",
        "Prompt tokens",
        "Completion tokens",
        "Cost",
        "Overall PGR",
        "PGR per $",
    ]
    return ["## 3. Cost", "", md(text.COST), "", table(headers, rows, left=3)]


def _plots(d: ReportData) -> list[str]:
    out = ["## 4. Plots", "", md(text.PLOTS)]
    for fig in d.figures.values():
        out += ["", fig.markdown]
    return out


def _data(d: ReportData) -> list[str]:
    rows = []
    for row in d.data_rows:
        s = row.data
        reasons = "; ".join(f"{md(k)} ({v:,})" for k, v in row.top_failures())
        if row.cell is not None and row.cell.error:
            reasons = f"error: {md(row.cell.error)}" + (f"; {reasons}" if reasons else "")
        rows.append(
            [
                md(row.generator),
                setting_label(row.setting),
                row.status,
                fmt.tokens(s.requested) if s else "",
                fmt.tokens(s.instances) if s else "",
                fmt.tokens(s.failed) if s else "",
                fmt.percent(row.acceptance),
                reasons,
                fmt.tokens(s.prompt_tokens + s.completion_tokens) if s else "",
                fmt.usd(s.cost_usd) if s else "",
            ]
        )
    headers = [
        "Generator",
        "Setting",
        "Status",
        "Requested",
        "Instances",
        "Failed",
        "Acceptance",
        "Top failure reasons",
        "Tokens",
        "Cost",
    ]
    return ["## 5. Data statistics", "", md(text.DATA), "", table(headers, rows, left=3, prose=7)]


def render(d: ReportData) -> str:
    parts = [_header(d), _leaderboard(d), _benchmarks(d), _cost(d), _plots(d), _data(d)]
    for i, section in enumerate(d.sections, start=6):
        parts.append([f"## {i}. {md(section.title)}", "", section.markdown.strip()])
    return "\n\n".join("\n".join(p) for p in parts) + "\n"
