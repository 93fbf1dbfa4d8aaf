"""Do two students rank the generators the same way? Kendall's tau between their PGR rankings, with a CI.

For each pair of students and each setting, the generators with a defined domain PGR for both students are
ranked by each student's PGR; tau-b (scipy's `kendalltau`, which handles ties) compares the two rankings:
1 is the same order, -1 the reverse. "Overall" ranks the generators by their mean domain PGR over the settings
where every ranked generator has one for both students (the leaderboard's overall order, on common ground).

The CI is a percentile bootstrap over benchmark items: `pgr_domain_draws` gives each cell's domain PGR per
bootstrap round, and round r resamples the same item positions for every cell and student evaluated on the
same items (one stream per benchmark and seed), so round r's tau is the tau of one resampled benchmark. A
round where a ranked cell's draw is missing (a zero resampled gap) is left out. `flips` are the pairs of
generators the two students order differently on the point values (a tie on one side only counts too).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

OVERALL = "overall"
MIN_ROUNDS = 0.95  # a CI needs draws in at least this fraction of rounds


@dataclass(frozen=True)
class CellPgr:
    """One (student, setting, generator) domain PGR: its value (None: undefined) and bootstrap draws."""

    value: float | None
    draws: np.ndarray | None = None


@dataclass(frozen=True)
class TauResult:
    scope: str
    students: tuple[str, str]
    tau: float | None
    ci: tuple[float, float] | None = None
    generators: list[str] = field(default_factory=list)
    flips: list[tuple[str, str]] = field(default_factory=list)
    note: str | None = None


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Kendall's tau-b of two paired sequences (None when it is undefined: fewer than 2 items, or one side
    all tied)."""
    from scipy.stats import kendalltau

    if len(a) < 2:
        return None
    with warnings.catch_warnings():  # a constant input warns and returns NaN: undefined, said as None
        warnings.simplefilter("ignore")
        tau = kendalltau(a, b).statistic
    return None if tau is None or math.isnan(tau) else float(tau)


def flipped_pairs(names: Sequence[str], a: Sequence[float], b: Sequence[float]) -> list[tuple[str, str]]:
    """Pairs (x, y), x ahead of y by `a`, that `b` orders differently."""
    flips = []
    for i, j in itertools.combinations(range(len(names)), 2):
        first, second = (i, j) if a[i] >= a[j] else (j, i)
        if np.sign(a[first] - a[second]) != np.sign(b[first] - b[second]):
            flips.append((names[first], names[second]))
    return flips


def _tau_with_ci(
    scope: str,
    pair: tuple[str, str],
    names: list[str],
    left: list[CellPgr],
    right: list[CellPgr],
    level: float,
) -> TauResult:
    a = [c.value for c in left]
    b = [c.value for c in right]
    tau = kendall_tau(a, b)
    flips = flipped_pairs(names, a, b)
    if tau is None:
        note = "fewer than two generators ranked" if len(names) < 2 else "one student ties every generator"
        return TauResult(scope, pair, None, None, names, flips, note)
    draws = [c.draws for c in (*left, *right)]
    if any(d is None for d in draws) or len({len(d) for d in draws}) != 1:
        return TauResult(scope, pair, tau, None, names, flips, "no CI: a ranked cell has no bootstrap draws")
    stacked = np.stack(draws)  # (2 x generators, rounds)
    rounds = stacked.shape[1]
    valid = ~np.isnan(stacked).any(axis=0)
    n = len(names)
    taus = [kendall_tau(stacked[:n, r], stacked[n:, r]) for r in np.flatnonzero(valid)]
    taus = [t for t in taus if t is not None]
    if len(taus) < MIN_ROUNDS * rounds:
        note = f"no CI: tau was defined in {len(taus)} of {rounds} bootstrap rounds"
        return TauResult(scope, pair, tau, None, names, flips, note)
    tail = (1 - level) / 2
    low, high = np.quantile(taus, [tail, 1 - tail])
    return TauResult(scope, pair, tau, (float(low), float(high)), names, flips)


def rank_agreement(
    pgrs: Mapping[str, Mapping[tuple[str, str], CellPgr]],
    generators: Sequence[str],
    level: float = 0.95,
) -> list[TauResult]:
    """Kendall's tau for every pair of students, per setting (in the order first seen) and overall.

    `pgrs`: student -> (setting, generator) -> its domain PGR. `generators`: the run's order (ties and flips
    are listed in it)."""
    students = list(pgrs)
    settings = list(dict.fromkeys(s for cells in pgrs.values() for s, _ in cells))
    results: list[TauResult] = []
    for pair in itertools.combinations(students, 2):
        first, second = (pgrs[name] for name in pair)

        def defined(setting: str, generator: str, sides=(first, second)) -> bool:
            return all((cells.get((setting, generator)) or CellPgr(None)).value is not None for cells in sides)

        for setting in settings:
            names = [g for g in generators if defined(setting, g)]
            results.append(_tau_with_ci(setting, pair, names, [first[(setting, g)] for g in names],
                                        [second[(setting, g)] for g in names], level))
        # Overall: the settings where every generator that has any defined PGR has one for both students.
        ranked = [g for g in generators if any(defined(s, g) for s in settings)]
        common = [s for s in settings if all(defined(s, g) for g in ranked)]
        if not common:
            results.append(TauResult(OVERALL, pair, None, None, ranked, [],
                                     "no setting where every generator has a PGR for both students"))
            continue
        results.append(_tau_with_ci(OVERALL, pair, ranked, [_mean([first[(s, g)] for s in common]) for g in ranked],
                                    [_mean([second[(s, g)] for s in common]) for g in ranked], level))
    return results


def _mean(cells: list[CellPgr]) -> CellPgr:
    """The mean over settings of one generator's PGRs, draws averaged round by round."""
    value = float(np.mean([c.value for c in cells]))
    if any(c.draws is None for c in cells) or len({len(c.draws) for c in cells}) != 1:
        return CellPgr(value)
    return CellPgr(value, np.mean(np.stack([c.draws for c in cells]), axis=0))


__all__ = ["OVERALL", "CellPgr", "TauResult", "flipped_pairs", "kendall_tau", "rank_agreement"]
