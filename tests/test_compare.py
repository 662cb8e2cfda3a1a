"""`vlmaudit compare`: paired bootstrap CIs of differences between runs, on the items they share."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fake_suite
from vlmaudit.errors import DataError
from vlmaudit.registry import DATASETS, MODEL_BACKENDS, SUITES
from vlmaudit.report.compare import (
    compare,
    item_outcomes,
    paired_difference,
    sides_of,
    unpaired_difference,
)
from vlmaudit.runner import run


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    """One run, two toy models on the composition suite: the same items, different scores."""
    MODEL_BACKENDS.register("toy", "toy:load")
    SUITES.register("fake", "fake_suite:SUITE")
    DATASETS.register("fake", "fake_suite:open_source")
    fake_suite.CALLS.clear()
    out = tmp_path_factory.mktemp("compare") / "run"
    run(["toy:16", "toy:32"], ["composition"], ["scenes?n=20"], out=out, cache_dir=None, progress=False,
        options={"composition": {"n_boot": 20}})
    return out


def _brute_force(d: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    stats = [d[rng.integers(0, d.size, d.size)].mean() for _ in range(n_boot)]
    lo, hi = np.quantile(stats, [0.025, 0.975])
    return float(lo), float(hi)


def test_same_run_twice_differs_by_exactly_zero(two_models):
    """Catches a comparison that does not match items (any mismatch gives a nonzero difference) or
    resamples the two sides independently (the CI of x - x would not be [0, 0])."""
    sides = sides_of([two_models / "toy-16", two_models / "toy-16"])
    diffs = compare(sides, n_boot=200)
    paired = [d for d in diffs if d.paired]
    assert paired and all(d.diffs[1] == 0.0 and d.ci[1] == (0.0, 0.0) for d in paired)
    assert [s.label for s in sides] == ["toy-16#1", "toy-16#2"]


def test_two_models_paired_ci_is_the_brute_force_one(two_models):
    """Catches a paired CI drawn on other items than the difference (or of another statistic): each
    paired interval must equal a loop over bootstrap draws of the per-item differences."""
    sides = sides_of([two_models])
    assert [s.label for s in sides] == ["run:toy:16", "run:toy:32"]
    diffs = compare(sides, n_boot=300, seed=3)
    paired = [d for d in diffs if d.paired]
    assert len(paired) >= 10
    moved = 0
    for d in paired:
        table = d.metric.rsplit("/", 1)[0]
        name = d.metric.rsplit("/", 1)[1]
        cols = []
        for model in ("toy-16", "toy-32"):
            unit = two_models / model / "composition" / "scenes-n=20"
            lines = (unit / json.loads((unit / "results.json").read_text())["samples"][table]).read_text()
            cols.append(np.array([json.loads(line)[name] for line in lines.splitlines()], dtype=np.float64))
        diff = cols[1] - cols[0]
        assert d.diffs[1] == pytest.approx(diff.mean(), abs=1e-12)
        assert d.ci[1] == pytest.approx(_brute_force(diff, 300, 3), abs=1e-12)
        moved += diff.any()
    assert moved  # the two models really differ somewhere


def test_paired_ci_is_narrower_on_positively_correlated_outcomes():
    """Catches a 'paired' CI that ignores the pairing: two models right and wrong on mostly the
    same items have a far narrower paired interval than independent resamples give."""
    rng = np.random.default_rng(0)
    a = (rng.random(400) < 0.6).astype(float)
    b = a.copy()
    flip = rng.choice(400, 30, replace=False)
    b[flip] = 1 - b[flip]
    d, (lo, hi) = paired_difference(a, b, n_boot=2000)
    u, (ulo, uhi) = unpaired_difference(a, b, n_boot=2000)
    assert d == pytest.approx(u)
    assert (hi - lo) < 0.5 * (uhi - ulo)
    assert lo <= d <= hi and ulo <= u <= uhi


def test_clustered_paired_ci_resamples_whole_images():
    """Catches clustering ignored: with trials of one image perfectly dependent, the clustered CI
    must be wider than the item-level one (the item bootstrap counts each trial as independent)."""
    rng = np.random.default_rng(1)
    per_image = rng.normal(size=40)
    d = np.repeat(per_image, 10)
    clusters = np.repeat(np.arange(40), 10)
    _, (lo, hi) = paired_difference(np.zeros_like(d), d, clusters, n_boot=1000)
    _, (ilo, ihi) = paired_difference(np.zeros_like(d), d, None, n_boot=1000)
    assert (hi - lo) > 2 * (ihi - ilo)


def test_metric_without_per_item_outcomes_is_flagged_unpaired(two_models):
    """Catches a metric compared as if paired when no per-item field reproduces it (a macro mean)."""
    diffs = compare(sides_of([two_models]), n_boot=50)
    overall = next(d for d in diffs if d.metric == "scenes/sugarcrepe_overall/accuracy")
    assert not overall.paired and overall.ci[1] is None and overall.flags[0].startswith("unpaired")
    assert overall.diffs[1] == pytest.approx(overall.values[1] - overall.values[0])


def test_item_outcomes_refuses_a_field_that_does_not_reproduce_the_value():
    """Catches a guessed per-item field paired although its mean is not the stored metric."""
    rows = [{"accuracy": 1.0}, {"accuracy": 0.0}]
    metric = {"group": "t", "name": "accuracy", "value": 0.5, "n": 2, "variant": ""}
    assert item_outcomes(metric, {"t": rows}) == ("t", "accuracy")
    assert item_outcomes(metric | {"value": 0.75}, {"t": rows}) is None
    assert item_outcomes(metric | {"variant": "legacy"}, {"t": rows}) is None


def test_compare_command_prints_and_writes_html(two_models, tmp_path):
    """Catches the CLI losing a side, printing no table, or an HTML output with a network reference."""
    from click.testing import CliRunner

    from vlmaudit.cli import cli

    out = tmp_path / "compare.html"
    result = CliRunner().invoke(cli, ["compare", str(two_models), "-o", str(out), "--n-boot", "50"])
    assert result.exit_code == 0, result.output
    assert "run:toy:32" in result.output and "paired" in result.output
    text = out.read_text()
    assert "scenes/relation_swap/accuracy" in text and "https://" not in text and "http://" not in text


def test_one_side_is_refused(two_models):
    """Catches a compare of a single side that silently prints nothing."""
    with pytest.raises(DataError, match="two or more"):
        sides_of([two_models / "toy-16"])


def test_pairing_reads_the_metric_s_own_table_never_a_look_alike():
    """Catches pairing a metric with another benchmark's outcomes that happen to have the same n and
    mean (the first guess matched `accuracy` in whichever table came first, so two sides could pair
    different items, or both the wrong ones)."""
    from vlmaudit.report.compare import item_outcomes

    samples = {"scenes/a": [{"accuracy": 0.0}, {"accuracy": 1.0}],
               "scenes/b": [{"accuracy": 1.0}, {"accuracy": 0.0}]}
    metric = {"group": "scenes/b", "name": "accuracy", "value": 0.5, "n": 2}
    assert item_outcomes(metric, samples) == ("scenes/b", "accuracy")
    assert item_outcomes({**metric, "group": "scenes/c"}, samples) is None  # the bare name alone never pairs
    trials = {"trials": [{"exp1": 1.0, "accuracy": 0.0}, {"exp1": 0.0, "accuracy": 1.0}]}
    exp1 = {"group": "exp1", "name": "accuracy", "value": 0.5, "n": 2}
    assert item_outcomes(exp1, trials) == ("trials", "exp1")
