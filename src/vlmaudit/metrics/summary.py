"""Turn per-item outcomes into a reported Metric (value, CI, chance, tie rate)."""

from __future__ import annotations

import numpy as np

from vlmaudit.metrics.bootstrap import bootstrap_ci
from vlmaudit.metrics.selection import Selection
from vlmaudit.results import Metric


def mean_metric(
    name: str,
    values: np.ndarray,
    *,
    group: str = "",
    chance: float | None = None,
    clusters: np.ndarray | None = None,
    tie_rate: float | None = None,
    seed: int = 0,
    n_boot: int = 1000,
    higher_is_better: bool = True,
    baselines: dict[str, float] | None = None,
    reference: dict | None = None,
    notes: str = "",
) -> Metric:
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError(f"metric {group}/{name} has no items")
    lo, hi = bootstrap_ci(values, clusters=clusters, seed=seed, n_boot=n_boot)
    return Metric(
        name=name,
        value=float(values.mean()),
        n=int(values.size),
        chance=chance,
        ci_low=lo,
        ci_high=hi,
        tie_rate=tie_rate,
        higher_is_better=higher_is_better,
        group=group,
        baselines=dict(baselines or {}),
        reference=reference,
        notes=notes,
    )


def selection_metric(name: str, selection: Selection, **kwargs) -> Metric:
    """Accuracy of a K-way selection, with its tie rate."""
    return mean_metric(name, selection.correct, tie_rate=selection.tie_rate, **kwargs)
