"""The alignment suite: target pairing, the PSNR-derived budget, the same-norm noise control, and
end-to-end runs on the built-in model, a tiny HF CLIP and a tiny open_clip model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vlmaudit.attacks import project
from vlmaudit.attacks.quality import image_quality
from vlmaudit.data.source import open_data
from vlmaudit.engine import Engine
from vlmaudit.models import load_model
from vlmaudit.results import metric_key
from vlmaudit.runner import run
from vlmaudit.scoring.zeroshot import build_classifier
from vlmaudit.suites.alignment.suite import Config, _pairs, attack_config, labelled_subsets, same_norm_noise

TINY = {"n_images": 6, "steps": 4, "sweep": (2.0,), "sweep_steps": 2, "n_boot": 50, "examples": 2}


def test_pairs_target_only_other_classes_and_every_one_when_asked():
    """Catches a target image drawn from the source's own class (an attack that 'succeeds' by
    doing nothing) and a per-image class sample that repeats or skips classes."""
    gold = np.array([0, 1, 2, 0, 1, 2, 2])
    every = _pairs(gold, 3, 0, seed=0)
    assert len(every) == 2 * len(gold)
    for s, t in every:
        assert gold[s] != gold[t]
    for s in range(len(gold)):
        assert sorted(gold[t] for src, t in every if src == s) == sorted(set(range(3)) - {gold[s]})
    one = _pairs(gold, 3, 1, seed=0)
    assert [s for s, _ in one] == list(range(len(gold))) and all(gold[s] != gold[t] for s, t in one)
    assert one == _pairs(gold, 3, 1, seed=0) and one != _pairs(gold, 3, 1, seed=5)


def test_l2_radius_from_psnr_bounds_psnr_exactly():
    """Catches a radius formula off by sqrt(n) or by the dB convention: a delta on the ball's
    surface must have PSNR equal to the configured floor (skimage's PSNR), inside it more."""
    x0 = torch.full((1, 3, 8, 8), 0.5)
    radius = attack_config(Config(psnr=35.0), x0[0].numel()).radius
    assert radius == pytest.approx(math.sqrt(192) * 10 ** (-35 / 20))
    delta = project(torch.randn(x0.shape, generator=torch.Generator().manual_seed(0)), x0, "l2", radius)
    quality = image_quality(x0[0], x0[0] + delta[0])
    assert quality.l2 == pytest.approx(radius, rel=1e-5)
    assert quality.psnr == pytest.approx(35.0, abs=1e-3)
    assert attack_config(Config(), 192).step_size == pytest.approx(2.5 * radius / 100)


def test_noise_control_has_each_deltas_norm():
    """Catches a blind control whose noise is not rescaled per trial (so it says nothing about a
    perturbation of the attack's size) or is not seeded."""
    x0 = torch.full((3, 3, 8, 8), 0.5)
    norms = np.array([0.01, 0.05, 0.2])
    noisy = same_norm_noise(x0, norms, seed=0)
    assert (noisy - x0).flatten(1).norm(dim=1).numpy() == pytest.approx(norms, rel=1e-5)
    assert torch.equal(noisy, same_norm_noise(x0, norms, seed=0))
    assert not torch.equal(noisy, same_norm_noise(x0, norms, seed=1))


@pytest.mark.slow
def test_builtin_run_writes_metrics_that_match_its_samples(tmp_path):
    """Catches a metric that disagrees with the per-trial rows it claims to summarise, a sweep
    point missing, a lost example triplet, and clean accuracy computed on the wrong images."""
    summary = run(["builtin:scenes"], ["alignment"], [], out=tmp_path / "run", cache_dir=None,
                  options={"alignment": TINY}, progress=False)
    (unit,) = summary.units
    metrics = {metric_key(m["group"], m["name"], m["variant"]): m for m in unit["metrics"]}
    rows = _samples(tmp_path / "run")["scenes/shape/systematic"]
    assert len(rows) == TINY["n_images"]
    assert metrics["scenes/shape/systematic/accuracy"]["value"] == pytest.approx(
        np.mean([r["correct"] for r in rows]))
    assert metrics["scenes/shape/systematic/target_hit"]["value"] == pytest.approx(
        np.mean([r["target_hit"] for r in rows]))
    assert metrics["scenes/shape/systematic/accuracy"]["baselines"]["same-norm noise"] == pytest.approx(
        np.mean([r["noise_correct"] for r in rows]))
    assert all(r["label"] != r["target"] for r in rows)
    assert metrics["scenes/shape/clean/accuracy"]["n"] == TINY["n_images"]
    assert "scenes/shape/sweep/linf_2/255" in metrics
    assert all(r["psnr"] >= 35.0 - 1e-3 for r in rows)
    assert any(f.startswith("reconstructed:") for f in unit["flags"])
    assert (tmp_path / "run" / "report.html").is_file()


def _samples(run_dir):
    from vlmaudit.report.html import load_unit

    (unit,) = run_dir.glob("*/alignment/*/results.json")
    return load_unit(unit.parent)[1]


@pytest.mark.slow
@pytest.mark.parametrize("maker", ["make_tiny_hf_clip", "make_tiny_openclip"])
def test_runs_on_tiny_hf_and_openclip_models(tmp_path, maker):
    """Catches a backend whose pixel path is not differentiable end to end (the attack would flag
    zero gradients or crash) and a suite that only works on the built-in model's templates."""
    fixtures = pytest.importorskip("model_fixtures")
    spec = getattr(fixtures, maker)(tmp_path / "model")
    summary = run([spec], ["alignment"], ["scenes?n=60"], out=tmp_path / "run", cache_dir=None,
                  options={"alignment": TINY | {"n_images": 3}}, progress=False)
    (unit,) = summary.units
    assert not [f for f in unit["flags"] if "zero gradient" in f or "does not depend" in f]
    assert {m["name"] for m in unit["metrics"]} >= {"accuracy", "target_hit", "psnr", "ssim"}


def test_linf_budget_without_radius_is_one_line_exit_2(tmp_path):
    """Catches a bad option reaching the attack (traceback) or leaving a run directory behind."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "from vlmaudit.cli import main; main()", "run", "alignment",
                           "--out", str(tmp_path / "run"), "--option", "alignment.budget=linf"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: alignment.budget=linf needs alignment.radius "
                                   "(pixel units, e.g. 0.0157 = 4/255)")
    assert not (tmp_path / "run").exists()


def test_spec_errors_are_one_line_exit_2_and_write_nothing(tmp_path):
    """Catches target=text with raw embeddings reaching the attack (a unit text vector against an
    unnormalised image embedding: the loss would not mean alignment) and a one-class image folder
    failing with a traceback instead of naming the subset."""
    import subprocess
    import sys

    from PIL import Image

    one_class = tmp_path / "folder" / "cat"
    one_class.mkdir(parents=True)
    for i in range(2):
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(one_class / f"{i}.png")
    cases = [
        (["--option", "alignment.target=text", "--option", "alignment.normalize=false"],
         "error: alignment.target=text needs alignment.normalize=true: a class text embedding is a unit "
         "vector, and a raw image embedding has another scale"),
        (["--data", f"image-folder:{tmp_path / 'folder'}"], "needs at least two classes, got ('cat',)"),
    ]
    for i, (args, message) in enumerate(cases):
        out = tmp_path / f"run{i}"
        done = subprocess.run([sys.executable, "-c", "from vlmaudit.cli import main; main()", "run",
                               "alignment", "--out", str(out), "--quiet", *args],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr, done.stderr
        assert not list(out.rglob("results.json"))


@pytest.mark.slow
def test_text_target_aligns_to_the_class_text_embedding(tmp_path):
    """Catches `target=text` being ignored (the rows would still name a target image and match the
    image-target run) and a text target that is not the target class's classifier row (the
    aligned image would not move towards it: cosine to target must beat the clean image's)."""
    runs = {}
    for target in ("image", "text"):
        run(["builtin:scenes"], ["alignment"], ["scenes?n=40"], out=tmp_path / target, cache_dir=None,
            options={"alignment": TINY | {"sweep": (), "steps": 30, "target": target}}, progress=False)
        runs[target] = _samples(tmp_path / target)["scenes/shape/systematic"]
    assert {r["target_item"] for r in runs["text"]} == {"text"}
    assert "text" not in {r["target_item"] for r in runs["image"]}
    assert [r["cos_target"] for r in runs["text"]] != [r["cos_target"] for r in runs["image"]]
    # the clean image's cosine to its target class's text row: the attack must raise it
    engine = Engine(load_model("builtin:scenes"), cache_dir=None, progress=False, memory=False)
    ((_, items, classes),) = labelled_subsets(open_data("scenes?n=40"), 0, "alignment")
    classifier = build_classifier(engine, classes, ("a {}.",))
    clean = engine.images([item.image for item in items[: TINY["n_images"]]])
    for row, embedding in zip(runs["text"], clean, strict=True):
        before = float(embedding @ classifier.weights[classes.index(row["target"])])
        assert row["cos_target"] > before + 0.05, (row, before)


def test_a_model_blind_to_pixels_is_flagged_and_reported_not_crashed(tmp_path, fakes_registered):
    """Catches an unchanged image (zero gradient: delta = 0, PSNR +inf) crashing the metric kit or
    writing a non-JSON inf, and the zero-gradient sanity flag going missing from the result."""
    summary = run(["toy:16"], ["alignment"], ["fake"], out=tmp_path / "run", cache_dir=None,
                  options={"alignment": TINY | {"n_images": 4, "sweep": ()}}, progress=False)
    (unit,) = summary.units
    psnr = next(m for m in unit["metrics"] if m["name"] == "psnr")
    assert psnr["value"] <= 100.0 and "capped at 100" in psnr["notes"]
    assert any("zero gradient" in f or "does not depend" in f for f in unit["flags"]), unit["flags"]
