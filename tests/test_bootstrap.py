"""The bootstrap against scipy.stats.bootstrap, its coverage, and its draw stream.

scipy's percentile bootstrap is the reference: same statistic, independent resampling code, so the
two CIs agree within Monte-Carlo error (checked in units of the standard error). Coverage is
measured over repeated samples whose true mean is known.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from vlmaudit.metrics.bootstrap import bootstrap_ci, stratified_ci

N_BOOT = 4000


def _scipy_ci(data: tuple[np.ndarray, ...], statistic, paired: bool = False) -> tuple[float, float]:
    res = stats.bootstrap(data, statistic, n_resamples=N_BOOT, method="percentile", paired=paired,
                          vectorized=True, confidence_level=0.95, random_state=np.random.default_rng(7))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def test_item_ci_agrees_with_scipy_percentile():
    """Catches: a CI at the wrong level (a 50% or 99% interval), bounds from the wrong quantiles, or a
    resample of the wrong size: scipy's percentile bootstrap must agree within Monte-Carlo error."""
    x = np.random.default_rng(0).normal(2.0, 1.5, size=200)
    se = x.std(ddof=1) / np.sqrt(x.size)
    ours = bootstrap_ci(x, n_boot=N_BOOT, seed=3)
    ref = _scipy_ci((x,), lambda a, axis: a.mean(axis=axis))
    assert ours[0] == pytest.approx(ref[0], abs=0.2 * se) and ours[1] == pytest.approx(ref[1], abs=0.2 * se)
    assert (ours[1] - ours[0]) == pytest.approx(2 * 1.96 * se, rel=0.1)
    half = bootstrap_ci(x, n_boot=N_BOOT, seed=3, level=0.5)
    assert abs(half[0] - ref[0]) > 0.2 * se  # a 50% interval is told apart by the tolerance


def test_clustered_ci_agrees_with_scipy_on_cluster_totals():
    """Catches: a clustered bootstrap that resamples items instead of clusters, or weighs clusters
    equally regardless of size: it must equal scipy's paired bootstrap of (cluster sum, cluster size)."""
    rng = np.random.default_rng(2)
    sizes = rng.integers(1, 9, size=150)
    effect = rng.normal(0, 1, size=150)
    clusters = np.repeat(np.arange(150), sizes)
    values = np.repeat(effect, sizes) + rng.normal(0, 0.3, size=clusters.size)
    sums = np.bincount(clusters, weights=values)
    ours = bootstrap_ci(values, clusters=clusters, n_boot=N_BOOT, seed=5)
    ref = _scipy_ci((sums, sizes), lambda s, n, axis: s.sum(axis=axis) / n.sum(axis=axis), paired=True)
    se = (ref[1] - ref[0]) / (2 * 1.96)
    assert ours[0] == pytest.approx(ref[0], abs=0.2 * se) and ours[1] == pytest.approx(ref[1], abs=0.2 * se)
    item_level = bootstrap_ci(values, n_boot=N_BOOT, seed=5)
    assert item_level[1] - item_level[0] < 0.6 * (ours[1] - ours[0])  # ignoring clusters: far too narrow


def _coverage(draw, ci, truth: float, repeats: int = 300) -> float:
    rng = np.random.default_rng(11)
    hits = 0
    for r in range(repeats):
        lo, hi = ci(*draw(rng), r)
        hits += lo <= truth <= hi
    return hits / repeats


def test_item_ci_covers_the_true_mean_95_percent_of_the_time():
    """Catches: an interval that is too narrow or too wide in use (a 50% interval covers ~50%, an
    off-by-scale resample size shifts coverage), measured against the known mean of the population."""
    cov = _coverage(lambda rng: (rng.exponential(1.0, size=80),),
                    lambda x, r: bootstrap_ci(x, n_boot=500, seed=r), truth=1.0)
    assert 0.89 <= cov <= 0.99, cov


def test_clustered_ci_covers_when_items_share_clusters():
    """Catches: a clustered bootstrap that silently falls back to items: with a strong per-cluster
    effect the item-level CI covers far less than 95%, the clustered one close to 95%."""
    def draw(rng):
        effect = rng.normal(0, 1, size=40)
        clusters = np.repeat(np.arange(40), 8)
        return effect[clusters] + rng.normal(0, 0.5, size=clusters.size), clusters

    clustered = _coverage(draw, lambda v, c, r: bootstrap_ci(v, clusters=c, n_boot=500, seed=r), truth=0.0)
    items = _coverage(draw, lambda v, c, r: bootstrap_ci(v, n_boot=500, seed=r), truth=0.0)
    assert 0.89 <= clustered <= 0.99, clustered
    assert items < 0.75, items


