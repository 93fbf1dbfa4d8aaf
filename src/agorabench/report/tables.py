"""The numbers behind the report, as plain rows: leaderboard, per-benchmark PGRs, base and reference scores.

Pure functions of a `RunResults`, so that Markdown, HTML and CSV show the same numbers and tests can check the
arithmetic without rendering anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from statistics import fmean
from typing import Literal

from agorabench.results import Cell, Pgr, RunResults, ScalingPoint, Score
from agorabench.taxonomy import DOMAINS, METHOD_SHORT, METHODS, SETTINGS
from agorabench.taxonomy import setting_label as taxonomy_setting_label

Setting = tuple[str, str]  # (method, domain)
OVERALL = "overall"
# A leaderboard column is a setting, a method (its average) or OVERALL.
ColumnKey = Setting | str
COLUMNS: tuple[ColumnKey, ...] = (*SETTINGS, *METHODS, OVERALL)


def setting_label(setting: Setting) -> str:
    return taxonomy_setting_label(*setting)


def column_label(key: ColumnKey) -> str:
    if isinstance(key, tuple):
        return setting_label(key)
    return "Overall" if key == OVERALL else f"{METHOD_SHORT[key]} avg"


@dataclass(frozen=True)
class Entry:
    """One PGR as the report shows it: a value, or why there is none."""

    status: Literal["ok", "undefined", "failed", "pending"]
    value: float | None = None
    ci: tuple[float, float] | None = None
    reason: str | None = None  # why there is no value, or (partial) what a domain mean left out
    partial: bool = False  # a domain PGR that averages only some of the domain's benchmarks

    @classmethod
    def from_pgr(cls, pgr: Pgr) -> Entry:
        if pgr.value is None:
            return cls("undefined", reason=pgr.undefined_reason or "no reason recorded")
        if pgr.partial:
            return cls("ok", pgr.value, pgr.ci, reason=partial_reason(pgr), partial=True)
        return cls("ok", pgr.value, pgr.ci)


def partial_reason(pgr: Pgr) -> str:
    left_out = ", ".join(pgr.missing)
    return f"partial: the mean of {', '.join(pgr.benchmarks)} only; {left_out} left out (no defined PGR)"


def cell_entry(cell: Cell | None) -> Entry:
    """The domain PGR of one cell."""
    if cell is None:
        return Entry("pending")
    return domain_entry(cell.status, cell.domain_pgr, cell.pgr, cell.error)


def point_entry(point: ScalingPoint) -> Entry:
    """The domain PGR of one point of a data-scaling curve, read as a cell's."""
    error = point.error or f"the {point.instances:,}-instance student failed"
    return domain_entry(point.status, point.domain_pgr, point.pgr, error)


def domain_entry(status: str, domain_pgr: Pgr | None, pgr: dict[str, Pgr], error: str | None) -> Entry:
    if status == "pending":
        return Entry("pending")
    if status == "failed":
        return Entry("failed", reason=error or "no error recorded")
    if domain_pgr is not None:
        return Entry.from_pgr(domain_pgr)
    # A document written before the domain mean was filled in: recompute it by its definition (no CI, since the
    # bootstrap samples are not in the document).
    defined = [p.value for p in pgr.values() if p.value is not None]
    if defined:
        return Entry("ok", fmean(defined))
    reasons = [p.undefined_reason for p in pgr.values() if p.undefined_reason]
    return Entry("undefined", reason=reasons[0] if reasons else "no PGR recorded")


@dataclass(frozen=True)
class Average:
    """A mean over the defined entries only; `n` of `of` says how many went in."""

    value: float | None
    n: int
    of: int

    @property
    def partial(self) -> bool:
        return self.n < self.of


def average(entries: Sequence[Entry]) -> Average:
    defined = [e.value for e in entries if e.status == "ok" and e.value is not None]
    return Average(fmean(defined) if defined else None, len(defined), len(entries))


