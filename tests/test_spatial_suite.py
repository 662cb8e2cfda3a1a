"""The spatial suite end to end: generated benchmarks and the released formats, with the ToyModel."""

import json
import random

import pytest
from PIL import Image

from toy import ToyModel
from vlmaudit.data.items import ImagePair, SpatialChoice, WinogroundGroup
from vlmaudit.data.scenes import OPPOSITE_RELATION, SceneConfig, describe
from vlmaudit.data.scenes.benchmarks import spatial as spatial_scenes
from vlmaudit.data.scenes.pairs import opposite_pair
from vlmaudit.data.source import open_data
from vlmaudit.engine.core import Engine
from vlmaudit.errors import DataError
from vlmaudit.registry import SUITES
from vlmaudit.results import metric_key
from vlmaudit.suites.base import RunContext, build_config

SMALL = {"n_sets": 4, "n_groups": 6, "n_pairs": 6, "n_prior": 8, "n_boot": 50}


def _run(data, **overrides):
    suite = SUITES.get("spatial")
    model = ToyModel()
    ctx = RunContext(model, Engine(model, cache_dir=None, progress=False), seed=0)
    (result,) = suite.run(ctx, open_data(data), build_config(suite.Config, {**SMALL, **overrides}))
    return result, {m.key: m for m in result.metrics}


def test_suite_declares_defaults_and_kinds():
    suite = SUITES.get("spatial")
    assert suite.default_data == ("scenes",)
    assert set(suite.accepts) == {SpatialChoice, WinogroundGroup, ImagePair}


def test_generated_benchmarks_end_to_end():
    result, metrics = _run("scenes?n=12&seed=5")
    assert [m.group + "/" + m.name for m in result.headline_metrics()] == result.headline
    assert metrics["whatsup-like/scenes/individual"].n == 16
    assert metrics["whatsup-like/scenes/pair"].n == 8 and metrics["whatsup-like/scenes/set"].n == 4
    assert metrics["whatsup-like/scenes/two-way/left-right/pair"].n == 4
    assert metrics["winoground-like/group"].n == 6 and metrics["mmvp-like/pair"].n == 6
    # the toy text encoder is a bag of words and both captions of a group share their words
    text = metrics["winoground-like/text"]
    assert text.tie_rate == 1.0 and text.value == 0.0 and text.baselines["bow_equivalent"] == 1.0
    assert metrics["winoground-like/tag/relation/text"].n == 3
    for name in result.headline:
        assert metrics[name].baselines, name
    assert "whatsup-like/scenes/individual_prior_norm" in metrics
    assert "mmvp-like/pair@legacy" in metrics and "mmvp-like/pair@argmax" in metrics
    assert len(result.samples["whatsup-like/scenes"]) == 16
    json.dumps(result.to_json())


def test_generated_run_is_deterministic():
    _, first = _run("scenes?n=12&seed=5", n_sets=2, n_groups=2, n_pairs=2)
    _, again = _run("scenes?n=12&seed=5", n_sets=2, n_groups=2, n_pairs=2)
    def summary(metrics):
        return {k: (m.value, m.ci_low, m.ci_high) for k, m in metrics.items()}

    assert summary(first) == summary(again)


def test_whatsup_like_sets_hold_one_object_pair_in_four_relations():
    items = spatial_scenes.whatsup_like(random.Random(3), SceneConfig(), 3)
    assert len(items) == 12
    for g in range(3):
        group = items[4 * g : 4 * g + 4]
        assert [it.relation for it in group] == ["left", "right", "above", "below"]
        assert {it.group for it in group} == {f"set{g}"}
        assert len({it.image.key for it in group}) == 4
        assert {frozenset(it.options) for it in group} == {frozenset(group[0].options)}  # same four captions
        for it, rel in zip(group, spatial_scenes.SET_RELATIONS, strict=True):
            assert f" {rel} " in it.options[0]
            assert f" {OPPOSITE_RELATION[rel]} " in it.options[it.opposite]
    again = spatial_scenes.whatsup_like(random.Random(3), SceneConfig(), 3)
    assert [it.image.key for it in again] == [it.image.key for it in items]


def test_gold_check_rejects_a_false_caption():
    first, second = opposite_pair(random.Random(0), "left of")
    spatial_scenes._check(describe(first), first, True, "ok")
    with pytest.raises(DataError, match="generator bug"):
        spatial_scenes._check(describe(second), first, True, "swapped")


def test_winoground_and_mmvp_like_items():
    groups = spatial_scenes.winoground_like(random.Random(1), SceneConfig(), 4)
    assert [g.tags["tag"] for g in groups] == ["relation", "colour"] * 2
    assert all(sorted(g.captions[0].split()) == sorted(g.captions[1].split()) for g in groups)
    pairs = spatial_scenes.mmvp_like(random.Random(1), SceneConfig(), 4)
    assert [p.category for p in pairs] == ["position", "colour"] * 2
    assert all(p.gold == (0, 1) and p.texts[0] != p.texts[1] for p in pairs)


