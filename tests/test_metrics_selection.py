"""Tie policies checked against hand-made score tables."""

import numpy as np
import pytest

from vlmaudit.metrics.bootstrap import bootstrap_ci
from vlmaudit.metrics.selection import pairwise, select, top_k

SCORES = np.array(
    [
        [0.9, 0.1, 0.2],  # gold 0 wins
        [0.5, 0.5, 0.1],  # gold 0 tied with option 1
        [0.1, 0.5, 0.5],  # gold 2 tied with option 1 (gold listed last)
        [0.1, 0.7, 0.2],  # gold 0 loses
    ],
    dtype=np.float32,
)
GOLD = np.array([0, 0, 2, 0])


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("strict", [1, 0, 0, 0]),
        ("lenient", [1, 1, 1, 0]),
        ("argmax-first", [1, 1, 0, 0]),
        ("half", [1, 0.5, 0.5, 0]),
    ],
)
def test_select_tie_policies(policy, expected):
    sel = select(SCORES, GOLD, policy)
    np.testing.assert_allclose(sel.correct, expected)
    assert sel.tie_rate == pytest.approx(0.5)


def test_random_policy_is_seeded_and_only_breaks_ties():
    a = select(SCORES, GOLD, "random", seed=3).correct
    b = select(SCORES, GOLD, "random", seed=3).correct
    np.testing.assert_array_equal(a, b)
    assert a[0] == 1 and a[3] == 0


def test_pairwise_matches_greater_than():
    pos = np.array([1.0, 2.0, 3.0])
    neg = np.array([0.0, 2.0, 4.0])
    np.testing.assert_array_equal(pairwise(pos, neg).correct, [1, 0, 0])
    np.testing.assert_array_equal(pairwise(pos, neg, "lenient").correct, [1, 1, 0])


def test_top_k_counts_ties_against_gold_when_strict():
    scores = np.array([[0.3, 0.3, 0.3, 0.9]], dtype=np.float32)
    assert top_k(scores, 0, 2, "strict").correct[0] == 0  # rank 3 (0.9 and two ties above)
    assert top_k(scores, 0, 2, "lenient").correct[0] == 1  # rank 1
    assert top_k(scores, 0, 2, "argmax-first").correct[0] == 1  # stable sort: [3, 0, ...]


def test_nan_scores_are_rejected():
    with pytest.raises(ValueError, match="NaN"):
        select(np.array([[np.nan, 1.0]]), 0)


def test_clustered_bootstrap_is_wider_than_item_bootstrap_for_duplicated_items():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2, size=50).astype(float)
    values = np.repeat(base, 10)  # each image contributes 10 identical trials
    clusters = np.repeat(np.arange(50), 10)
    lo_i, hi_i = bootstrap_ci(values)
    lo_c, hi_c = bootstrap_ci(values, clusters=clusters)
    assert (hi_c - lo_c) > 2 * (hi_i - lo_i)
    assert lo_c <= values.mean() <= hi_c