@dataclass(frozen=True)
class LeaderboardRow:
    generator: str
    settings: dict[Setting, Entry]
    method_avg: dict[str, Average]
    overall: Average
    cost_usd: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    datasets: int = 0  # cells with data: what cost_usd was spent on

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def pgr_per_dollar(self) -> float | None:
        """Overall PGR per dollar one dataset cost (cost / datasets), the analysis's definition too, so the
        figure does not depend on how many settings a run has; None for free/local generators, not infinity."""
        if self.overall.value is None or self.cost_usd <= 0 or self.datasets <= 0:
            return None
        return self.overall.value / (self.cost_usd / self.datasets)

    def value(self, key: ColumnKey) -> float | None:
        if isinstance(key, tuple):
            return self.settings[key].value
        return (self.overall if key == OVERALL else self.method_avg[key]).value


def generator_names(results: RunResults) -> list[str]:
    """Declared generators first, in their order, then any that only appear in cells (never drop a result)."""
    names = [g.name for g in results.generators]
    for cell in results.cells:
        if cell.generator not in names:
            names.append(cell.generator)
    return names


def cells_by_key(results: RunResults) -> dict[tuple[str, str, str], Cell]:
    return {(c.generator, c.method, c.domain): c for c in results.cells}


def leaderboard_row(
    generator: str, cells: dict[Setting, Cell], cost_usd: float | None = None
) -> LeaderboardRow:
    """One generator's row from its cells. `cost_usd` defaults to the sum of the cells' generation costs."""
    settings = {s: cell_entry(cells.get(s)) for s in SETTINGS}
    method_avg = {m: average([settings[(m, d)] for d in DOMAINS]) for m in METHODS}
    # The overall mean is over settings, not over method averages: a method with a missing domain would
    # otherwise weigh its remaining domains more.
    overall = average(list(settings.values()))
    stats = [c.data for c in cells.values() if c.data is not None]
    if not cost_usd:
        cost_usd = sum(s.cost_usd for s in stats)
    return LeaderboardRow(
        generator=generator,
        settings=settings,
        method_avg=method_avg,
        overall=overall,
        cost_usd=cost_usd,
        prompt_tokens=sum(s.prompt_tokens for s in stats),
        completion_tokens=sum(s.completion_tokens for s in stats),
        datasets=len(stats),
    )


def sort_rows(rows: Iterable[LeaderboardRow]) -> list[LeaderboardRow]:
    """Best overall average first; generators without any defined PGR last; ties by name for stable output."""
    return sorted(
        rows,
        key=lambda r: (r.overall.value is None, -(r.overall.value or 0.0), r.generator),
    )


def leaderboard(results: RunResults) -> list[LeaderboardRow]:
    by_key = cells_by_key(results)
    info = {g.name: g for g in results.generators}
    rows = []
    for name in generator_names(results):
        cells = {(m, d): by_key[(name, m, d)] for m, d in SETTINGS if (name, m, d) in by_key}
        rows.append(leaderboard_row(name, cells, info[name].cost_usd if name in info else None))
    return sort_rows(rows)


def best_values(rows: Sequence[LeaderboardRow]) -> dict[ColumnKey, float]:
    """The highest defined value per column (ties: every row holding it is best)."""
    best: dict[ColumnKey, float] = {}
    for key in COLUMNS:
        values = [v for r in rows if (v := r.value(key)) is not None]
        if values:
            best[key] = max(values)
    return best


def is_best(row: LeaderboardRow, key: ColumnKey, best: dict[ColumnKey, float]) -> bool:
    return key in best and row.value(key) == best[key]


# --- per benchmark ---------------------------------------------------------------------------------------------


def benchmark_columns(results: RunResults) -> list[tuple[str, str]]:
    """(domain, benchmark) in domain order: the declared benchmarks, then any that only appear in cells."""
    columns = [(d, b) for d in DOMAINS for b in results.benchmarks.get(d, [])]
    for cell in results.cells:
        for bench in cell.pgr:
            if (cell.domain, bench) not in columns:
                columns.append((cell.domain, bench))
    return sorted(columns, key=lambda col: DOMAINS.index(col[0]))


