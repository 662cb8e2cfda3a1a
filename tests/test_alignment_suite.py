"""The alignment suite: target pairing, the PSNR-derived budget, the same-norm noise control, and
end-to-end runs on the built-in model, a tiny HF CLIP and a tiny open_clip model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vlmaudit.attacks import project
from vlmaudit.attacks.quality import image_quality
from vlmaudit.results import metric_key
from vlmaudit.runner import run
from vlmaudit.suites.alignment.suite import Config, _pairs, attack_config, same_norm_noise

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
