"""Everything one report shows, computed once and handed to both renderers (so MD and HTML cannot disagree)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agorabench.report import tables
from agorabench.report.agreement import AgreementPair, agreement_pairs
from agorabench.report.scaling import ScalingView, scaling_view
from agorabench.report.sections import EmbeddedFigure, ReportSection
from agorabench.report.students import StudentView, student_views
from agorabench.report.tables import (
    SETTINGS,
    BenchmarkRow,
    ColumnKey,
    LeaderboardRow,
    Note,
    ReferenceRow,
    Setting,
)
from agorabench.results import Cell, DataStats, GeneratorInfo, RunResults

TOP_FAILURES = 3


@dataclass(frozen=True)
class DataRow:
    """One dataset: (generator, setting). Students share datasets, so it is shown once; `cells` holds each
    student's cell of it, as (student name or None with one student, cell or None)."""

    generator: str
    setting: Setting
    cells: tuple[tuple[str | None, Cell | None], ...]

    @property
    def cell(self) -> Cell | None:
        """The cell whose data is shown: the first with data, else the first there is."""
        present = [c for _, c in self.cells if c is not None]
        return next((c for c in present if c.data is not None), present[0] if present else None)

    @property
    def status(self) -> str:
        statuses = [(name, c.status if c else "pending") for name, c in self.cells]
        if len({s for _, s in statuses}) <= 1:
            return statuses[0][1] if statuses else "pending"
        return "; ".join(f"{name}: {s}" for name, s in statuses)

    @property
    def status_class(self) -> str:
        """The CSS class of the status: one status, or 'mixed'."""
        return self.status if self.status in ("done", "failed", "pending") else "mixed"

    @property
    def errors(self) -> list[str]:
        """Each cell's error, prefixed with its student's name when there are several."""
        return [f"{name}: {c.error}" if name else c.error for name, c in self.cells if c is not None and c.error]

    @property
    def data(self) -> DataStats | None:
        cell = self.cell
        return cell.data if cell else None

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
class StudentBlock:
    """Everything sections 1-4 show for one student: its leaderboard rows ("best" and notes within them),
    per-benchmark PGRs, base and reference scores."""

    student: StudentView
    index: int  # 1-based
    several: bool  # the run has several students: headings name them, note anchors carry the index
    rows: list[LeaderboardRow]
    best: dict[ColumnKey, float]
    notes: list[Note]
    note_of: dict[object, int]  # (generator, setting) -> note number
    bench_rows: list[BenchmarkRow]
    bench_notes: list[Note]
    bench_note_of: dict[object, int]  # (generator, method, benchmark) -> note number
    references: list[ReferenceRow]
    bench_columns: list[tuple[str, str]]  # (domain, benchmark)
    unplotted: list[str] = field(default_factory=list)  # generators missing from the cost plot, and why

    @property
    def heading(self) -> str:
        return f"Student {self.student.label}"

    @property
    def anchor(self) -> str:
        """An id prefix unique to this block ('' with one student, so the page reads as it always did)."""
        return f"s{self.index}-" if self.several else ""

    def figure_name(self, name: str) -> str:
        return f"{name}_s{self.index}" if self.several else name


@dataclass(frozen=True)
class CostRow:
    """One generator's spend (shared by the students: a dataset is generated once) and each student's PGR."""

    generator: str
    info: GeneratorInfo | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    pgr: tuple[tuple[float | None, float | None], ...]  # per student: (overall PGR, PGR per dollar)

    @property
    def priced(self) -> bool:
        g = self.info
        return g is not None and (g.price_input_per_mtok is not None or g.price_output_per_mtok is not None)


