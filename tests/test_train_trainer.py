"""The trainer on a tiny dual encoder and hand-made colour-patch captions (no scene generator needed)."""

from __future__ import annotations

import pytest
import torch

from vlmaudit.errors import DataError
from vlmaudit.models.base import hash_state_dict
from vlmaudit.models.builtin_arch import DualEncoder, DualEncoderConfig
from vlmaudit.train.checkpoint import latest_checkpoint, load_checkpoint
from vlmaudit.train.trainer import Batch, TrainConfig, Trainer

COLOURS = {"red": (1, 0, 0), "green": (0, 1, 0), "blue": (0, 0, 1), "yellow": (1, 1, 0),
           "white": (1, 1, 1), "black": (0, 0, 0), "cyan": (0, 1, 1), "purple": (1, 0, 1)}
NAMES = list(COLOURS)


def tiny_model(**overrides) -> DualEncoder:
    torch.manual_seed(0)
    cfg = DualEncoderConfig(vocab=("a", "patch", *NAMES), context=8, image_size=16, conv_channels=(4, 8, 16),
                            conv_strides=(2, 2, 1), text_width=16, text_depth=1, heads=2, embed_dim=16,
                            **overrides)
    return DualEncoder(cfg)


def patches(step: int, negatives: bool = False) -> Batch:
    """Noisy colour patches captioned "a <colour> patch"; negatives name a wrong colour."""
    gen = torch.Generator().manual_seed(1000 + step)
    order = torch.randperm(len(NAMES), generator=gen).tolist()
    base = torch.stack([torch.tensor(COLOURS[NAMES[i]], dtype=torch.float32).view(3, 1, 1).expand(3, 16, 16)
                        for i in order])
    images = 0.8 * base + 0.2 * torch.rand(len(order), 3, 16, 16, generator=gen)
    texts = [f"a {NAMES[i]} patch" for i in order]
    neg = [f"a {NAMES[(i + 1) % len(NAMES)]} patch" for i in order] if negatives else None
    return Batch(images, texts, neg)


def config(**overrides) -> TrainConfig:
    base = {"steps": 30, "lr": 5e-3, "progress": False, "threads": 1, "bf16": False}
    return TrainConfig(**{**base, **overrides})


def test_loss_goes_down_and_checkpoints_resume_to_the_same_weights(tmp_path) -> None:
    full = tiny_model()
    result = Trainer(full, config(checkpoint_every=10), tmp_path / "a").fit(patches)
    first, last = [loss for _, loss in result.losses[:5]], [loss for _, loss in result.losses[-5:]]
    assert sum(last) < 0.5 * sum(first)
    assert result.step == 30 and result.steps_per_second > 0
    assert (tmp_path / "a" / "train_log.jsonl").read_text().count("\n") == 3

    # interrupted run: stop after 20 steps' checkpoints, then resume with a fresh model object
    partial = Trainer(tiny_model(), config(checkpoint_every=10), tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        partial.fit(lambda s: patches(s) if s < 20 else _interrupt())
    ckpt = latest_checkpoint(tmp_path / "b")
    assert ckpt is not None and load_checkpoint(ckpt).step == 20
    resumed_model = tiny_model()
    resumed = Trainer(resumed_model, config(checkpoint_every=10), tmp_path / "b").fit(patches, resume=True)
    assert resumed.start_step == 20 and resumed.step == 30
    assert hash_state_dict(resumed_model.state_dict()) == hash_state_dict(full.state_dict())


def _interrupt() -> Batch:
    raise KeyboardInterrupt


def test_same_seed_same_weights_and_bf16_runs() -> None:
    hashes = set()
    for _ in range(2):
        model = tiny_model()
        Trainer(model, config(steps=8, bf16=True)).fit(patches)
        hashes.add(hash_state_dict(model.state_dict()))
    assert len(hashes) == 1
    untrained = tiny_model()
    assert hash_state_dict(untrained.state_dict()) not in hashes


def test_an_iterable_source_is_skipped_ahead_on_resume(tmp_path) -> None:
    reference = tiny_model()
    Trainer(reference, config(steps=12)).fit(patches(s) for s in range(100))
    with pytest.raises(KeyboardInterrupt):
        Trainer(tiny_model(), config(steps=12, checkpoint_every=6), tmp_path).fit(
            (patches(s) if s < 6 else _interrupt()) for s in range(100)
        )
    model = tiny_model()
    trainer = Trainer(model, config(steps=12, checkpoint_every=6), tmp_path)
    trainer.fit((patches(s) for s in range(100)), resume=True)
    assert hash_state_dict(model.state_dict()) == hash_state_dict(reference.state_dict())


def test_resume_refuses_a_checkpoint_from_another_config(tmp_path) -> None:
    Trainer(tiny_model(), config(steps=4), tmp_path).fit(patches)
    with pytest.raises(DataError, match="different training config"):
        Trainer(tiny_model(), config(steps=4, lr=1e-3), tmp_path).fit(patches, resume=True)


def test_logit_scale_is_clamped_at_the_maximum() -> None:
    model = tiny_model(logit_scale_init=99.0)
    Trainer(model, config(steps=5, lr=0.5, max_logit_scale=100.0)).fit(patches)
    assert float(model.logit_scale.detach().exp()) <= 100.0 + 1e-3


def test_hard_negatives_change_training_and_sigmoid_loss_learns() -> None:
    plain, negclip = tiny_model(), tiny_model()
    Trainer(plain, config(steps=3)).fit(patches)
    Trainer(negclip, config(steps=3)).fit(lambda s: patches(s, negatives=True))
    assert hash_state_dict(plain.state_dict()) != hash_state_dict(negclip.state_dict())

    model = tiny_model()  # no logit_bias parameter: the trainer supplies SigLIP's own
    trainer = Trainer(model, config(steps=30, loss="sigmoid"))
    result = trainer.fit(patches)
    assert "logit_bias" in dict(trainer.head.named_parameters())
    losses = [loss for _, loss in result.losses]
    assert sum(losses[-5:]) < 0.5 * sum(losses[:5])


def test_weight_decay_applies_to_matrices_only() -> None:
    trainer = Trainer(tiny_model(), config())
    decay, no_decay = trainer.optimizer.param_groups
    assert decay["weight_decay"] > 0 and no_decay["weight_decay"] == 0
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim < 2 for p in no_decay["params"])
