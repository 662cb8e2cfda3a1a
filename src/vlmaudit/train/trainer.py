"""One contrastive trainer for every recipe: the built-in model, fine-tuning, bias studies.

It trains any `nn.Module` with `encode_images([0,1] pixels)` and `encode_texts(strings or ids)` on
batches from a source, with CLIP's InfoNCE or SigLIP's sigmoid loss, optional hard-negative columns,
AdamW + warmup/cosine by step, optional bf16 autocast, and resumable safetensors checkpoints.

Determinism: the learning rate is a function of the step, the batch for step s comes from the
source (a callable source is asked for `source(s)`, so a resumed run sees the same batches), and
checkpoints carry the optimizer and the torch RNG, so stopping and resuming reproduces the weights
of an uninterrupted run exactly on the same machine and thread count.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from vlmaudit.errors import DataError
from vlmaudit.train.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    restore,
    save_checkpoint,
)
from vlmaudit.train.losses import LOSSES, clip_loss, sigmoid_loss
from vlmaudit.train.schedule import warmup_cosine

Texts = Sequence[str] | torch.Tensor


@dataclass
class Batch:
    """Row i of `images` matches row i of `texts`; negatives are extra columns (any count)."""

    images: torch.Tensor  # [B, 3, H, W] in [0, 1]
    texts: Texts
    neg_texts: Texts | None = None
    neg_images: torch.Tensor | None = None


BatchSource = Callable[[int], Batch] | Iterable[Batch]


@dataclass
class TrainConfig:
    steps: int
    lr: float = 2e-3
    weight_decay: float = 0.05  # applied to tensors with ndim >= 2 only (matrices, convs, embeddings)
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    warmup: float = 0.03  # fraction of steps when < 1, else a step count
    final_lr_ratio: float = 0.0
    loss: str = "clip"
    bf16: bool = True  # autocast both towers; the loss is always fp32
    seed: int = 0
    grad_clip: float | None = None
    max_logit_scale: float = 100.0
    # below: do not change the result, so they may differ between a run and its resumption
    checkpoint_every: int = 0  # 0: only at the end
    keep_checkpoints: int = 2
    threads: int | None = None
    progress: bool = True
    log_every: int = 10

    _RUNTIME = ("checkpoint_every", "keep_checkpoints", "threads", "progress", "log_every")

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r} (use one of {LOSSES})")
        if self.steps <= 0:
            raise ValueError("steps must be positive")

    @property
    def warmup_steps(self) -> int:
        return max(1, round(self.warmup * self.steps) if self.warmup < 1 else int(self.warmup))

    def result_defining(self) -> dict:
        """The settings that change the trained weights (compared on resume)."""
        data = {k: v for k, v in asdict(self).items() if k not in self._RUNTIME}
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in data.items()}


@dataclass
class TrainResult:
    step: int  # optimizer steps taken in total (including before a resume)
    start_step: int
    seconds: float = 0.0  # wall time of this session's steps
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, loss) of this session
    logit_scale: float = float("nan")

    @property
    def steps_per_second(self) -> float:
        done = self.step - self.start_step
        return done / self.seconds if self.seconds > 0 else float("nan")


class LogitHead(nn.Module):
    """The temperature (and SigLIP bias) when the model does not own them as parameters."""

    def __init__(self, model: nn.Module, loss: str) -> None:
        super().__init__()
        if not isinstance(getattr(model, "logit_scale", None), nn.Parameter):
            self.logit_scale = nn.Parameter(torch.tensor(math.log(10.0 if loss == "sigmoid" else 1 / 0.07)))
        if loss == "sigmoid" and not isinstance(getattr(model, "logit_bias", None), nn.Parameter):
            self.logit_bias = nn.Parameter(torch.tensor(-10.0))  # SigLIP's init

    def param(self, model: nn.Module, name: str) -> nn.Parameter:
        own = self._parameters.get(name)
        return own if own is not None else getattr(model, name)


def _cat_texts(texts: Texts, extra: Texts | None) -> Texts:
    if extra is None:
        return texts
    if isinstance(texts, torch.Tensor):
        return torch.cat([texts, extra])
    return [*texts, *extra]


def _batches(source: BatchSource, start: int) -> Iterator[Batch]:
    """Batches from step `start` on: a callable source is indexed, an iterable one is skipped ahead."""
    if callable(source):
        return (source(step) for step in itertools.count(start))
    return itertools.islice(iter(source), start, None)


class Trainer:
    def __init__(self, model: nn.Module, config: TrainConfig, out_dir: Path | None = None) -> None:
        self.model = model
        self.config = config
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.head = LogitHead(model, config.loss)
        self.optimizer = self._optimizer()

    def _optimizer(self) -> torch.optim.AdamW:
        params = [*self.model.named_parameters(), *self.head.named_parameters(prefix="head")]
        decay = [p for _, p in params if p.requires_grad and p.ndim >= 2]
        no_decay = [p for _, p in params if p.requires_grad and p.ndim < 2]
        groups = [
            {"params": decay, "weight_decay": self.config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        cfg = self.config
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)

    def _modules(self) -> dict[str, nn.Module]:
        return {"model": self.model, "head": self.head}

    def _resume(self) -> int:
        if self.out_dir is None:
            raise ValueError("resume needs an out_dir")
        path = latest_checkpoint(self.out_dir)
        if path is None:
            return 0
        ckpt = load_checkpoint(path)
        saved = ckpt.meta.get("train_config")
        if saved != self.config.result_defining():
            raise DataError(f"{path} was written with a different training config; use a fresh --out")
        restore(ckpt, self._modules(), self.optimizer)
        return ckpt.step

    def _save(self, step: int) -> None:
        if self.out_dir is None:
            return
        meta = {"train_config": self.config.result_defining()}
        save_checkpoint(checkpoint_path(self.out_dir, step), step, self._modules(), self.optimizer, meta)
        prune_checkpoints(self.out_dir, self.config.keep_checkpoints)

    def loss(self, batch: Batch) -> torch.Tensor:
        """Loss of one batch under the configured objective (fp32)."""
        model, n_img, n_txt = self.model, batch.images.shape[0], len(batch.texts)
        images = batch.images if batch.neg_images is None else torch.cat([batch.images, batch.neg_images])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.config.bf16):
            img = model.encode_images(images)
            txt = model.encode_texts(_cat_texts(batch.texts, batch.neg_texts))
        img, txt = F.normalize(img.float(), dim=-1), F.normalize(txt.float(), dim=-1)
        neg_img = img[n_img:] if batch.neg_images is not None else None
        neg_txt = txt[n_txt:] if batch.neg_texts is not None else None
        scale = self.head.param(model, "logit_scale").float().exp()
        if self.config.loss == "sigmoid":
            bias = self.head.param(model, "logit_bias").float()
            return sigmoid_loss(img[:n_img], txt[:n_txt], scale, bias, neg_txt, neg_img)
        return clip_loss(img[:n_img], txt[:n_txt], scale, neg_txt, neg_img)

    def fit(self, source: BatchSource, *, resume: bool = False) -> TrainResult:
        """Train until `config.steps` optimizer steps; with resume, continue from the newest checkpoint."""
        cfg = self.config
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        start = self._resume() if resume else 0
        result = TrainResult(step=start, start_step=start)
        log = self.out_dir / "train_log.jsonl" if self.out_dir is not None else None
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
        scale_param = self.head.param(self.model, "logit_scale")
        self.model.train()
        began = time.perf_counter()
        bar = tqdm(total=cfg.steps, initial=start, disable=None if cfg.progress else True,
                   desc="train", unit="step")  # None: only on a TTY; logs get train_log.jsonl
        batches = _batches(source, start)
        for step in range(start, cfg.steps):
            lr = warmup_cosine(step, cfg.steps, cfg.warmup_steps, cfg.lr, cfg.final_lr_ratio)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            loss = self.loss(next(batches))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss is {loss.item()} at step {step}")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]],
                                         cfg.grad_clip)
            self.optimizer.step()
            with torch.no_grad():  # open_clip's convention: clamp the log-scale in place after the step
                scale_param.clamp_(0, math.log(cfg.max_logit_scale))
            done = step + 1
            result.losses.append((step, loss.item()))
            result.step = done
            bar.update(1)
            if done % cfg.log_every == 0 or done == cfg.steps:
                scale = scale_param.detach().exp().item()
                bar.set_postfix(loss=f"{loss.item():.3f}", scale=f"{scale:.1f}")
                if log is not None:
                    entry = {"step": done, "loss": loss.item(), "lr": lr, "logit_scale": scale}
                    with log.open("a") as handle:
                        handle.write(json.dumps(entry) + "\n")
            if done == cfg.steps or (cfg.checkpoint_every and done % cfg.checkpoint_every == 0):
                self._save(done)
        bar.close()
        result.seconds = time.perf_counter() - began
        result.logit_scale = scale_param.exp().item()
        self.model.eval()
        return result
