"""`SUITE.run` end to end with the bag-of-words ToyModel: generated scenes and the real SugarCrepe files."""

import json
from collections import Counter

import pytest

from test_readers_sugarcrepe import LIMIT, placeholder_images, shared_data_dir  # noqa: F401 (fixtures)
from vlmaudit.data.items import CaptionChoice
from vlmaudit.data.source import open_data
from vlmaudit.engine import Engine
from vlmaudit.suites.base import RunContext, build_config
from vlmaudit.suites.composition.bench import SCENE_BENCHMARKS
from vlmaudit.suites.composition.suite import SUITE

# Options with identical word multisets: a bag-of-words model ties on every item.
STRUCTURAL = ("relation_swap", "attribute_swap", "order", "sugarcrepe_swap_obj", "hard_positives_swap")


@pytest.fixture(scope="module")
def scenes():
    return open_data("scenes?n=30&seed=5")


def _run(model, data, **options):
    ctx = RunContext(model, Engine(model, cache_dir=None, progress=False), seed=0)
    return SUITE.run(ctx, data, build_config(SUITE.Config, {"n_boot": 100, **options}))[0]


def test_suite_contract():
    assert SUITE.name == "composition" and SUITE.default_data == ("scenes",)
    assert set(SUITE.accepts) == {CaptionChoice}


def test_generated_scenes_end_to_end_with_a_bag_of_words_model(toy_model, scenes):
    strict = _run(toy_model, scenes)
    groups = {m.group for m in strict.metrics}
    assert groups == {b.name for b in SCENE_BENCHMARKS.values()} | {"scenes/sugarcrepe_overall"}
    for name in STRUCTURAL:
        bench = SCENE_BENCHMARKS[name]
        metric = strict.metric(bench.main_score, bench.name)
        assert metric.tie_rate == 1.0 and metric.baselines["bow_equivalent"] == 1.0, name
        assert metric.value == 0.0, name  # strict: a tie is never a win
    for name in ("sugarcrepe_replace_att", "sugarcrepe_replace_obj", "sugarcrepe_add_obj"):
        assert strict.metric("accuracy", f"scenes/{name}").tie_rate == 0.0
    assert {"length_shorter", "length_longer", "text_prior", "bow_equivalent"} <= set(
        strict.metric("accuracy", "scenes/relation_swap").baselines)
    assert any(f.startswith("hackable: scenes/sugarcrepe_add_obj") for f in strict.flags)
    assert any(f.startswith("reconstructed:") for f in strict.flags)
    assert len(strict.samples["scenes/order"][0]["options"]) == 5
    assert {"scenes/order/precision@1", "scenes/hard_positives_swap/brittleness"} <= set(strict.headline)
    assert len(strict.headline_metrics()) == len(strict.headline) == 12 + 2 + 1

    legacy = _run(toy_model, scenes, tie_policy="argmax-first")
    # ARO's option orders: VG-R-like lists the false caption first (ties lose), Order the true one (ties win)
    assert legacy.metric("accuracy", "scenes/relation_swap").value == 0.0
    assert legacy.metric("precision@1", "scenes/order").value == 1.0


def test_runs_are_deterministic(toy_model, scenes):
    first = _run(toy_model, scenes, benchmarks="relation_swap,sugarcrepe_add_att")
    second = _run(toy_model, scenes, benchmarks="relation_swap,sugarcrepe_add_att")
    assert [m.group for m in first.metrics] == ["scenes/relation_swap"] * 2 + ["scenes/sugarcrepe_add_att"]
    assert [(m.value, m.ci_low, m.ci_high, m.baselines) for m in first.metrics] == [
        (m.value, m.ci_low, m.ci_high, m.baselines) for m in second.metrics
    ]


def _toy_bag(text):
    return Counter(text.lower().replace(".", " ").split())


def test_real_sugarcrepe_files_with_placeholder_images(toy_model, shared_data_dir, placeholder_images):  # noqa: F811
    data = open_data(f"sugarcrepe:{shared_data_dir}?images={placeholder_images}&limit={LIMIT}")
    result = _run(toy_model, data)
    for subset in ("swap_obj", "swap_att"):
        entries = list(json.loads((shared_data_dir / f"{subset}.json").read_text()).values())[:LIMIT]
        same_bag = sum(_toy_bag(e["caption"]) == _toy_bag(e["negative_caption"]) for e in entries) / LIMIT
        metric = result.metric("accuracy", f"sugarcrepe/{subset}")
        assert metric.tie_rate == pytest.approx(same_bag) and metric.tie_rate >= 0.3  # BoW ties
    for subset in ("replace_obj", "replace_att", "add_obj"):
        assert result.metric("accuracy", f"sugarcrepe/{subset}").tie_rate == 0.0
    overall = result.metric("accuracy", "sugarcrepe/overall")
    assert overall.n == 7 * LIMIT and overall.ci_low <= overall.value <= overall.ci_high
    hack = sorted(f.split()[1].rsplit("/", 1)[0] for f in result.flags if f.startswith("hackable"))
    assert hack == ["sugarcrepe/add_att", "sugarcrepe/add_obj"]
    assert result.metric("accuracy", "sugarcrepe/add_obj").baselines["length_shorter"] >= 0.9
