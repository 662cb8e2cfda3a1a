"""The transforms suite end to end: ToyModel on small in-memory data, a tiny HF CLIP, the run directory."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from toy import ToyModel
from vlmaudit.atomic import json_default
from vlmaudit.data.images import memory_image
from vlmaudit.data.items import ImageCaptions
from vlmaudit.data.readers.captions import CaptionSource
from vlmaudit.data.source import DataSpec
from vlmaudit.engine import Engine
from vlmaudit.errors import SpecError
from vlmaudit.perturb.image_transforms import load_catalogue
from vlmaudit.report.rundir import RunDirectory
from vlmaudit.suites.base import RunContext, build_config
from vlmaudit.suites.transforms.suite import FLAG_LIST, HEADLINE, SUITE, Config

NAMES_24 = tuple(t.name for t in load_catalogue())[:24]


def caption_source(n: int = 10, solid: bool = False) -> CaptionSource:
    """n images with a red band of growing width over noise (or plain colours) and simple captions."""
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        if solid:
            arr = np.full((32, 32, 3), (30 * i % 255, 100, 200), dtype=np.uint8)
        else:
            arr = (rng.random((36, 48, 3)) * 255).astype(np.uint8)
            arr[:, : 8 + 3 * i] = (200, 30, 30)
        caption = f"a red band number {i} ."
        items.append(ImageCaptions(memory_image(Image.fromarray(arr), f"img{i}"), (caption,)))
    return CaptionSource(DataSpec("captions", "memory"), "jsonl", items)


class CountingEngine(Engine):
    def __init__(self, model) -> None:
        super().__init__(model, cache_dir=None, progress=False)


def run(config: Config, source: CaptionSource | None = None, model=None, engine=None):
    model = model or ToyModel()
    engine = engine or CountingEngine(model)
    return SUITE.run(RunContext(model, engine), source or caption_source(), config)[0], engine


@pytest.fixture(scope="module")
def result():
    res, engine = run(Config(transforms=NAMES_24, n_boot=100))
    return res, engine


def test_all_metrics_figures_and_samples(result):
    res, _ = result
    keys = {f"{m.group}/{m.name}" for m in res.metrics}
    assert set(HEADLINE) <= keys
    for group in ("exp1", "exp2", "control/exp2_wrong", "control/exp2_untransformed", "control/probe"):
        for name in NAMES_24:
            assert f"{group}/transform/{name}/accuracy" in keys
        for category in ("geometric", "colour", "clarity", "distortion", "size", "processing"):
            assert f"{group}/category/{category}/accuracy" in keys
    for variant in ("bare", "captioned", "ensemble"):
        for name in ("top1", "top5", "max_prediction_share"):
            assert f"exp3/{variant}/{name}" in keys
    assert res.metric("top1", "exp3/bare").chance == pytest.approx(1 / 24)
    assert res.metric("top5", "exp3/bare").chance == pytest.approx(5 / 24)
    assert res.metric("top1", "exp3/bare").baselines["neutral_image"] == pytest.approx(1 / 24)
    exp2 = res.metric("accuracy", "exp2")
    assert exp2.chance == 0.5 and exp2.n == 240 and exp2.tie_rate is not None
    assert set(exp2.baselines) == {"length_longer", "neutral_image"}
    assert exp2.baselines["length_longer"] == 1.0  # C' always has more words than C
    assert "hackable: exp2/accuracy blind length_longer = 1.000 >= 0.9" in res.flags
    assert exp2.ci_low <= exp2.value <= exp2.ci_high
    assert res.metric("accuracy", "control/probe").n % 24 == 0
    assert exp2.reference is None  # a toy model is not one of the paper's
    stored = json.loads(json.dumps({"result": res.to_json(), "samples": res.samples}, default=json_default))
    figures = SUITE.figures(stored["result"], stored["samples"])  # from what results.json and samples hold
    assert set(figures) == {"per_transform_accuracy", "exp2_gap_histogram", "exp3_confusion"}
    assert all(isinstance(f, Figure) for f in figures.values())
    assert len(figures["per_transform_accuracy"].axes) == 7  # Exp 1, 2, two controls, Exp 3 x 2, probe
    assert FLAG_LIST in res.flags
    assert len(res.samples["trials"]) == 240
    assert np.asarray(res.extra["exp3_confusion"]["bare"]).sum() == 240
    assert set(res.extra["exp2/gap"]["overall"]) == {"mean", "std", "q05", "q25", "q50", "q75", "q95"}


def test_samples_recompute_the_metrics(result):
    res, _ = result
    rows = res.samples["trials"]
    exp1 = np.mean([r["s_IpCp"] > r["s_ICp"] for r in rows])
    exp2 = np.mean([r["s_IpCp"] > r["s_IpC"] for r in rows])
    wrong = np.mean([r["s_IpCp"] > r["s_IpCwrong"] for r in rows])
    untransformed = np.mean([r["s_ICp"] > r["s_IC"] for r in rows])
    assert res.metric("accuracy", "exp1").value == pytest.approx(exp1)
    assert res.metric("accuracy", "exp2").value == pytest.approx(exp2)
    assert res.metric("accuracy", "control/exp2_wrong").value == pytest.approx(wrong)
    assert res.metric("accuracy", "control/exp2_untransformed").value == pytest.approx(untransformed)
    gap = np.mean([r["s_IpCp"] - r["s_IpC"] for r in rows])
    assert res.metric("gap_mean", "exp2").value == pytest.approx(gap, abs=1e-6)
    top1 = np.mean([r["exp3_bare_pred"] == r["transform"] for r in rows])
    assert res.metric("top1", "exp3/bare").value == pytest.approx(top1)  # no ties at fp32 here
    rot = [r["exp1"] for r in rows if r["transform"] == "rotate_90"]
    assert res.metric("accuracy", "exp1/transform/rotate_90").value == pytest.approx(np.mean(rot))
    assert all(r["wrong_transform"] != r["transform"] for r in rows)
    probe = [r["probe_correct"] for r in rows if r["probe_correct"] is not None]
    assert res.metric("accuracy", "control/probe").value == pytest.approx(np.mean(probe))


def test_each_input_embedded_once_and_templates_reuse_images(result):
    """Catches an input embedded twice (a scorer bypassing the engine's dedup) and a template change
    that re-encodes images."""
    _, engine = result
    n_images = engine.stats.images.computed
    assert n_images == 10 * 25 + 1  # originals + every pair + the neutral image, nothing twice
    assert engine.stats.texts.computed == engine.stats.texts.unique - engine.stats.texts.memory_hits
    run(Config(transforms=NAMES_24, n_boot=20, template="{caption}, {description}"), engine=engine)
    assert engine.stats.images.computed == n_images  # another template re-encodes no image
    assert engine.stats.texts.computed > 0


def test_deterministic(result):
    res, _ = result
    again, _ = run(Config(transforms=NAMES_24, n_boot=100))
    assert [(m.group, m.name, m.value, m.ci_low, m.ci_high) for m in again.metrics] == [
        (m.group, m.name, m.value, m.ci_low, m.ci_high) for m in res.metrics]
    assert again.samples == res.samples


def test_ties_follow_the_configured_policy():
    """Flips of a plain-colour image are pixel-identical, so Exp 1 ties on every trial."""
    source = caption_source(4, solid=True)
    strict, _ = run(Config(transforms=("hflip", "vflip"), n_boot=20), source)
    lenient, _ = run(Config(transforms=("hflip", "vflip"), n_boot=20, tie_policy="lenient"), source)
    assert strict.metric("accuracy", "exp1").tie_rate == 1.0
    assert strict.metric("accuracy", "exp1").value == 0.0
    assert lenient.metric("accuracy", "exp1").value == 1.0


def test_paper_reference_attached_for_a_paper_model():
    model = ToyModel()
    model.spec = "hf:openai/clip-vit-base-patch32"
    res, _ = run(Config(transforms=("hflip", "rotate_90", "blur"), n_boot=20), caption_source(3), model)
    assert res.metric("accuracy", "exp1").reference["value"] == pytest.approx(0.428)
    assert res.metric("accuracy", "exp2").reference["model"] == "CLIP ViT-B/32"
    assert res.metric("top5", "exp3/captioned").reference["value"] == pytest.approx(0.184)
    assert res.metric("top1", "exp3/ensemble").reference is None
    assert res.extra["paper_model"] == "CLIP ViT-B/32"


def test_description_index_and_user_transforms_file(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"mode": "replace", "transforms": [
        {"name": "mirror", "category": "geometric", "op": "hflip", "descriptions": ["mirrored", "flipped"]},
        {"name": "dark", "category": "colour", "op": "brightness", "params": {"factor": 0.3},
         "descriptions": ["dark", "dim"]}]}))
    res, _ = run(Config(transforms_file=str(path), description_index=1, n_boot=20), caption_source(3))
    rows = res.samples["trials"]
    assert {r["description"] for r in rows} == {"flipped", "dim"}
    assert rows[0]["transform"] == "mirror"
    hashed, _ = run(Config(transforms=NAMES_24, description_index=-1, n_boot=20), caption_source(6))
    assert len({r["description_index"] for r in hashed.samples["trials"]}) > 1


@pytest.mark.parametrize(("options", "message"), [
    ({"template": "{caption} only"}, "must contain {description}"),
    ({"template": "{caption} {desc}"}, "may use only"),
    ({"tie_policy": "loose"}, "tie_policy"),
    ({"transforms": "hflip"}, "at least two"),
    ({"transforms": "hflip,twirl"}, "unknown transform"),
    ({"probe_test_fraction": "1.0"}, "transforms.probe_test_fraction='1.0'"),
    ({"description_index": "3"}, "description_index 3 is out of range"),
])
def test_config_errors(options, message):
    with pytest.raises(SpecError, match=message):
        run(build_config(Config, options, suite="transforms"), caption_source(2))


def test_result_writes_to_a_run_directory(tmp_path):
    res, _ = run(Config(transforms=("hflip", "rotate_90", "grayscale"), n_boot=20), caption_source(3))
    unit = RunDirectory(tmp_path / "run", resume=False).write_unit(replace(res), {"test": True})
    payload = json.loads((unit / "results.json").read_text())
    assert payload["headline"] == HEADLINE
    assert len(payload["figures"]) == 3 and all((unit / f).is_file() for f in payload["figures"])
    assert len((unit / "samples" / "trials.jsonl").read_text().splitlines()) == 9


def test_a_finished_unit_re_renders_its_figures_from_disk(tmp_path):
    """Catches figures that exist only as objects of the live run (a finished run could not be
    re-rendered), and a re-render that draws blank or different files."""
    res, _ = run(Config(transforms=("hflip", "rotate_90", "grayscale"), n_boot=20), caption_source(3))
    rundir = RunDirectory(tmp_path / "run", resume=False)
    unit = rundir.write_unit(replace(res), {"test": True})
    written = json.loads((unit / "results.json").read_text())["figures"]
    shutil.rmtree(unit / "figures")
    again = RunDirectory(tmp_path / "run", resume=True).render_figures(unit)
    assert again == written and json.loads((unit / "results.json").read_text())["figures"] == written
    for path in again:
        pixels = np.asarray(Image.open(unit / path).convert("L"))
        assert pixels.std() > 10, path  # drawn, not an empty canvas


def test_tiny_hf_clip(tmp_path):
    fixtures = pytest.importorskip("model_fixtures")
    from vlmaudit.models import load_model

    model = load_model(fixtures.make_tiny_hf_clip(tmp_path / "clip"))
    res, engine = run(Config(transforms=("hflip", "rotate_90", "blur", "invert"), n_boot=20),
                      caption_source(4), model)
    assert engine.stats.images.computed == 4 * 5 + 1  # each (image, transform) once, plus the neutral image
    assert 0.0 <= res.metric("accuracy", "exp2").value <= 1.0
    assert res.metric("accuracy", "control/probe").n == 4  # one held-out image x 4 transforms


def test_generated_scenes():
    scenes_source = pytest.importorskip("vlmaudit.data.scenes.source")
    source = scenes_source.open_source(DataSpec("scenes", None, {"n": "6"}))
    res, _ = run(Config(n_images=6, transforms=NAMES_24[:6], n_boot=20), source)
    assert len(res.samples["trials"]) == 36
    assert any("generated scenes" in flag for flag in res.flags)


def test_view_geometry_reports_what_preprocessing_hides():
    from vlmaudit.suites.transforms.suite import Item, view_geometry

    square = [Item(memory_image(Image.new("RGB", (20, 20), (9, 9, 9))), "x")]
    by_name = {t.name: t for t in load_catalogue()}
    chosen = [by_name[n] for n in ("stretch_horizontal", "rotate_90", "center_crop")]
    table, flags = view_geometry(square, chosen, "shortest")
    assert table["stretch_horizontal"]["visible_fraction"] == pytest.approx(0.5)
    assert table["rotate_90"] == {"aspect_ratio": 1.0, "visible_fraction": 1.0, "aspect_changed": False}
    assert flags == ["model preprocessing centre-crops away part of: stretch_horizontal (50%); "
                     "originals lose 0%"]
    _, flags = view_geometry(square, chosen, "squash")
    assert flags == ["model preprocessing squashes to a square, undoing the aspect change of: "
                     "stretch_horizontal"]



def test_indistinct_descriptions_are_flagged(tmp_path):
    """The toy text encoder is a bag of words: reordered descriptions embed identically."""
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"mode": "replace", "transforms": [
        {"name": "a", "category": "geometric", "op": "hflip", "descriptions": ["flipped left right"]},
        {"name": "b", "category": "geometric", "op": "vflip", "descriptions": ["right left flipped"]},
        {"name": "c", "category": "colour", "op": "invert", "descriptions": ["inverted"]}]}))
    res, _ = run(Config(transforms_file=str(path), n_boot=20), caption_source(3))
    assert res.extra["indistinct_descriptions"] == [["a", "b"]]
    assert any("descriptions of 2 transforms identically" in flag for flag in res.flags)
    rows = [r for r in res.samples["trials"] if r["transform"] in ("a", "b")]
    assert rows and all(r["exp3_bare_top1"] == 0.0 for r in rows)  # strict: a tie is never a win
