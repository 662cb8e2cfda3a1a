"""Scene batches are a pure function of (seed, step), so resumed and repeated runs see the same data."""

from __future__ import annotations

import torch

from vlmaudit.train.scenes_data import SceneBatches


def test_a_step_always_gives_the_same_batch_and_steps_differ() -> None:
    source = SceneBatches(seed=0, batch_size=8)
    a, b, other = source(3), SceneBatches(seed=0, batch_size=8)(3), source(4)
    assert torch.equal(a.images, b.images) and a.texts == b.texts
    assert not torch.equal(a.images, other.images)
    assert a.images.shape == (8, 3, 64, 64) and a.images.min() >= 0.0 and a.images.max() <= 1.0
    assert SceneBatches(seed=5, batch_size=8)(3).texts != a.texts


def test_negative_hook_adds_text_columns() -> None:
    source = SceneBatches(seed=0, batch_size=4, negatives=lambda scene, caption, rng: [f"no {caption.text}"])
    batch = source(0)
    assert batch.neg_texts == [f"no {t}" for t in batch.texts]
