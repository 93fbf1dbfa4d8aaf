"""The report as Markdown (GitHub-flavoured tables; plots as PNG links into figures/)."""

from __future__ import annotations

from collections.abc import Sequence

from agorabench.report import format as fmt
from agorabench.report import text
from agorabench.report.model import ReportData, StudentBlock
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
    headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1, prose: int | Sequence[int] = ()
) -> str:
    """A GFM table: the first `left` columns (names) and the `prose` column(s) left-aligned, numbers
    right-aligned."""
    prose = {prose} if isinstance(prose, int) else set(prose)
    align = [":---" if i < left or i in prose else "---:" for i in range(len(headers))]
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
    if d.several:
        students = [
            (f"Student {md(b.student.label)}", md(b.student.description)) for b in d.blocks
        ]
        meta = [
            ("Run", md(r.name) + (f" (profile {md(r.profile)})" if r.profile else "")),
            ("Created", md(r.created_at)),
            *students,
            ("Seed", str(r.seed)),
        ]
    else:
        meta = [
            ("Run", md(r.name) + (f" (profile {md(r.profile)})" if r.profile else "")),
            ("Created", md(r.created_at)),
            ("Student base", md(r.student_base)),
            ("Recipe", md(r.training or r.recipe)),
            ("Seed", str(r.seed)),
            ("Base", f"{md(r.base.label)}: {md(r.base.model)}"),
            ("Reference", f"{md(r.reference.label)}: {md(r.reference.model)}"),
        ]
    meta.append(
        (
            "Cells",
            f"{sum(counts.values())}: {counts['done']} done, {counts['failed']} failed, {counts['pending']} pending",
        )
    )
    out = [f"# {md(d.title)}", "", table(["", ""], meta, left=2)]
    if r.notes:
        out += ["", "Notes:", ""] + [f"- {md(n)}" for n in r.notes]
    return out


def _block_heading(b: StudentBlock) -> list[str]:
    return [f"### {md(b.heading)}", "", md(b.student.description) + ".", ""]


def _leaderboard_table(b: StudentBlock) -> list[str]:
    headers = ["Generator"] + [column_label(k) for k in COLUMNS]
    rows = []
    for row in b.rows:
        cells = [md(row.generator)]
        cells += [
            entry(row.settings[s], b.note_of.get((row.generator, s)), is_best(row, s, b.best))
            for s in SETTINGS
        ]
        cells += [average(row.method_avg[m], is_best(row, m, b.best)) for m in METHODS]
        cells.append(average(row.overall, is_best(row, OVERALL, b.best)))
        rows.append(cells)
    return [table(headers, rows)]


def _leaderboard(d: ReportData) -> list[str]:
    out = ["## 1. PGR leaderboard", "", md(text.PGR_DEFINITION), ""]
    if not d.several:
        b = d.blocks[0]
        out += [*_leaderboard_table(b), "", md(text.AVERAGES)]
        if b.notes:
            out += ["", notes(b.notes)]
        return out
    out += [md(text.SEVERAL_STUDENTS), "", md(text.AVERAGES)]
    for b in d.blocks:
        out += ["", *_block_heading(b), *_leaderboard_table(b)]
        if b.notes:
            out += ["", notes(b.notes)]
    return out


def score(s) -> str:
    return "" if s is None else f"{fmt.number(s.value)} {fmt.ci(s.ci)} (n={s.n})".replace("  ", " ")


def _benchmark_table(b: StudentBlock) -> list[str]:
    headers = ["Generator", "Method"] + [f"{md(bench)} ({dom})" for dom, bench in b.bench_columns]
    rows = []
    for row in b.bench_rows:
        cells = [md(row.generator), METHOD_SHORT[row.method]]
        cells += [
            entry(row.entries[bench].pgr, b.bench_note_of.get((row.generator, row.method, bench)))
            for _, bench in b.bench_columns
        ]
        rows.append(cells)
    out = [table(headers, rows, left=2)]
    if b.bench_notes:
        out += ["", notes(b.bench_notes)]
    return out


def _reference_table(b: StudentBlock) -> list[str]:
    refs = [
        [md(r.benchmark), r.domain, md(r.metric), score(r.base), score(r.reference), fmt.number(r.gap)]
        for r in b.references
    ]
    return [
        table(
            [
                "Benchmark",
                "Domain",
                "Metric",
                f"Base: {md(b.student.base.label)}",
                f"Reference: {md(b.student.reference.label)}",
                "Gap",
            ],
            refs,
            left=2,
            prose=2,
        )
    ]