@dataclass(frozen=True)
class BenchmarkEntry:
    pgr: Entry
    student: Score | None = None


def benchmark_entry(cell: Cell | None, benchmark: str) -> BenchmarkEntry:
    if cell is None or cell.status != "done":
        return BenchmarkEntry(cell_entry(cell))
    student = cell.student_scores.get(benchmark)
    pgr = cell.pgr.get(benchmark)
    return BenchmarkEntry(Entry.from_pgr(pgr) if pgr else Entry("pending"), student)


@dataclass(frozen=True)
class BenchmarkRow:
    generator: str
    method: str
    entries: dict[str, BenchmarkEntry] = field(default_factory=dict)  # benchmark -> entry


def benchmark_rows(results: RunResults, generators: Sequence[str]) -> list[BenchmarkRow]:
    """One row per (generator, method); a benchmark's entry comes from the cell of its own domain."""
    by_key = cells_by_key(results)
    columns = benchmark_columns(results)
    rows = []
    for name in generators:
        for method in METHODS:
            entries = {b: benchmark_entry(by_key.get((name, method, d)), b) for d, b in columns}
            rows.append(BenchmarkRow(name, method, entries))
    return rows


@dataclass(frozen=True)
class ReferenceRow:
    domain: str
    benchmark: str
    base: Score | None
    reference: Score | None

    @property
    def metric(self) -> str:
        """The grader's name for the score (it names Arena-Hard's version and baseline, AlpacaEval's LC variant)."""
        for score in (self.reference, self.base):
            if score is not None and score.metric:
                return score.metric
        return ""

    @property
    def gap(self) -> float | None:
        if self.base is None or self.reference is None:
            return None
        return self.reference.value - self.base.value


def reference_rows(results: RunResults) -> list[ReferenceRow]:
    return [
        ReferenceRow(d, b, results.base.scores.get(b), results.reference.scores.get(b))
        for d, b in benchmark_columns(results)
    ]


# --- notes under tables ----------------------------------------------------------------------------------------


@dataclass
class Note:
    """A footnote shared by every entry with the same text, so that 9 identical reasons make one note."""

    number: int
    text: str
    where: list[str] = field(default_factory=list)


def entry_note_text(entry: Entry) -> str | None:
    if entry.status == "undefined":
        return f"n/a: {entry.reason}"
    if entry.status == "failed":
        return f"failed: {entry.reason}"
    if entry.partial:
        return entry.reason
    return None


def collect_notes(items: Iterable[tuple[object, Entry, str]]) -> tuple[list[Note], dict[object, int]]:
    """Number the notes of (key, entry, where) items in order; returns the notes and key -> note number."""
    notes: dict[str, Note] = {}
    numbers: dict[object, int] = {}
    for key, entry, where in items:
        text = entry_note_text(entry)
        if text is None:
            continue
        note = notes.setdefault(text, Note(len(notes) + 1, text))
        note.where.append(where)
        numbers[key] = note.number
    return list(notes.values()), numbers


def leaderboard_notes(rows: Sequence[LeaderboardRow]) -> tuple[list[Note], dict[object, int]]:
    return collect_notes(
        ((r.generator, s), r.settings[s], f"{r.generator} · {setting_label(s)}")
        for r in rows
        for s in SETTINGS
    )


def benchmark_notes(rows: Sequence[BenchmarkRow]) -> tuple[list[Note], dict[object, int]]:
    return collect_notes(
        ((r.generator, r.method, b), e.pgr, f"{r.generator} · {METHOD_SHORT[r.method]} {b}")
        for r in rows
        for b, e in r.entries.items()
    )


def status_counts(results: RunResults) -> dict[str, int]:
    counts = {"done": 0, "failed": 0, "pending": 0}
    for cell in results.cells:
        counts[cell.status] += 1
    # A run writes a cell for every (generator, setting) it plans: a setting without one is not in the run.
    return counts
