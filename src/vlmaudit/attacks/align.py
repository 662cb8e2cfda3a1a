"""Embedding alignment (arXiv 2402.08473 §2.2): find delta with x0 + delta in [0, 1] such that
f(x0 + delta) ~ t, minimising L = 1/2 ||f(x0 + delta) - t||^2, for a batch of images at once.

t is another image's embedding (`engine.embed_pixels(target_pixels, normalize=...)`) or a class
text embedding (`engine.texts([...], normalize=...)`). f is `Engine.embed_pixels`, the engine's
differentiable path; nothing here calls a backend. The paper's step size, steps, budget and stop
rule are unknown [U]: every default below is ours ([P], seed_papers.md §2.2) and every one is
recorded on each result, so a number always travels with the settings that produced it.

Sanity flags in the spirit of AutoAttack's `checks.py` mark results not to be trusted as they are:
a gradient that is exactly zero, an output that does not depend on the input, a loss that never
went below its starting value.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vlmaudit.attacks.quality import ImageQuality, image_quality
from vlmaudit.engine import Engine
from vlmaudit.engine.distributed import shard_map

ZERO_GRADIENT = "zero gradient"
CONSTANT_OUTPUT = "output does not depend on the input"
NO_PROGRESS = "loss never went down"

Budget = Literal["linf", "l2", "none"]


class AlignConfig(BaseModel):
    """Every hyperparameter of one alignment run (frozen; recorded on each result).

    `normalize=True` (default) matches L2-normalised embeddings: zero-shot classification and every
    suite compare cosines, so the unit vector is what decides a class, and a text target's norm
    has nothing to do with an image's. `normalize=False` matches raw embeddings, as the companion
    paper (2401.15568) does; the target is then used as given.

    `pgd` is signed-gradient descent with momentum on the L1-normalised gradient (MI-FGSM): the
    step is `step_size * sign(m)` for `linf`/`none`, `step_size * m / ||m||_2` for `l2`.
    After every step delta is projected onto the budget ball and x0 + delta clamped to [0, 1]
    (clamping only shrinks |delta| coordinate-wise, so the point stays in the ball).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    normalize: bool = True
    optimizer: Literal["adam", "pgd"] = "adam"
    step_size: float = Field(1e-3, gt=0)  # Adam lr or PGD step, in [0, 1] pixel units
    momentum: float = Field(0.9, ge=0, lt=1)  # PGD only
    steps: int = Field(1000, ge=0)  # maximum updates per restart
    restarts: int = Field(1, ge=1)  # restart 0 starts at delta = 0, later ones at random in the ball
    budget: Budget = "none"
    radius: float | None = Field(None, gt=0)  # ball radius for linf / l2, pixel units
    init_radius: float = Field(8 / 255, gt=0)  # L-inf radius of random restarts when budget is none
    stop: Literal["cosine", "residual", "steps"] = "cosine"
    threshold: float = 0.999  # cosine >= threshold, or ||f - t|| / ||t|| <= threshold
    seed: int = 0

    @model_validator(mode="after")
    def _radius_matches_budget(self) -> AlignConfig:
        if (self.budget == "none") != (self.radius is None):
            want = "no radius" if self.budget == "none" else "a radius"
            raise ValueError(f"budget {self.budget!r} needs {want}")
        return self


@dataclass
class AlignResult:
    """One aligned image; `seconds` is the wall time of the whole batched run it belongs to."""

    pixels: torch.Tensor  # [3, S, S] in [0, 1], on the CPU
    delta: torch.Tensor  # pixels - x0
    loss: list[float]  # trace, one entry per forward: before each update and after the last
    cosine: list[float]  # cosine(f(x), t) on the same steps
    steps: int  # updates used by the kept restart
    restart: int  # which restart was kept (lowest final loss)
    residual: float  # final ||f - t|| / ||t||
    quality: ImageQuality
    flags: list[str]
    seconds: float
    batch_size: int
    config: AlignConfig

    def to_dict(self) -> dict:
        """Everything but the tensors, for a result file."""
        return {"loss": self.loss, "cosine": self.cosine, "steps": self.steps, "restart": self.restart,
                "residual": self.residual, "quality": self.quality.to_dict(), "flags": self.flags,
                "seconds": self.seconds, "batch_size": self.batch_size, "config": self.config.model_dump()}


