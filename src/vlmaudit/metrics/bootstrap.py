"""Percentile bootstrap CIs, clustered when items share an image."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def bootstrap_ci(
    values: np.ndarray,
    clusters: np.ndarray | None = None,
    statistic: Callable[[np.ndarray], float] = np.mean,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """95% percentile CI of `statistic(values)`.

    With `clusters` (e.g. image ids), whole clusters are resampled, because trials that share an
    image are not independent and an item-level bootstrap would give a CI that is too narrow.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    alpha = (1.0 - level) / 2.0
    if clusters is None:
        idx = rng.integers(0, values.size, size=(n_boot, values.size))
        if statistic is np.mean:
            stats = values[idx].mean(axis=1)
        else:
            stats = np.array([statistic(values[row]) for row in idx])
    else:
        _, inverse = np.unique(np.asarray(clusters), return_inverse=True)
        members = [np.flatnonzero(inverse == c) for c in range(inverse.max() + 1)]
        stats = np.empty(n_boot)
        for b in range(n_boot):
            chosen = rng.integers(0, len(members), size=len(members))
            stats[b] = statistic(values[np.concatenate([members[c] for c in chosen])])
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(lo), float(hi)
