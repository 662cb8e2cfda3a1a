"""Embedding alignment, its projections, image quality and sanity flags (vlmaudit.attacks.align)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from skimage.data import astronaut
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.transform import resize

from attack_models import ConstantModel, LinearModel, StepModel, engine
from vlmaudit.attacks import (
    CONSTANT_OUTPUT,
    NO_PROGRESS,
    ZERO_GRADIENT,
    AlignConfig,
    align,
    image_quality,
    project,
)


def _problem(n: int = 3, seed: int = 1):
    """Linear model, grey images and targets reachable by a small delta (the clamp stays inactive)."""
    model = LinearModel()
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.full((n, 3, 3, 3), 0.5)
    true = (torch.rand(x0.shape, generator=gen) - 0.5) * 0.1
    targets = model.encode_images(x0 + true) + 0.01 * torch.randn(n, model.a.shape[0], generator=gen)
    return model, x0, targets


def test_unbudgeted_alignment_is_the_least_squares_solution():
    """Catches a wrong loss or gradient (sign, missing 1/2, normalised path used when raw was asked):
    on f(x) = A x + b with more outputs than pixels, the optimum is lstsq(A, t - b - A x0)."""
    model, x0, targets = _problem()
    config = AlignConfig(normalize=False, step_size=2e-3, steps=4000, stop="steps")
    results = align(engine(model), x0, targets, config)
    for i, result in enumerate(results):
        rhs = targets[i] - model.b - model.a @ x0[i].flatten()
        expected = torch.linalg.lstsq(model.a.double(), rhs.double()[:, None]).solution[:, 0]
        assert torch.allclose(result.delta.flatten().double(), expected, atol=2e-4)
        assert result.steps == 4000 and len(result.loss) == 4001
        assert result.loss[-1] < result.loss[0] and result.flags == []


def test_batched_run_equals_per_image_runs_and_is_deterministic():
    """Catches images of one batch leaking into each other (shared step counts, stop rule of one
    image freezing another) and unseeded restarts: each row equals its solo run, reruns are equal."""
    model, x0, targets = _problem()
    config = AlignConfig(normalize=False, step_size=1e-2, steps=200, stop="residual", threshold=0.02,
                         budget="linf", radius=0.03)
    batch = align(engine(model), x0, targets, config)
    restarted = config.model_copy(update={"restarts": 3})
    again = align(engine(model), x0, targets, restarted)
    assert all(torch.equal(a.pixels, b.pixels) for a, b in zip(again, align(engine(model), x0, targets,
                                                                            restarted), strict=True))
    for i, result in enumerate(batch):
        solo = align(engine(model), x0[i : i + 1], targets[i : i + 1], config)[0]
        assert torch.allclose(result.pixels, solo.pixels, atol=1e-6)
        assert result.steps == solo.steps and result.restart == solo.restart == 0
        assert again[i].loss[-1] <= result.loss[-1]  # the kept restart is the best of the three


@pytest.mark.parametrize("optimizer", ["adam", "pgd"])
@pytest.mark.parametrize(("budget", "radius"), [("linf", 4 / 255), ("l2", 0.05)])
def test_budget_and_box_hold_after_every_run(optimizer, budget, radius):
    """Catches a projection skipped or applied before the step, or a missing [0, 1] clamp: the kept
    delta stays in the ball and the pixels in [0, 1], starting from pixels at the box edges."""
    model = LinearModel()
    x0 = torch.tensor([0.0, 1.0, 0.5]).repeat(9).view(1, 3, 3, 3).repeat(2, 1, 1, 1)
    targets = model.encode_images(torch.rand(2, 3, 3, 3, generator=torch.Generator().manual_seed(0)))
    config = AlignConfig(normalize=False, optimizer=optimizer, step_size=0.01, steps=50, stop="steps",
                         budget=budget, radius=radius, restarts=3)
    for result in align(engine(model), x0, targets, config):
        size = result.quality.linf if budget == "linf" else result.quality.l2
        assert size <= radius + 1e-6
        assert result.pixels.min() >= 0.0 and result.pixels.max() <= 1.0


def test_stop_rules_stop_each_image_when_met():
    """Catches a stop rule that is ignored or checked on the wrong quantity: a cosine stop ends
    before max steps with the cosine at the threshold, and a `steps` rule runs them all."""
    model, x0, targets = _problem()
    x0 = x0 + torch.tensor([0.0, 0.02, -0.02]).view(3, 1, 1, 1)  # three different starting points
    stopped = align(engine(model), x0, targets, AlignConfig(step_size=1e-2, steps=500, threshold=0.99))
    for result in stopped:
        assert result.steps < 500 and result.cosine[-1] >= 0.99
        assert all(c < 0.99 for c in result.cosine[:-1])
    full = align(engine(model), x0, targets, AlignConfig(step_size=1e-2, steps=30, stop="steps"))
    assert all(r.steps == 30 for r in full)


def test_config_records_every_hyperparameter_and_rejects_bad_budget():
    """Catches a result that loses its settings, and a budget without radius (an L-inf attack with
    no ball would silently run unbudgeted)."""
    with pytest.raises(ValidationError):
        AlignConfig(budget="linf")
    with pytest.raises(ValidationError):
        AlignConfig(radius=0.1)
    model, x0, targets = _problem(n=1)
    config = AlignConfig(steps=3, seed=7)
    row = align(engine(model), x0, targets, config)[0].to_dict()
    assert row["config"] == config.model_dump() and row["config"]["seed"] == 7


def test_projection_on_hand_made_vectors():
    """Catches L-inf/L2 projections that move points already inside the ball, scale per batch instead
    of per image, or forget the [0, 1] clamp."""
    x0 = torch.tensor([[0.5, 0.5, 0.5, 0.98]])
    inside = torch.tensor([[0.01, -0.02, 0.0, 0.0]])
    assert torch.equal(project(inside, x0, "linf", 0.05), inside)
    assert torch.equal(project(inside, x0, "l2", 0.05), inside)
    big = torch.tensor([[0.3, -0.1, 0.02, 0.0]])
    assert torch.allclose(project(big, x0, "linf", 0.05), torch.tensor([[0.05, -0.05, 0.02, 0.0]]))
    scaled = project(torch.tensor([[0.3, 0.4, 0.0, 0.0], [0.03, 0.04, 0.0, 0.0]]), x0.repeat(2, 1), "l2", 0.1)
    assert torch.allclose(scaled, torch.tensor([[0.06, 0.08, 0.0, 0.0], [0.03, 0.04, 0.0, 0.0]]))
    clamped = project(torch.tensor([[0.0, 0.0, -0.7, 0.04]]), x0, "none", None)
    assert torch.allclose(clamped, torch.tensor([[0.0, 0.0, -0.5, 0.02]]))
    assert torch.allclose(project(torch.tensor([[0.0, 0.0, 0.0, 0.04]]), x0, "linf", 0.03),
                          torch.tensor([[0.0, 0.0, 0.0, 0.02]]))


def test_quality_equals_skimage_on_a_real_photograph():
    """Catches a wrapper that passes the wrong data range (skimage would infer 2 for floats in
    [-1, 1]) or the wrong channel axis for CHW: recomputed with skimage on the HWC layout."""
    hwc = resize(astronaut(), (32, 32), anti_aliasing=True)  # float64 in [0, 1]
    noisy = np.clip(hwc + np.random.default_rng(0).normal(0, 0.03, hwc.shape), 0, 1)
    quality = image_quality(torch.from_numpy(hwc).permute(2, 0, 1), torch.from_numpy(noisy).permute(2, 0, 1))
    assert quality.psnr == pytest.approx(peak_signal_noise_ratio(hwc, noisy, data_range=1.0), rel=1e-12)
    ssim = structural_similarity(hwc, noisy, data_range=1.0, channel_axis=-1)
    assert quality.ssim == pytest.approx(ssim, rel=1e-12)
    assert quality.linf == pytest.approx(np.abs(noisy - hwc).max())
    assert quality.l2 == pytest.approx(np.linalg.norm(noisy - hwc))
    same = image_quality(torch.from_numpy(hwc).permute(2, 0, 1), torch.from_numpy(hwc).permute(2, 0, 1))
    assert same.psnr == float("inf") and same.ssim == 1.0


def test_sanity_flags_on_hand_made_models():
    """Catches flags that never fire or fire on healthy runs: a constant model gets all three, a step
    function (moves with the input, zero gradient) gets no constant-output flag, a healthy run none."""
    _, x0, targets = _problem(n=2)
    config = AlignConfig(normalize=False, steps=5, stop="steps")
    constant = align(engine(ConstantModel()), x0, targets, config)
    assert all(r.flags == [ZERO_GRADIENT, CONSTANT_OUTPUT, NO_PROGRESS] for r in constant)
    step = align(engine(StepModel()), x0 + torch.linspace(-0.4, 0.4, 27).view(1, 3, 3, 3), targets, config)
    assert all(r.flags == [ZERO_GRADIENT, NO_PROGRESS] for r in step)
    assert all(r.flags == [] for r in align(engine(LinearModel()), x0, targets, config))


def test_a_loss_that_goes_up_is_flagged():
    """Catches a no-progress check that compares the wrong trace entries: signed steps of the full
    pixel range overshoot a nearby target, so the loss only rises."""
    model, x0, targets = _problem(n=1)
    result = align(engine(model), x0, targets, AlignConfig(normalize=False, optimizer="pgd", step_size=0.5,
                                                           momentum=0.0, steps=3, stop="steps"))[0]
    assert min(result.loss[1:]) >= result.loss[0]
    assert result.flags == [NO_PROGRESS]
