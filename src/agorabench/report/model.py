"""Everything one report shows, computed once and handed to both renderers (so MD and HTML cannot disagree)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agorabench.report import tables
from agorabench.report.sections import EmbeddedFigure, ReportSection
from agorabench.report.tables import (
    SETTINGS,
    BenchmarkRow,
    ColumnKey,
    LeaderboardRow,
    Note,
    ReferenceRow,
    Setting,
)
from agorabench.results import Cell, DataStats, RunResults

TOP_FAILURES = 3


@dataclass(frozen=True)
class DataRow:
    generator: str
    setting: Setting
    cell: Cell | None

    @property
    def status(self) -> str:
        return self.cell.status if self.cell else "pending"

    @property
    def data(self) -> DataStats | None:
        return self.cell.data if self.cell else None

    @property
    def acceptance(self) -> float | None:
        """As recorded, else instances / (instances + failed), its definition."""
        s = self.data
        if s is None or s.acceptance_rate is not None:
            return s.acceptance_rate if s else None
        attempts = s.instances + s.failed
        return s.instances / attempts if attempts else None

    def top_failures(self, k: int = TOP_FAILURES) -> list[tuple[str, int]]:
        if self.data is None:
            return []
        return sorted(self.data.failure_reasons.items(), key=lambda item: (-item[1], item[0]))[:k]


@dataclass(frozen=True)
class ReportData:
    results: RunResults
    rows: list[LeaderboardRow]
    best: dict[ColumnKey, float]
    notes: list[Note]
    note_of: dict[object, int]  # (generator, setting) -> note number
    bench_columns: list[tuple[str, str]]
    bench_rows: list[BenchmarkRow]
    bench_notes: list[Note]
    bench_note_of: dict[object, int]  # (generator, method, benchmark) -> note number
    references: list[ReferenceRow]
    data_rows: list[DataRow]
    status_counts: dict[str, int]
    figures: dict[str, EmbeddedFigure] = field(default_factory=dict)
    unplotted: list[str] = field(default_factory=list)  # generators missing from the cost plot, and why
    sections: Sequence[ReportSection] = ()

    @property
    def title(self) -> str:
        return f"AgoraBench report: {self.results.name}"


def build(results: RunResults) -> ReportData:
    rows = tables.leaderboard(results)
    order = [r.generator for r in rows]
    notes, note_of = tables.leaderboard_notes(rows)
    bench_rows = tables.benchmark_rows(results, order)
    bench_notes, bench_note_of = tables.benchmark_notes(bench_rows)
    by_key = tables.cells_by_key(results)
    return ReportData(
        results=results,
        rows=rows,
        best=tables.best_values(rows),
        notes=notes,
        note_of=note_of,
        bench_columns=tables.benchmark_columns(results),
        bench_rows=bench_rows,
        bench_notes=bench_notes,
        bench_note_of=bench_note_of,
        references=tables.reference_rows(results),
        data_rows=[DataRow(g, s, by_key.get((g, *s))) for g in order for s in SETTINGS],
        status_counts=tables.status_counts(results),
        unplotted=[f"{r.generator} (no defined PGR)" for r in rows if r.overall.value is None],
    )