def _benchmarks(d: ReportData) -> list[str]:
    out = ["## 2. PGR per benchmark", "", md(text.BENCHMARKS), ""]
    if not d.several:
        b = d.blocks[0]
        out += [*_benchmark_table(b), "", "### Base and reference scores", "", md(text.REFERENCE), ""]
        return out + _reference_table(b)
    out += [md(text.REFERENCE)]
    for b in d.blocks:
        out += ["", *_block_heading(b), *_benchmark_table(b), "", "#### Base and reference scores", ""]
        out += _reference_table(b)
    return out


def _cost(d: ReportData) -> list[str]:
    rows = []
    for row in d.cost_rows:
        g = row.info
        prices = (
            f"{fmt.price(g.price_input_per_mtok)} / {fmt.price(g.price_output_per_mtok)}" if row.priced else ""
        )
        cells = [
            md(row.generator),
            md(g.model) if g else "",
            md(g.backend) if g else "",
            prices,
            fmt.tokens(row.prompt_tokens),
            fmt.tokens(row.completion_tokens),
            fmt.usd(row.cost_usd),
        ]
        for overall, per_dollar in row.pgr:
            cells += [fmt.number(overall) or fmt.NOT_DEFINED, fmt.per_dollar(per_dollar, row.cost_usd)]
        rows.append(cells)
    headers = [
        "Generator",
        "Model",
        "Backend",
        "Price in / out per 1M tok",
        "Prompt tokens",
        "Completion tokens",
        "Cost",
    ]
    for b in d.blocks:
        suffix = f" ({md(b.student.label)})" if d.several else ""
        headers += [f"Overall PGR{suffix}", f"PGR per ${suffix}"]
    explain = md(text.COST) + (" " + md(text.SHARED_COST) if d.several else "")
    return ["## 3. Cost", "", explain, "", table(headers, rows, left=3)]


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
        if row.errors:
            errors = "; ".join(f"error: {md(e)}" for e in row.errors)
            reasons = errors + (f"; {reasons}" if reasons else "")
        rows.append(
            [
                md(row.generator),
                setting_label(row.setting),
                md(row.status),
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
    explain = md(text.DATA) + (" " + md(text.SHARED_DATA) if d.several else "")
    return ["## 5. Data statistics", "", explain, "", table(headers, rows, left=3, prose=7)]


def tau(value: float | None) -> str:
    return fmt.NOT_DEFINED if value is None else f"{value:.2f}"


def _agreement(d: ReportData) -> list[str]:
    rounds = text.agreement_rounds(d.results.agreement.rounds if d.results.agreement else 0)
    out = [f"## {d.number('agreement')}. Student agreement", "", md(text.AGREEMENT + (" " + rounds if rounds else ""))]
    headers = ["Scope", "Kendall's tau", "95% CI", "Generators ranked", "Order flips", "Note"]
    for pair in d.agreement:
        rows = [
            [
                md(row.scope),
                tau(row.agreement.tau),
                fmt.ci(row.agreement.ci, 2),
                md(", ".join(row.agreement.generators)),
                md("; ".join(row.flips)) or ("none" if row.agreement.tau is not None else ""),
                md(row.agreement.note or ""),
            ]
            for row in pair.rows
        ]
        out += ["", f"### {md(pair.title)}", "", table(headers, rows, prose=(3, 4, 5))]
    return out


def _scaling(d: ReportData) -> list[str]:
    v = d.scaling
    headers = ["Generator", "Setting"] + (["Student"] if v.several_students else [])
    headers += [f"PGR at {n:,}" for n in v.sizes] + ["Cost"]
    rows = []
    for i, curve in enumerate(v.curves):
        cells = [md(curve.generator), setting_label(curve.setting)]
        cells += [md(curve.student)] if v.several_students else []
        for n in v.sizes:
            e = curve.at(n)
            cells.append("" if e is None else entry(e, v.note_of.get((i, n))))
        cells.append(fmt.usd(curve.cost_usd))
        rows.append(cells)
    left = 3 if v.several_students else 2
    out = [f"## {d.number('scaling')}. Data scaling", "", md(text.SCALING), "", table(headers, rows, left=left)]
    if v.notes:
        out += ["", notes(v.notes)]
    for fig in d.scaling_figures.values():
        out += ["", fig.markdown]
    if v.free:
        out += ["", md(text.SCALING_FREE)]
    return out


def render(d: ReportData) -> str:
    parts = [_header(d), _leaderboard(d), _benchmarks(d), _cost(d), _plots(d), _data(d)]
    if d.agreement:
        parts.append(_agreement(d))
    if d.scaling is not None:
        parts.append(_scaling(d))
    for i, section in enumerate(d.sections, start=d.first_extra):
        parts.append([f"## {i}. {md(section.title)}", "", section.markdown.strip()])
    return "\n\n".join("\n".join(p) for p in parts) + "\n"
