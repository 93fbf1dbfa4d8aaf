"""Which properties of the data explain PGR? PCA over the intrinsic metrics and problem solving, then an
ordinary least-squares regression of PGR on the top-k principal-component scores.

Conventions (docs/analysis.md): columns are z-scored with the population standard deviation (ddof=0,
scikit-learn's StandardScaler); "loadings" are the unit eigenvectors (`PCA.components_`), not scaled by
the square root of the explained variance, as in the paper's analysis code.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from agorabench.analysis.table import Table


def design_matrix(table: Table) -> tuple[list[str], np.ndarray, np.ndarray, dict[str, str], int]:
    """The columns PCA uses, the row matrix, PGR, the columns left out (with why) and the rows left out.

    A column with no value at all is dropped first (e.g. no problem-solving scores were given), so that it
    does not empty the table; then rows with any missing value are dropped (PCA needs a full matrix); then
    constant columns: a z-score of a constant is 0/0, and it carries no information about PGR anyway."""
    names = [*table.metric_names, "problem_solving"]
    matrix = np.array(
        [[*(row.metrics[m] for m in table.metric_names), row.problem_solving] for row in table.rows],
        dtype=float,
    ).reshape(len(table.rows), len(names))
    pgr = np.array([row.pgr for row in table.rows], dtype=float)
    empty = ~np.any(np.isfinite(matrix), axis=0)
    dropped = {name: "no values" for name, e in zip(names, empty, strict=True) if e}
    names, matrix = [name for name, e in zip(names, empty, strict=True) if not e], matrix[:, ~empty]
    complete = np.all(np.isfinite(matrix), axis=1)
    matrix, pgr = matrix[complete], pgr[complete]
    if len(matrix):
        constant = np.ptp(matrix, axis=0) == 0
        dropped |= {name: "constant" for name, c in zip(names, constant, strict=True) if c}
        names, matrix = [name for name, c in zip(names, constant, strict=True) if not c], matrix[:, ~constant]
    return names, matrix, pgr, dropped, int((~complete).sum())


def pca(table: Table, k: int = 5) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pca section, regression section) of the result."""
    names, matrix, pgr, dropped, n_dropped = design_matrix(table)
    n = len(matrix)
    section: dict[str, Any] = {
        "columns": names,
        "n": n,
        "n_dropped_rows": n_dropped,
        "dropped_columns": dropped,
        "standardisation": "z-score, population standard deviation (ddof=0)",
        "components": [],
        "explained_variance_ratio": [],
        "cumulative_explained_variance_ratio": [],
        "loadings": {},
        "reason": None,
        "note": None if table.metric_names else "no intrinsic-metric columns: PCA over problem_solving alone",
    }
    regression: dict[str, Any] = {
        "k_requested": k,
        "k": 0,
        "n": n,
        "r2": None,
        "adjusted_r2": None,
        "f": None,
        "p": None,
        "df": None,
        "coefficients": {},
        "reason": None,
    }
    if n < 2 or not names:
        reason = f"n = {n} complete rows < 2" if n < 2 else "no non-constant columns"
        section["reason"] = regression["reason"] = reason
        return section, regression

    z = StandardScaler().fit_transform(matrix)  # ddof=0
    n_components = min(n, len(names))
    model = PCA(n_components=n_components, svd_solver="full").fit(z)
    scores = model.transform(z)
    section["components"] = [f"PC{i + 1}" for i in range(n_components)]
    section["explained_variance_ratio"] = model.explained_variance_ratio_.tolist()
    section["cumulative_explained_variance_ratio"] = np.cumsum(model.explained_variance_ratio_).tolist()
    # components_ is (component x column); a loading row per column reads as the heat map does.
    section["loadings"] = {name: model.components_[:, j].tolist() for j, name in enumerate(names)}
    return section, regress(scores, pgr, k)


def regress(scores: np.ndarray, y: np.ndarray, k: int) -> dict[str, Any]:
    """OLS of y on an intercept and the first k columns of `scores`: R^2, adjusted R^2 and the overall
    F-test (all slopes zero). k is capped at the components available and at n - 2, which keeps at least
    one residual degree of freedom."""
    n = len(y)
    used = max(0, min(k, scores.shape[1], n - 2))
    out: dict[str, Any] = {
        "k_requested": k,
        "k": used,
        "n": n,
        "r2": None,
        "adjusted_r2": None,
        "f": None,
        "p": None,
        "df": None,
        "coefficients": {},
        "reason": None,
    }
    if used < 1:
        out["reason"] = f"n = {n} rows leave no component to regress on (need n >= 3)"
        return out
    ss_total = float(np.sum((y - y.mean()) ** 2))
    if ss_total == 0:
        out["reason"] = "zero variance in pgr"
        return out
    design = np.column_stack([np.ones(n), scores[:, :used]])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    ss_resid = float(np.sum((y - design @ coef) ** 2))
    r2 = 1.0 - ss_resid / ss_total
    df_model, df_resid = used, n - used - 1
    # A perfect fit (R^2 = 1 up to rounding) has an infinite F and p = 0; the JSON gets null for F.
    f_stat = math.inf if ss_resid <= 1e-12 * ss_total else (r2 / df_model) / ((1 - r2) / df_resid)
    out.update(
        r2=r2,
        adjusted_r2=1.0 - (1.0 - r2) * (n - 1) / df_resid,
        f=f_stat,
        p=float(stats.f.sf(f_stat, df_model, df_resid)),
        df=[df_model, df_resid],
        coefficients={
            "intercept": float(coef[0]),
            **{f"PC{i + 1}": float(c) for i, c in enumerate(coef[1:])},
        },
    )
    return out
