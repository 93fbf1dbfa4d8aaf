"""Analysis of a run's results (or any table of them): which generator properties go with PGR.

`analyze(source, json_out)` loads the rows (analysis.table), correlates problem solving with PGR
(analysis.correlation), runs PCA and the regression of PGR on the components (analysis.pca), computes
cost-effectiveness (analysis.cost), and returns one strict-JSON-able dict; docs/analysis.md has its schema.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from agorabench.analysis.correlation import pearson, problem_solving_vs_pgr
from agorabench.analysis.cost import cost_effectiveness, frontier
from agorabench.analysis.pca import pca, regress
from agorabench.analysis.plots import figures, save_figures
from agorabench.analysis.sections import analysis_sections
from agorabench.analysis.table import Row, Table, load_csv, load_run, load_table, metrics_from_results
from agorabench.errors import AgorabenchError

SCHEMA_VERSION = 1

__all__ = [
    "Row",
    "Table",
    "analysis_sections",
    "analyze",
    "analyze_table",
    "cost_effectiveness",
    "figures",
    "frontier",
    "jsonable",
    "load_csv",
    "load_run",
    "load_table",
    "metrics_from_results",
    "pca",
    "pearson",
    "problem_solving_vs_pgr",
    "regress",
    "save_figures",
]


def analyze(
    source: Path,
    json_out: Path | None = None,
    k: int = 5,
    plots_dir: Path | None = None,
    metrics: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, Any]:
    """Analyse a run folder, a run's results.json or a CSV table; write the JSON to `json_out` and the
    figures (PNG) to `plots_dir` when given. Returns the result (valid strict JSON: no NaN or Infinity)."""
    result = analyze_table(load_table(Path(source), metrics), k)
    if plots_dir is not None:
        result["plots"] = {name: str(path) for name, path in save_figures(result, Path(plots_dir)).items()}
    if json_out is not None:
        json_out = Path(json_out)
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=1, allow_nan=False) + "\n")
    return result


def analyze_table(table: Table, k: int = 5) -> dict[str, Any]:
    """The analysis of an already-loaded table (see `analyze`)."""
    if k < 1:
        raise AgorabenchError(f"k (components in the regression) must be at least 1, got {k}")
    pca_section, regression = pca(table, k)
    result = {
        "schema_version": SCHEMA_VERSION,
        "source": {
            "path": table.source,
            "kind": table.kind,
            "rows": len(table.rows),
            "generators": table.generators(),
            "metrics": table.metric_names,
            "skipped": table.skipped,
            "ignored_columns": table.ignored_columns,
            "notes": table.notes,
        },
        "rows": [
            {
                "generator": r.generator,
                "method": r.method,
                "domain": r.domain,
                "pgr": r.pgr,
                "problem_solving": r.problem_solving,
                "cost_usd": r.cost_usd,
                "instances": r.instances,
                "metrics": r.metrics,
            }
            for r in table.rows
        ],
        "correlation": problem_solving_vs_pgr(table),
        "pca": pca_section,
        "regression": regression,
        "cost": cost_effectiveness(table),
    }
    return jsonable(result)


def jsonable(value: Any) -> Any:
    """Plain Python for strict JSON: numpy scalars and arrays unwrapped, NaN and +-Infinity to None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value
