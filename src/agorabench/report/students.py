"""A run's students, each with the run as it sees it: its own cells, base and reference.

With several students (`RunResults.students`) there is one cell per (student, generator, method, domain), so
every table keyed by (generator, method, domain) is computed once per student, on that student's view of the
run. Older results (no `students`) and one-student runs give one view: the run itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from agorabench.results import Cell, ModelScores, RunResults


@dataclass(frozen=True)
class StudentView:
    name: str | None  # None: results written before `students:` (the run's one student)
    base_model: str
    recipe: str
    training: str | None
    base: ModelScores
    reference: ModelScores
    results: RunResults  # the run with only this student's cells, and its base and reference at the top level
    listed: bool = True  # False: cells name a student that `students` does not list (shown, never dropped)

    @property
    def label(self) -> str:
        return self.name or self.base_model

    @property
    def description(self) -> str:
        """'Base model ...; recipe ...; base: ...; reference: ...': what the block heading says of the student."""
        parts = [
            f"Base model {self.base_model}",
            f"recipe {self.training or self.recipe}",
            f"base: {self.base.label} ({self.base.model})",
            f"reference: {self.reference.label} ({self.reference.model})",
        ]
        if not self.listed:
            parts.append("not listed in the run's students: base and reference shown are the run's first student's")
        return "; ".join(parts)


def _view(results: RunResults, cells: list[Cell], name: str | None, base_model: str, recipe: str,
          training: str | None, base: ModelScores, reference: ModelScores, listed: bool = True) -> StudentView:
    update = {"cells": cells, "student_base": base_model, "recipe": recipe, "training": training,
              "base": base, "reference": reference}
    return StudentView(name, base_model, recipe, training, base, reference, results.model_copy(update=update),
                       listed)


def student_views(results: RunResults) -> list[StudentView]:
    """One view per student, in the run's order. Cells without a student name belong to the first student
    (the top-level one); cells naming an unlisted student get a view of their own rather than being dropped."""
    names = [s.name for s in results.students]
    named = {c.student for c in results.cells if c.student is not None}
    if len(names) <= 1 and (named <= set(names) or (not names and len(named) <= 1)):
        name = names[0] if names else next(iter(named), None)
        return [_view(results, list(results.cells), name, results.student_base, results.recipe, results.training,
                      results.base, results.reference)]
    first = names[0] if names else None
    by_student: dict[str | None, list[Cell]] = {n: [] for n in names}
    for cell in results.cells:
        by_student.setdefault(cell.student if cell.student is not None else first, []).append(cell)
    views = [
        _view(results, by_student[s.name], s.name, s.base_model, s.recipe, s.training, s.base, s.reference)
        for s in results.students
    ]
    for name, cells in by_student.items():
        if name not in names:
            views.append(_view(results, cells, name, results.student_base, results.recipe, results.training,
                               results.base, results.reference, listed=name is None))
    return views