def test_matrix_draws_are_the_stream_of_successive_draws():
    """Catches: a vectorised bootstrap whose index matrix differs from the former per-resample loop's
    draws (so every stored CI would move): one (n_boot, C) draw equals n_boot draws of C, for odd and
    even C, and drawing in blocks (the memory bound) keeps the stream too."""
    for units in (1, 7, 4001):
        matrix = np.random.default_rng(5).integers(0, units, size=(60, units))
        rng = np.random.default_rng(5)
        rows = np.stack([rng.integers(0, units, size=units) for _ in range(60)])
        rng = np.random.default_rng(5)
        blocks = np.concatenate([rng.integers(0, units, size=(7, units)) for _ in range(9)])[:60]
        np.testing.assert_array_equal(matrix, rows)
        np.testing.assert_array_equal(matrix, blocks)


def _loop_ci(values, clusters, n_boot, seed):
    """The per-resample loop the vectorised bootstrap replaced."""
    rng = np.random.default_rng(seed)
    _, inverse = np.unique(clusters, return_inverse=True)
    members = [np.flatnonzero(inverse == c) for c in range(inverse.max() + 1)]
    out = np.empty(n_boot)
    for b in range(n_boot):
        chosen = rng.integers(0, len(members), size=len(members))
        out[b] = np.mean(values[np.concatenate([members[c] for c in chosen])])
    return tuple(float(q) for q in np.quantile(out, [0.025, 0.975]))


def test_vectorised_clustered_ci_equals_the_loop_bit_for_bit_on_binary_outcomes(monkeypatch):
    """Catches: a vectorised bootstrap that draws, orders clusters or sums differently from the loop:
    on 0/1 outcomes (every golden CI) both are exact, so they must agree to the last bit, also when
    the index matrix is drawn in several blocks."""
    rng = np.random.default_rng(3)
    clusters = rng.integers(0, 97, size=500).astype(str)
    values = (rng.random(500) < 0.4).astype(float)
    assert bootstrap_ci(values, clusters, n_boot=300, seed=9) == _loop_ci(values, clusters, 300, 9)
    monkeypatch.setattr("vlmaudit.metrics.bootstrap.CHUNK", 1000)  # 10 resamples per block
    assert bootstrap_ci(values, clusters, n_boot=300, seed=9) == _loop_ci(values, clusters, 300, 9)


def test_rows_of_a_table_are_equal_clusters():
    """Catches: a [C, m] table bootstrapped over trials instead of rows (images)."""
    rng = np.random.default_rng(4)
    table = (rng.random((60, 5)) < 0.5).astype(float)
    keys = np.repeat(np.arange(60), 5)
    rows = bootstrap_ci(table, n_boot=400, seed=1)
    assert rows == bootstrap_ci(table.mean(axis=1), n_boot=400, seed=1)
    assert rows == pytest.approx(bootstrap_ci(table.ravel(), clusters=keys, n_boot=400, seed=1), abs=1e-12)


def test_stratified_ci_keeps_strata_fixed_and_matches_scipy_per_stratum():
    """Catches: a macro-mean CI that resamples across strata (a rare group could vanish from a
    resample) or averages strata by size: it must match scipy's bootstrap of the mean of stratum means."""
    rng = np.random.default_rng(6)
    sizes = {"a": 200, "b": 40, "c": 15}
    values = np.concatenate([rng.normal(mu, 1, n) for mu, n in zip((0, 2, 5), sizes.values(), strict=True)])
    strata = [s for s, n in sizes.items() for _ in range(n)]
    ours = stratified_ci(values, strata, list(sizes), n_boot=N_BOOT, seed=2)
    parts = [values[np.asarray(strata) == s] for s in sizes]
    ses = [p.std(ddof=1) / np.sqrt(p.size) for p in parts]
    se = np.sqrt(sum(s**2 for s in ses)) / 3
    centre = np.mean([p.mean() for p in parts])
    assert ours[0] == pytest.approx(centre - 1.96 * se, abs=0.25 * se)
    assert ours[1] == pytest.approx(centre + 1.96 * se, abs=0.25 * se)
    assert stratified_ci(np.ones(len(strata)), strata, list(sizes)) == (1.0, 1.0)
