"""Percentile bootstrap CIs of a mean: item-level, clustered, or stratified (for macro means).

One draw path for every caller. A resample is a matrix of indices drawn at once from
`default_rng(seed)` (numpy's bounded integers keep their stream whether drawn as one matrix or
row by row, so these CIs equal those of the former per-resample loop), and the statistic of each
row is a gather plus a row sum, so 20k items in 4k clusters take a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CHUNK = 1 << 22  # index-matrix entries per block: bounds memory, leaves the draw stream unchanged


def _percentile(stats: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def _resampled_means(sums: np.ndarray, sizes: np.ndarray, n_boot: int,
                     rng: np.random.Generator) -> np.ndarray:
    """[n_boot] ratio sum(sums[draw]) / sum(sizes[draw]) over draws of len(sums) units with replacement."""
    units = sums.size
    stats = np.empty(n_boot)
    step = max(1, CHUNK // units)
    for start in range(0, n_boot, step):
        idx = rng.integers(0, units, size=(min(step, n_boot - start), units))
        stats[start : start + idx.shape[0]] = sums[idx].sum(axis=1) / sizes[idx].sum(axis=1)
    return stats


def bootstrap_ci(
    values: np.ndarray,
    clusters: np.ndarray | Sequence | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile CI of the mean of `values`.

    values: [N] items, or [C, m] (each row one cluster of m trials: an image under every
    transform). With `clusters` ([N] keys, e.g. image ids) whole clusters are resampled, because
    trials that share an image are not independent and an item-level bootstrap would give a CI
    that is too narrow; a resample's mean is then its items' sum over its items' count.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    if values.ndim == 2:  # equal-size clusters: the mean of a resample is the mean of its row means
        if clusters is not None:
            raise ValueError("clusters are the rows of a 2-D value table; pass one or the other")
        values = values.mean(axis=1)
    if clusters is None:
        sums, sizes = values, np.ones(values.size, dtype=np.int64)
    else:
        keys = np.asarray(clusters)
        if keys.shape != values.shape:
            raise ValueError(f"clusters {keys.shape} and values {values.shape} differ in shape")
        _, inverse = np.unique(keys, return_inverse=True)
        inverse = inverse.reshape(-1)
        sums, sizes = np.bincount(inverse, weights=values), np.bincount(inverse)
    return _percentile(_resampled_means(sums, sizes, n_boot, rng), level)


def stratified_ci(
    values: np.ndarray,
    strata: Sequence[str],
    kept: Sequence[str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile CI of a macro mean over `kept` strata, resampling items within each stratum.

    Stratifying keeps the set of groups fixed, so a resample never silently drops a rare group
    or changes what the macro mean averages over. Strata are drawn in the order of `kept`.
    """
    values = np.asarray(values, dtype=np.float64)
    labels = np.asarray([str(s) for s in strata], dtype=str)
    if labels.shape != values.shape:
        raise ValueError(f"strata {labels.shape} and values {values.shape} differ in shape")
    rng = np.random.default_rng(seed)
    totals = np.zeros(n_boot)
    for key in kept:
        members = values[labels == key]
        if members.size == 0:
            raise ValueError(f"stratum {key!r} has no items")
        totals += _resampled_means(members, np.ones(members.size, dtype=np.int64), n_boot, rng)
    return _percentile(totals / len(kept), level)
