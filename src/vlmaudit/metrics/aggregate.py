"""Aggregating per-item outcomes: micro, macro over a grouping key, mean over subsets.

Benchmarks differ in how they average, and that choice moves published numbers by points: ARO
VG-Relation is a macro mean over relations minus an exclusion list, VG-Attribution a macro mean
over attribute pairs seen at least 25 times, SugarCrepe's overall a micro mean, Hard-Positive
REPLACE a mean of two subset accuracies. Each rule is one function here, so suites name the rule
instead of re-deriving it. (All-correct-per-group units, What'sUp pairs/sets and Winoground groups,
live in `metrics.grouped`.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np


def micro(values: np.ndarray) -> float:
    """Mean over items (every item weighs the same)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("micro mean of no items")
    return float(values.mean())


@dataclass(frozen=True)
class Macro:
    """A macro mean and the per-group table it came from."""

    value: float
    per_group: dict[str, tuple[float, int]]  # kept group -> (mean, count)
    dropped: dict[str, str] = field(default_factory=dict)  # group -> why it is not in the mean

    @property
    def kept(self) -> list[str]:
        return list(self.per_group)


def _group_ids(groups: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Sorted group names and each item's index into them."""
    names, inverse = np.unique(np.asarray([str(g) for g in groups], dtype=str), return_inverse=True)
    return names.tolist(), inverse.reshape(-1)


def _group_sums(values: np.ndarray, groups: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    if values.shape != (len(groups),):
        raise ValueError(f"values {values.shape} and {len(groups)} groups differ in length")
    names, inverse = _group_ids(groups)
    return names, np.bincount(inverse, weights=values), np.bincount(inverse)


def macro(
    values: np.ndarray,
    groups: Sequence[str],
    *,
    min_count: int = 1,
    exclude: Iterable[str] = (),
) -> Macro:
    """Mean over groups of the per-group mean; groups with < min_count items or in `exclude` dropped.

    Groups are sorted so the per-group table (and any float summation order) is deterministic.
    """
    values = np.asarray(values, dtype=np.float64)
    names, sums, counts = _group_sums(values, groups)
    excluded = set(exclude)
    per_group: dict[str, tuple[float, int]] = {}
    dropped: dict[str, str] = {}
    for key, total, count in zip(names, sums, counts, strict=True):
        if key in excluded:
            dropped[key] = "excluded"
        elif count < min_count:
            dropped[key] = f"count {count} < {min_count}"
        else:
            per_group[key] = (float(total / count), int(count))
    if not per_group:
        raise ValueError(f"macro mean: no group left (min_count={min_count}, {len(dropped)} dropped)")
    value = float(np.mean([mean for mean, _ in per_group.values()]))
    return Macro(value, per_group, dropped)


def mean_over_subsets(values: Mapping[str, float], subsets: Sequence[str] | None = None) -> float:
    """Unweighted mean of subset scores (What'sUp Table 1, Hard-Positive REPLACE = mean(att, rel))."""
    chosen = list(values) if subsets is None else list(subsets)
    missing = [s for s in chosen if s not in values]
    if missing or not chosen:
        raise ValueError(f"mean over subsets: missing {missing or 'all'} (have {sorted(values)})")
    return float(np.mean([values[s] for s in chosen]))
