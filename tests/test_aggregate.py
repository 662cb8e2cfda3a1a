"""Aggregators against plain-Python recomputations."""

import numpy as np
import pytest

from vlmaudit.metrics.aggregate import macro, mean_over_subsets, micro
from vlmaudit.metrics.bootstrap import stratified_ci
from vlmaudit.metrics.kit import Kit

VALUES = np.array([1, 0, 1, 1, 0, 0, 1, 0.5, 1, 1], dtype=float)
GROUPS = ["on", "on", "on", "near", "near", "by", "in", "in", "in", "in"]


def _by_hand(values, groups, min_count=1, exclude=()):
    table = {}
    for value, group in zip(values, groups, strict=True):
        table.setdefault(group, []).append(value)
    kept = {g: sum(v) / len(v) for g, v in table.items() if g not in exclude and len(v) >= min_count}
    return sum(kept.values()) / len(kept), kept


def test_micro_is_item_mean():
    assert micro(VALUES) == pytest.approx(VALUES.sum() / VALUES.size)
    with pytest.raises(ValueError):
        micro(np.array([]))


@pytest.mark.parametrize(("min_count", "exclude"), [(1, ()), (2, ()), (1, ("near",)), (3, ("in",))])
def test_macro_matches_hand_computation(min_count, exclude):
    expected, kept = _by_hand(VALUES, GROUPS, min_count, exclude)
    result = macro(VALUES, GROUPS, min_count=min_count, exclude=exclude)
    assert result.value == pytest.approx(expected)
    assert set(result.per_group) == set(kept)
    assert {g: m for g, (m, _) in result.per_group.items()} == pytest.approx(kept)
    assert set(result.dropped) == set(GROUPS) - set(kept)
    assert all(result.dropped[g] == "excluded" for g in exclude)


def test_macro_differs_from_micro_and_reports_counts():
    result = macro(VALUES, GROUPS)
    assert result.per_group["in"] == (pytest.approx(3.5 / 4), 4)
    assert result.value != pytest.approx(micro(VALUES))


def test_macro_with_nothing_left_raises():
    with pytest.raises(ValueError, match="no group left"):
        macro(VALUES, GROUPS, min_count=25)
    with pytest.raises(ValueError, match="differ in length"):
        macro(VALUES, GROUPS[:-1])


def test_macro_ci_is_stratified_deterministic_and_brackets_value():
    rng = np.random.default_rng(0)
    values = (rng.random(300) < 0.6).astype(float)
    groups = [f"g{i % 7}" for i in range(300)]
    result = macro(values, groups)
    lo, hi = stratified_ci(values, groups, result.kept, seed=3)
    assert (lo, hi) == stratified_ci(values, groups, result.kept, seed=3)
    assert lo < result.value < hi
    constant = np.ones(300)
    assert stratified_ci(constant, groups, result.kept) == (1.0, 1.0)  # no spread inside any group


def test_macro_metric_counts_only_kept_items():
    metric, result = Kit().macro("macro_accuracy", VALUES, GROUPS, exclude=("in",), chance=0.5, group="x")
    assert metric.n == 6 and metric.chance == 0.5 and metric.group == "x"
    assert metric.value == pytest.approx(result.value)
    assert metric.ci_low <= metric.value <= metric.ci_high


def test_mean_over_subsets():
    assert mean_over_subsets({"att": 0.6, "rel": 0.4, "obj": 0.9}, ["att", "rel"]) == pytest.approx(0.5)
    assert mean_over_subsets({"a": 1.0, "b": 0.0}) == 0.5
    with pytest.raises(ValueError, match="missing"):
        mean_over_subsets({"att": 0.6}, ["att", "rel"])
