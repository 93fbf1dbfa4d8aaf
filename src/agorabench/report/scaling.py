"""The data-scaling curves of a run (`scaling:`): each cell's PGR at each training-set size, as rows.

A point's PGR per dollar is its domain PGR / what its records cost (`ScalingPoint.cost_usd`); it is not defined
for points that cost nothing (local generators), which are left out rather than divided by zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agorabench.report.students import StudentView
from agorabench.report.tables import (
    SETTINGS,
    Entry,
    Note,
    Setting,
    collect_notes,
    generator_names,
    point_entry,
    setting_label,
)
from agorabench.results import ScalingPoint


@dataclass(frozen=True)
class ScalingCurve:
    generator: str
    setting: Setting
    student: str | None  # set only when the run has several students
    points: tuple[tuple[ScalingPoint, Entry], ...]  # smallest first

    @property
    def label(self) -> str:
        label = f"{self.generator} · {setting_label(self.setting)}"
        return f"{label} · {self.student}" if self.student else label

    def at(self, instances: int) -> Entry | None:
        for point, entry in self.points:
            if point.instances == instances:
                return entry
        return None

    @property
    def cost_usd(self) -> float:
        """What the largest point (the whole dataset) cost."""
        return self.points[-1][0].cost_usd if self.points else 0.0

    def defined(self) -> list[tuple[ScalingPoint, Entry]]:
        return [(p, e) for p, e in self.points if e.status == "ok" and e.value is not None]

    def per_dollar(self) -> list[tuple[float, float, tuple[float, float] | None]]:
        """(cost, PGR per dollar, its CI) of the defined points that cost something."""
        out = []
        for point, entry in self.defined():
            if point.cost_usd > 0:
                ci = (entry.ci[0] / point.cost_usd, entry.ci[1] / point.cost_usd) if entry.ci else None
                out.append((point.cost_usd, entry.value / point.cost_usd, ci))
        return out


@dataclass(frozen=True)
class ScalingView:
    sizes: list[int]  # the table's columns: every size a curve has, smallest first
    curves: list[ScalingCurve]
    several_students: bool
    generators: list[str] = field(default_factory=list)  # every generator of the run, in order (fixes colours)
    notes: list[Note] = field(default_factory=list)
    note_of: dict[object, int] = field(default_factory=dict)  # (curve index, instances) -> note number

    @property
    def skipped(self) -> list[str]:
        """The points without a defined PGR, which the figures leave out: 'g · IG math at 1,000 (n/a: ...)'."""
        out = []
        for curve in self.curves:
            for point, entry in curve.points:
                if entry.status != "ok" or entry.value is None:
                    why = {"undefined": "n/a", "failed": "failed", "pending": "pending"}[entry.status]
                    out.append(f"{curve.label} at {point.instances:,} ({why})")
        return out

    @property
    def free(self) -> bool:
        """Every point cost nothing (local generators): PGR per dollar is defined nowhere."""
        return all(p.cost_usd <= 0 for c in self.curves for p, _ in c.points)

    @property
    def unpriced(self) -> list[str]:
        """Curves with a defined PGR but no cost, left out of the per-dollar figure."""
        return [c.label for c in self.curves if c.defined() and not c.per_dollar()]


def scaling_view(views: Sequence[StudentView]) -> ScalingView | None:
    """The curves of every student's cells, or None when no cell has two or more points (nothing to draw)."""
    several = len(views) > 1
    curves = []
    for view in views:
        results = view.results
        order = {name: i for i, name in enumerate(generator_names(results))}
        cells = sorted(
            (c for c in results.cells if c.scaling),
            key=lambda c: (order.get(c.generator, len(order)), SETTINGS.index((c.method, c.domain))),
        )
        for cell in cells:
            points = tuple((p, point_entry(p)) for p in sorted(cell.scaling, key=lambda p: p.instances))
            curves.append(ScalingCurve(cell.generator, (cell.method, cell.domain), view.label if several else None,
                                       points))
    if not any(len(c.points) >= 2 for c in curves):
        return None
    sizes = sorted({p.instances for c in curves for p, _ in c.points})
    notes, note_of = collect_notes(
        ((i, p.instances), e, f"{c.label} at {p.instances:,}") for i, c in enumerate(curves) for p, e in c.points
    )
    generators = generator_names(views[0].results) if views else []
    return ScalingView(sizes, curves, several, generators, notes, note_of)
