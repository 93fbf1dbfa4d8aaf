"""Confidence intervals for benchmark scores: a seeded percentile bootstrap over items."""

from __future__ import annotations

import numpy as np


def bootstrap_mean_ci(
    values: list[float], rounds: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """(low, high) of the mean of `values`, resampling items with replacement."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(rounds, data.size))].mean(axis=1)
    tail = (1 - level) / 2
    return (float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail)))
