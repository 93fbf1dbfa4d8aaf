"""The students' agreement on the ranking of the generators (`RunResults.agreement`), as one table per pair."""

from __future__ import annotations

from dataclasses import dataclass

from agorabench.report.tables import SETTINGS, setting_label
from agorabench.results import Agreement, RankAgreement
from agorabench.taxonomy import parse_setting

OVERALL_SCOPE = "overall"


@dataclass(frozen=True)
class AgreementRow:
    scope: str  # as the tables name it: 'RG math', 'Overall'
    agreement: RankAgreement

    @property
    def flips(self) -> list[str]:
        return [f"{a} / {b}" for a, b in self.agreement.flips]


@dataclass(frozen=True)
class AgreementPair:
    students: tuple[str, str]
    rows: list[AgreementRow]

    @property
    def title(self) -> str:
        return f"{self.students[0]} vs {self.students[1]}"


def _scope(scope: str) -> tuple[int, str]:
    """(sort key, label): the settings in table order, then anything else as recorded, then overall."""
    if scope.strip().lower() == OVERALL_SCOPE:
        return len(SETTINGS) + 1, "Overall"
    try:
        setting = parse_setting(scope)
    except ValueError:
        return len(SETTINGS), scope
    return SETTINGS.index(setting), setting_label(setting)


def agreement_pairs(agreement: Agreement | None) -> list[AgreementPair]:
    """One pair of students per table, in the order the run recorded them; each pair's scopes in table order."""
    if agreement is None:
        return []
    grouped: dict[tuple[str, str], list[RankAgreement]] = {}
    for pair in agreement.pairs:
        grouped.setdefault(tuple(pair.students), []).append(pair)
    out = []
    for students, pairs in grouped.items():
        keyed = sorted(((_scope(p.scope), i, p) for i, p in enumerate(pairs)), key=lambda t: (t[0][0], t[1]))
        out.append(AgreementPair(students, [AgreementRow(label, p) for (_, label), _, p in keyed]))
    return out