def project(delta: torch.Tensor, x0: torch.Tensor, budget: Budget, radius: float | None) -> torch.Tensor:
    """delta moved into the budget ball (per image), then clamped so that x0 + delta is in [0, 1]
    (on delta itself, so a point already feasible comes back bit-identical)."""
    if budget == "linf":
        delta = delta.clamp(-radius, radius)
    elif budget == "l2":
        norms = delta.flatten(1).norm(dim=1).clamp_min(1e-30)
        delta = delta * (radius / norms).clamp(max=1.0).view(-1, *([1] * (delta.ndim - 1)))
    return torch.maximum(torch.minimum(delta, 1.0 - x0), -x0)


def align(engine: Engine, pixels: torch.Tensor, targets: torch.Tensor,
          config: AlignConfig | None = None) -> list[AlignResult]:
    """Align each of `pixels` [N, 3, S, S] (in [0, 1]) to the matching row of `targets` [N, D]."""
    config = config or AlignConfig()
    x0 = pixels.detach().float()
    if x0.ndim != 4 or x0.shape[1] != 3:
        raise ValueError(f"pixels must be [N, 3, S, S], got {tuple(x0.shape)}")
    if x0.min() < 0 or x0.max() > 1:
        raise ValueError("pixels must lie in [0, 1] (take them from Engine.pixels)")
    t = targets.detach().float().to(x0.device)
    if t.ndim != 2 or t.shape[0] != x0.shape[0] or not torch.isfinite(t).all():
        raise ValueError(f"targets must be finite [N={x0.shape[0]}, D], got {tuple(t.shape)}")
    if config.normalize:
        t = torch.nn.functional.normalize(t, dim=-1)
    start = time.perf_counter()
    with torch.no_grad():
        probe = (x0 + 0.5) % 1.0  # every pixel moved by half the range: differs from x0 everywhere
        constant = _same_rows(engine.embed_pixels(x0, normalize=config.normalize),
                              engine.embed_pixels(probe, normalize=config.normalize))
    runs = [_run(engine, x0, t, config, r) for r in range(config.restarts)]
    seconds = time.perf_counter() - start
    results = []
    for i in range(x0.shape[0]):
        best = min(range(len(runs)), key=lambda r: runs[r].loss[i][-1])
        run = runs[best]
        flags = [ZERO_GRADIENT] if any(r.zero_grad[i] for r in runs) else []
        if constant[i]:
            flags.append(CONSTANT_OUTPUT)
        if run.steps[i] > 0 and min(run.loss[i][1:]) >= run.loss[i][0]:
            flags.append(NO_PROGRESS)
        x = (x0[i] + run.delta[i]).clamp(0.0, 1.0).cpu()
        results.append(AlignResult(
            pixels=x, delta=run.delta[i].cpu(), loss=run.loss[i], cosine=run.cosine[i], steps=run.steps[i],
            restart=best, residual=run.residual[i], quality=image_quality(x0[i], x), flags=flags,
            seconds=seconds, batch_size=x0.shape[0], config=config))
    return results


