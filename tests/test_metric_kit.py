"""The metric kit: outcomes -> Metric (value, n, CI, ties, baselines by the same rule, reference by rule),
metric keys with variants, and the hackable threshold at its boundary."""

from __future__ import annotations

import numpy as np
import pytest

from vlmaudit.benchmarks import Reference
from vlmaudit.metrics.baselines import HACKABLE_THRESHOLD, hackable, hackable_flags
from vlmaudit.metrics.bootstrap import bootstrap_ci, stratified_ci
from vlmaudit.metrics.kit import Kit
from vlmaudit.report.table import headline_rows
from vlmaudit.results import Metric, SuiteResult


def _ref(rule: str | None, group: str = "g", metric: str = "acc", value: float = 0.4) -> Reference:
    return Reference(group=group, metric=metric, value=value, model="M", match=("m",), source="paper",
                     rule=rule)


def test_hackable_threshold_is_inclusive_at_exactly_0_9():
    """Catches: a hackable test written `>` instead of `>=` (0.9 itself must flag), or one that flags
    just below the threshold."""
    assert HACKABLE_THRESHOLD == 0.9
    assert hackable({"length_shorter": 0.9}) == ["length_shorter"]
    assert hackable({"length_longer": float(np.nextafter(0.9, 0.0))}) == []
    assert hackable({"text_prior": 1.0}) == []  # only length scorers need no model at all


def test_hackable_flag_names_the_metric_by_its_key():
    """Catches: a hackable flag that drops the variant, so two variants of one metric read the same."""
    metric = Metric("pair", 0.1, 10, group="mmvp-vlm", variant="legacy", baselines={"length_shorter": 0.95})
    assert hackable_flags([metric]) == ["hackable: mmvp-vlm/pair@legacy blind length_shorter = 0.950 >= 0.9"]


def test_metric_value_ci_ties_and_baselines():
    """Catches: a kit whose value, n, tie rate or CI differ from the plain mean, the shared bootstrap
    and the tie mask, or whose blind outcomes are aggregated differently from the metric's own."""
    rng = np.random.default_rng(0)
    outcomes = (rng.random(120) < 0.7).astype(float)
    tied = rng.random(120) < 0.2
    blind = (rng.random(120) < 0.5).astype(float)
    clusters = [f"img{i // 3}" for i in range(120)]
    m = Kit(seed=4, n_boot=200).metric("acc", outcomes, group="g", chance=0.5, tied=tied, clusters=clusters,
                                       baselines={"length_shorter": blind, "bow_equivalent": 0.25})
    assert (m.value, m.n, m.chance, m.tie_rate) == (outcomes.mean(), 120, 0.5, tied.mean())
    assert (m.ci_low, m.ci_high) == bootstrap_ci(outcomes, np.asarray(clusters), n_boot=200, seed=4)
    assert m.baselines == {"length_shorter": blind.mean(), "bow_equivalent": 0.25}


def test_papers_denominator_moves_value_n_and_baselines_not_the_ci():
    """Catches: units of an incomplete What'sUp subset divided by their own count instead of the
    paper's N/2, a blind baseline divided by another denominator than the metric, or a missing note."""
    outcomes = np.array([1.0, 1.0, 0.0])
    m = Kit(n_boot=100).metric("pair", outcomes, group="whatsup/A", denominator=3.5,
                               baselines={"constant": np.array([1.0, 0.0, 0.0])})
    assert m.value == pytest.approx(2 / 3.5) and m.n == 4
    assert m.baselines["constant"] == pytest.approx(1 / 3.5)
    assert "paper divides by 3.5" in m.notes
    assert (m.ci_low, m.ci_high) == bootstrap_ci(outcomes, n_boot=100)
    complete = Kit(n_boot=100).metric("pair", outcomes, denominator=3.0)
    assert complete.value == pytest.approx(2 / 3) and complete.n == 3 and not complete.notes


def test_table_rows_are_clusters_of_equal_size():
    """Catches: an [images, transforms] table counted as images (n) or bootstrapped over trials."""
    table = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1], [1, 0, 0]], dtype=float)
    m = Kit(n_boot=100).metric("acc", table, tied=table == 0)
    assert m.n == 12 and m.value == pytest.approx(table.mean()) and m.tie_rate == pytest.approx(6 / 12)
    assert (m.ci_low, m.ci_high) == bootstrap_ci(table.mean(axis=1), n_boot=100)


def test_macro_metric_counts_ties_and_baselines_over_kept_groups():
    """Catches: a macro metric whose tie rate or blind baseline includes items of dropped groups, or
    whose CI is not the stratified one over the kept groups."""
    values = np.array([1, 0, 1, 1, 0, 1], dtype=float)
    groups = ["a", "a", "b", "b", "c", "c"]
    tied = np.array([1, 0, 0, 0, 1, 1], dtype=bool)
    blind = np.array([1, 1, 0, 0, 1, 1], dtype=float)
    m, result = Kit(n_boot=100).macro("macro", values, groups, exclude={"c"}, tied=tied,
                                      baselines={"length_shorter": blind})
    assert m.value == pytest.approx((0.5 + 1.0) / 2) and m.n == 4 and result.dropped == {"c": "excluded"}
    assert m.tie_rate == pytest.approx(1 / 4) and m.baselines["length_shorter"] == pytest.approx(0.5)
    assert (m.ci_low, m.ci_high) == stratified_ci(values, groups, ["a", "b"], n_boot=100)


def test_reference_attaches_only_to_the_papers_rule():
    """Catches: a published number shown beside a metric computed under another tie rule than the
    paper's (ARO's argmax-first 0.59 next to a strict number), or one that never attaches."""
    kit = Kit(references=(_ref("argmax-first"), _ref(None, metric="other")))
    outcomes = np.ones(4)
    assert kit.metric("acc", outcomes, group="g", rule="strict").reference is None
    legacy = kit.metric("acc", outcomes, group="g", variant="legacy", rule="argmax-first")
    assert legacy.reference["value"] == 0.4 and legacy.reference["rule"] == "argmax-first"
    assert kit.metric("other", outcomes, group="g", rule="strict").reference["value"] == 0.4  # any rule
    assert kit.metric("acc", outcomes, group="h", rule="argmax-first").reference is None
    assert kit.derived("acc", 0.3, n=4, group="g", rule="argmax-first").reference["value"] == 0.4


def test_variant_is_part_of_the_key_everywhere():
    """Catches: two tie-rule variants of one metric colliding in SuiteResult.metric, the headline or
    the summary table (the old `@legacy` name suffix became a field)."""
    kit = Kit(n_boot=10)
    main = kit.metric("pair", np.array([1.0, 0.0]), group="mmvp-vlm")
    legacy = kit.metric("pair", np.array([1.0, 1.0]), group="mmvp-vlm", variant="legacy")
    assert (main.key, legacy.key) == ("mmvp-vlm/pair", "mmvp-vlm/pair@legacy")
    result = SuiteResult("spatial", "m", "d", [main, legacy], {}, headline=["mmvp-vlm/pair@legacy"])
    assert result.metric("pair", "mmvp-vlm", "legacy") is legacy and result.metric("pair", "mmvp-vlm") is main
    assert result.headline_metrics() == [legacy]
    rows = headline_rows(result.to_json())
    assert [(r["metric"], r["value"]) for r in rows] == [("mmvp-vlm/pair@legacy", "1.000")]
    with pytest.raises(KeyError, match="mmvp-vlm/pair@argmax"):
        result.metric("pair", "mmvp-vlm", "argmax")