@dataclass(frozen=True)
class ReportData:
    results: RunResults
    blocks: list[StudentBlock]
    cost_rows: list[CostRow]
    data_rows: list[DataRow]
    status_counts: dict[str, int]
    agreement: list[AgreementPair] = field(default_factory=list)
    scaling: ScalingView | None = None
    figures: dict[str, EmbeddedFigure] = field(default_factory=dict)
    scaling_figures: dict[str, EmbeddedFigure] = field(default_factory=dict)
    sections: Sequence[ReportSection] = ()

    @property
    def title(self) -> str:
        return f"AgoraBench report: {self.results.name}"

    @property
    def several(self) -> bool:
        return len(self.blocks) > 1

    @property
    def rows(self) -> list[LeaderboardRow]:
        """The first student's leaderboard (the only one in most runs)."""
        return self.blocks[0].rows

    @property
    def figure_groups(self) -> list[list[EmbeddedFigure]]:
        """Section 4's figures, one group per student (drawn side by side within a group)."""
        if not self.several:
            return [list(self.figures.values())]
        return [
            [f for name, f in self.figures.items() if name.endswith(b.figure_name(""))] for b in self.blocks
        ]

    @property
    def builtin_sections(self) -> list[tuple[str, str]]:
        """(id, title) of the sections after the five fixed ones, present only when the run has their data."""
        out = []
        if self.agreement:
            out.append(("agreement", "Student agreement"))
        if self.scaling is not None:
            out.append(("scaling", "Data scaling"))
        return out

    def number(self, section_id: str) -> int:
        return 6 + [i for i, _ in self.builtin_sections].index(section_id)

    @property
    def first_extra(self) -> int:
        """The number of the first section passed in (analysis)."""
        return 6 + len(self.builtin_sections)


def _block(view: StudentView, index: int, several: bool) -> StudentBlock:
    results = view.results
    rows = tables.leaderboard(results)
    order = [r.generator for r in rows]
    notes, note_of = tables.leaderboard_notes(rows)
    bench_rows = tables.benchmark_rows(results, order)
    bench_notes, bench_note_of = tables.benchmark_notes(bench_rows)
    return StudentBlock(
        student=view,
        index=index,
        several=several,
        rows=rows,
        best=tables.best_values(rows),
        notes=notes,
        note_of=note_of,
        bench_rows=bench_rows,
        bench_notes=bench_notes,
        bench_note_of=bench_note_of,
        references=tables.reference_rows(results),
        bench_columns=tables.benchmark_columns(results),
        unplotted=[f"{r.generator} (no defined PGR)" for r in rows if r.overall.value is None],
    )


def _cost_rows(results: RunResults, blocks: Sequence[StudentBlock]) -> list[CostRow]:
    info = {g.name: g for g in results.generators}
    by_student = [{r.generator: r for r in b.rows} for b in blocks]
    out = []
    for name in [r.generator for r in blocks[0].rows]:
        # The same datasets for every student: the spend of the block that saw most of them.
        spend = max((board[name] for board in by_student if name in board), key=lambda r: r.datasets)
        out.append(
            CostRow(
                generator=name,
                info=info.get(name),
                prompt_tokens=spend.prompt_tokens,
                completion_tokens=spend.completion_tokens,
                cost_usd=spend.cost_usd,
                pgr=tuple(
                    (r.overall.value, r.pgr_per_dollar) if (r := board.get(name)) else (None, None)
                    for board in by_student
                ),
            )
        )
    return out


def _data_rows(views: Sequence[StudentView], order: Sequence[str]) -> list[DataRow]:
    several = len(views) > 1
    by_key = [tables.cells_by_key(v.results) for v in views]
    return [
        DataRow(g, s, tuple((v.label if several else None, keyed.get((g, *s))) for v, keyed in zip(views, by_key,
                                                                                                 strict=True)))
        for g in order
        for s in SETTINGS
    ]


def build(results: RunResults) -> ReportData:
    views = student_views(results)
    several = len(views) > 1
    blocks = [_block(v, i, several) for i, v in enumerate(views, start=1)]
    return ReportData(
        results=results,
        blocks=blocks,
        cost_rows=_cost_rows(results, blocks),
        data_rows=_data_rows(views, [r.generator for r in blocks[0].rows]),
        status_counts=tables.status_counts(results),
        agreement=agreement_pairs(results.agreement),
        scaling=scaling_view(views),
    )
