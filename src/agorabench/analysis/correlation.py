"""Is a better problem solver a better data generator? Pearson correlation of problem solving with PGR.

Two grains, as in the paper: coarse (one point per generator, its mean problem-solving score against its
mean PGR) and fine (one point per dataset row).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np
from scipy import stats

from agorabench.analysis.table import Table


def pearson(x: list[float] | np.ndarray, y: list[float] | np.ndarray) -> dict[str, Any]:
    """r, R^2 = r^2, two-sided p and n over the pairs where both values are finite, plus the least-squares
    line (for plots). Undefined cases (n < 3, a constant variable) give nulls and a `reason`, never NaN."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = len(x)
    out: dict[str, Any] = {
        "r": None,
        "r2": None,
        "p": None,
        "n": n,
        "slope": None,
        "intercept": None,
        "reason": None,
    }
    if n < 3:
        # n = 2 gives r = +-1 with p = 1: a number with no meaning.
        out["reason"] = f"n = {n} < 3"
        return out
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        out["reason"] = "zero variance in " + ("problem_solving" if np.ptp(x) == 0 else "pgr")
        return out
    result = stats.pearsonr(x, y)
    r = float(result.statistic)
    slope, intercept = np.polyfit(x, y, 1)
    out.update(r=r, r2=r * r, p=float(result.pvalue), slope=float(slope), intercept=float(intercept))
    return out


def generator_means(table: Table) -> list[dict[str, Any]]:
    """Per generator: mean PGR over its rows, and mean problem solving over its domains.

    Problem solving is a per-(generator, domain) score repeated on each method's row, so it is averaged per
    domain first: a domain with a failed cell then does not weigh less than the others."""
    pgrs: dict[str, list[float]] = defaultdict(list)
    solving: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in table.rows:
        pgrs[row.generator].append(row.pgr)
        if math.isfinite(row.problem_solving):
            solving[row.generator][row.domain].append(row.problem_solving)
    points = []
    for generator in table.generators():
        domains = solving.get(generator, {})
        per_domain = [float(np.mean(values)) for values in domains.values()]
        points.append(
            {
                "generator": generator,
                "problem_solving": float(np.mean(per_domain)) if per_domain else None,
                "pgr": float(np.mean(pgrs[generator])),
                "rows": len(pgrs[generator]),
            }
        )
    return points


def problem_solving_vs_pgr(table: Table) -> dict[str, Any]:
    points = generator_means(table)
    coarse = pearson(
        [math.nan if p["problem_solving"] is None else p["problem_solving"] for p in points],
        [p["pgr"] for p in points],
    )
    coarse["points"] = points
    fine = pearson([row.problem_solving for row in table.rows], [row.pgr for row in table.rows])
    fine["missing_problem_solving"] = sum(not math.isfinite(row.problem_solving) for row in table.rows)
    return {"coarse": coarse, "fine": fine}