# ---------------------------------------------------------------------------- released formats


def _whatsup_files(root):
    phrases = {"A": {"left": "to the left of", "right": "to the right of", "on": "on", "under": "under"},
               "B": {"left": "to the left of", "right": "to the right of", "in-front": "in front of",
                     "behind": "behind"}}
    names = {"A": ("controlled_images_dataset.json", "controlled_images"),
             "B": ("controlled_clevr_dataset.json", "controlled_clevr")}
    shade = 0
    for subset, preps in phrases.items():
        rows = []
        for obj in ("mug", "cup"):
            for key in preps:
                fname = f"{obj}_{key}_of_table.jpeg"
                path = root / names[subset][1] / fname
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (8, 8), (shade, 255 - shade, 3)).save(path, format="JPEG")
                shade += 13
                options = [f"A {obj} {preps[key]} a table"] + [
                    f"A {obj} {p} a table" for k, p in preps.items() if k != key]
                rows.append({"image_path": f"data/{names[subset][1]}/{fname}", "caption_options": options})
        (root / names[subset][0]).write_text(json.dumps(rows))


def test_whatsup_files_end_to_end(tmp_path):
    _whatsup_files(tmp_path)
    result, metrics = _run(f"whatsup:{tmp_path}")
    assert metrics["whatsup/A/individual"].n == 8 and metrics["whatsup/B/set"].n == 2
    table1 = metrics["whatsup/table1/whatsup@legacy"]
    assert table1.value == pytest.approx(
        (metrics["whatsup/A/individual@legacy"].value + metrics["whatsup/B/individual@legacy"].value) / 2)
    assert "whatsup/table1/avg" not in metrics  # COCO/GQA subsets absent
    assert any("caption prior uses the other loaded subsets" in f for f in result.flags)
    assert "whatsup/B/two-way/in-front-behind/pair" in metrics
    assert result.extra["benchmark"]["title"] == "What'sUp"


def test_whatsup_dropped_rows_are_recorded_and_flagged(tmp_path):
    """Catches: the reader dropping a repeated What'sUp row (last row wins) without the result saying
    so, so a run on an edited file looks like one on the released file."""
    from test_readers_spatial import PREPS_A, _controlled

    file = _controlled(tmp_path, "controlled_images", PREPS_A)
    rows = json.loads(file.read_text())
    file.write_text(json.dumps([*rows, rows[0]]))
    result, metrics = _run(f"whatsup:{file}", n_boot=20)
    assert metrics["whatsup/A/individual"].n == 8
    assert result.extra["data_notes"] == {"duplicate_rows_dropped": {"A": 1}}
    assert [f for f in result.flags if f.startswith("dropped repeated What'sUp rows")] == [
        "dropped repeated What'sUp rows (same group and preposition; the last kept, as the official "
        "eval_dict does): A: 1"]


def test_runner_on_winoground_with_a_paper_named_hf_clip(tmp_path):
    """Full path: runner -> HF backend -> suite -> run directory; the dir name matches ViT-B/32."""
    fixtures = pytest.importorskip("model_fixtures")
    from vlmaudit.runner import run

    spec = fixtures.make_tiny_hf_clip(tmp_path / "clip-vit-base-patch32")
    images = tmp_path / "wino" / "images"
    images.mkdir(parents=True)
    rows = []
    for i in range(3):
        for k in (0, 1):
            Image.new("RGBA", (12, 12), (70 * i, 90 * k, 40, 200)).save(images / f"ex_{i}_img_{k}.png")
        rows.append({"id": i, "image_0": f"ex_{i}_img_0", "image_1": f"ex_{i}_img_1",
                     "caption_0": f"a dog left of a cat {i}", "caption_1": f"a cat left of a dog {i}",
                     "tag": "Noun", "secondary_tag": "", "num_main_preds": 1, "collapsed_tag": "Object"})
    (tmp_path / "wino" / "examples.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    summary = run([spec], ["spatial"], [f"winoground:{tmp_path / 'wino'}"], out=tmp_path / "run",
                  cache_dir=None, options={"spatial": {"n_boot": 20}}, progress=False)
    (unit,) = summary.units
    metrics = {metric_key(m["group"], m["name"], m["variant"]): m for m in unit["metrics"]}
    assert metrics["winoground/group"]["n"] == 3
    assert metrics["winoground/text"]["reference"]["value"] == pytest.approx(0.3075)
    assert metrics["winoground/collapsed_tag/Object/image"]["reference"]["value"] == pytest.approx(0.078)
    assert unit["headline"] == ["winoground/text", "winoground/image", "winoground/group"]