def align_batches(engine: Engine, pixels: torch.Tensor, targets: torch.Tensor, config: AlignConfig,
                  batch_size: int) -> list[AlignResult]:
    """`align` over consecutive batches of `batch_size` rows, the way a suite runs many images.

    Under `torch.distributed` (e.g. `torchrun`) batch i runs on rank i % world and every rank gets
    every result: each batch is the same computation as in one process (same rows, same
    companions, same seeds), so the results are bit-identical to a single process with the same
    threads per process.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    starts = list(range(0, len(pixels), batch_size))
    batches = shard_map(lambda i: align(engine, pixels[i:i + batch_size], targets[i:i + batch_size], config),
                        starts)
    return [result for batch in batches for result in batch]


@dataclass
class _Run:
    delta: torch.Tensor
    loss: list[list[float]]
    cosine: list[list[float]]
    residual: list[float]
    steps: list[int]
    zero_grad: list[bool]


def _run(engine: Engine, x0: torch.Tensor, t: torch.Tensor, config: AlignConfig, restart: int) -> _Run:
    """One restart for the whole batch; an image stops updating once it meets the stop rule."""
    n = x0.shape[0]
    delta = project(_init(x0, config, restart), x0, config.budget, config.radius).requires_grad_(True)
    adam = torch.optim.Adam([delta], lr=config.step_size) if config.optimizer == "adam" else None
    velocity = torch.zeros_like(delta)
    active = torch.ones(n, dtype=torch.bool, device=x0.device)
    run = _Run(delta, [[] for _ in range(n)], [[] for _ in range(n)], [0.0] * n, [0] * n, [False] * n)
    t_norm = t.norm(dim=1)
    for step in range(config.steps + 1):
        idx = active.nonzero().flatten()
        out = engine.embed_pixels((x0[idx] + delta[idx]).clamp(0.0, 1.0), normalize=config.normalize)
        loss = 0.5 * (out - t[idx]).pow(2).sum(dim=1)
        traced = loss.detach()
        cos = torch.nn.functional.cosine_similarity(out.detach(), t[idx], dim=1)
        residual = (out.detach() - t[idx]).norm(dim=1) / t_norm[idx]
        for j, i in enumerate(idx.tolist()):
            run.loss[i].append(float(traced[j]))
            run.cosine[i].append(float(cos[j]))
            run.residual[i] = float(residual[j])
        met = _met(config, cos, residual)
        if step == config.steps or bool(met.all()):
            break
        grad = (torch.autograd.grad(loss.sum(), delta, allow_unused=True, materialize_grads=True)[0]
                if loss.requires_grad else torch.zeros_like(delta))
        with torch.no_grad():
            for j, i in enumerate(idx.tolist()):
                if step == 0 and not grad[i].any():
                    run.zero_grad[i] = True
                if met[j]:
                    active[i] = False
                else:
                    run.steps[i] += 1
            moving = active.view(-1, 1, 1, 1)
            frozen = delta.detach().clone()
            if adam is not None:
                delta.grad = grad
                adam.step()
            else:
                velocity.mul_(config.momentum).add_(grad / grad.flatten(1).abs().mean(1).clamp_min(1e-30)
                                                    .view(-1, 1, 1, 1))
                delta.sub_(config.step_size * _direction(velocity, config.budget))
            delta.copy_(torch.where(moving, project(delta, x0, config.budget, config.radius), frozen))
        if not bool(active.any()):
            break
    run.delta = delta.detach()
    return run


def _init(x0: torch.Tensor, config: AlignConfig, restart: int) -> torch.Tensor:
    """delta = 0 for restart 0; later restarts start uniformly in the L-inf cube of the ball's radius
    (or `init_radius`), seeded by (seed, restart) for the whole batch, so a restart's start depends
    on the image's position in the batch. The projection then puts them in the ball."""
    if restart == 0:
        return torch.zeros_like(x0)
    radius = config.radius if config.radius is not None else config.init_radius
    gen = torch.Generator().manual_seed(config.seed * 1_000_003 + restart)
    return ((torch.rand(x0.shape, generator=gen) * 2 - 1) * radius).to(x0.device)


def _direction(velocity: torch.Tensor, budget: Budget) -> torch.Tensor:
    if budget == "l2":
        return velocity / velocity.flatten(1).norm(dim=1).clamp_min(1e-30).view(-1, 1, 1, 1)
    return velocity.sign()


def _met(config: AlignConfig, cos: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    if config.stop == "cosine":
        return cos >= config.threshold
    if config.stop == "residual":
        return residual <= config.threshold
    return torch.zeros_like(cos, dtype=torch.bool)


def _same_rows(a: torch.Tensor, b: torch.Tensor) -> list[bool]:
    """Rows equal to fp32 rounding: the output did not move when the whole image changed."""
    scale = a.abs().amax(dim=1).clamp_min(1.0)
    return ((a - b).abs().amax(dim=1) <= 1e-6 * scale).tolist()
