"""What does a point of PGR cost? Per-generator cost-effectiveness and the cost-PGR frontier.

Costs are compared per dataset (a generator's mean cost over its rows), not as totals, so a generator
with a failed cell is not made to look cheaper; when every generator covers the same settings the two
orderings agree.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from agorabench.analysis.table import Row, Table


def cost_effectiveness(table: Table) -> dict[str, Any]:
    by_generator: dict[str, list[Row]] = defaultdict(list)
    for row in table.rows:
        by_generator[row.generator].append(row)
    generators = [_generator_summary(name, by_generator[name]) for name in table.generators()]
    priced = [g for g in generators if g["cost_per_dataset_usd"] is not None]
    return {
        "generators": generators,
        "frontier": frontier([(g["generator"], g["cost_per_dataset_usd"], g["mean_pgr"]) for g in priced]),
        "frontier_cost": "cost_per_dataset_usd",
        "unpriced": [g["generator"] for g in generators if g["cost_per_dataset_usd"] is None],
    }


def _generator_summary(name: str, rows: list[Row]) -> dict[str, Any]:
    mean_pgr = float(np.mean([r.pgr for r in rows]))
    costs = [r.cost_usd for r in rows if r.cost_usd is not None]
    sizes = [r.instances for r in rows if r.instances is not None]
    out: dict[str, Any] = {
        "generator": name,
        "rows": len(rows),
        "mean_pgr": mean_pgr,
        "total_cost_usd": float(sum(costs)) if costs else None,
        "cost_per_dataset_usd": float(np.mean(costs)) if costs else None,
        "priced_rows": len(costs),
        "pgr_per_dollar": None,
        "pgr_per_dollar_reason": None,
        "instances_per_dataset": float(np.mean(sizes)) if sizes else None,
        "pgr_per_1k_instances": None,
        "pgr_per_1k_instances_reason": None,
    }
    # Mean PGR of a dataset over the mean dollars one dataset cost: PGR points bought per dollar.
    if not costs:
        out["pgr_per_dollar_reason"] = "no cost data"
    elif out["cost_per_dataset_usd"] == 0:
        out["pgr_per_dollar_reason"] = "no cost"
    else:
        out["pgr_per_dollar"] = mean_pgr / out["cost_per_dataset_usd"]
    if not sizes:
        out["pgr_per_1k_instances_reason"] = "no instance counts"
    elif out["instances_per_dataset"] == 0:
        out["pgr_per_1k_instances_reason"] = "no instances"
    else:
        out["pgr_per_1k_instances"] = mean_pgr / (out["instances_per_dataset"] / 1000)
    return out


def frontier(points: list[tuple[str, float, float]]) -> list[str]:
    """Names of the (name, cost, pgr) points no other point dominates, sorted by cost (then PGR, best first).

    B dominates A when B costs no more and recovers no less, and is strictly better on one of the two.
    Equal points do not dominate each other, so both stay."""
    keep = [
        (cost, -pgr, name)
        for name, cost, pgr in points
        if not any(c <= cost and p >= pgr and (c < cost or p > pgr) for _, c, p in points)
    ]
    return [name for *_, name in sorted(keep)]
