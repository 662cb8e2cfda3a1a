"""Contrastive losses: InfoNCE against a plain reference, NegCLIP's column layout, SigLIP's sigmoid."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from vlmaudit.train.losses import clip_loss, sigmoid_loss
from vlmaudit.train.schedule import warmup_cosine


def _unit(*shape: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def _ce(logits: torch.Tensor, gold: int) -> float:
    return float(-logits.log_softmax(0)[gold])


def test_clip_loss_matches_a_loop_reference() -> None:
    img, txt, scale = _unit(5, 8, seed=0), _unit(5, 8, seed=1), torch.tensor(7.0)
    expected = sum(_ce(scale * txt @ img[i], i) + _ce(scale * img @ txt[i], i) for i in range(5)) / 10
    assert float(clip_loss(img, txt, scale)) == pytest.approx(expected, rel=1e-5)


def test_negclip_layout_extra_columns_only_in_image_to_text() -> None:
    img, txt, neg = _unit(4, 8, seed=0), _unit(4, 8, seed=1), _unit(3, 8, seed=2)
    scale = torch.tensor(10.0)
    columns = torch.cat([txt, neg])
    i2t = sum(_ce(scale * columns @ img[i], i) for i in range(4)) / 4  # softmax over B + 3 columns
    t2i = sum(_ce(scale * img @ txt[i], i) for i in range(4)) / 4  # positives only
    got = float(clip_loss(img, txt, scale, neg_text=neg))
    assert got == pytest.approx((i2t + t2i) / 2, rel=1e-5)
    assert got > float(clip_loss(img, txt, scale))  # extra columns can only add competitors


def test_negative_images_mirror_negative_texts() -> None:
    img, txt, neg = _unit(4, 8, seed=3), _unit(4, 8, seed=4), _unit(2, 8, seed=5)
    scale = torch.tensor(5.0)
    # swapping the roles of the towers turns image negatives into text negatives
    assert float(clip_loss(img, txt, scale, neg_image=neg)) == pytest.approx(
        float(clip_loss(txt, img, scale, neg_text=neg)), rel=1e-6
    )


def test_a_hard_negative_close_to_its_image_raises_the_loss_more_than_a_far_one() -> None:
    img, txt = _unit(4, 8, seed=6), _unit(4, 8, seed=7)
    scale = torch.tensor(20.0)
    close = F.normalize(img[:1] + 0.05 * txt[:1], dim=-1)
    far = -img[:1]
    assert float(clip_loss(img, txt, scale, neg_text=close)) > float(clip_loss(img, txt, scale, neg_text=far))


def test_clip_loss_gradient_reaches_the_temperature() -> None:
    log_scale = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    clip_loss(_unit(6, 8, seed=8), _unit(6, 8, seed=9), log_scale.exp()).backward()
    assert log_scale.grad is not None and log_scale.grad.abs() > 0


def test_sigmoid_loss_matches_a_pairwise_reference_and_counts_negatives_as_false_pairs() -> None:
    img, txt, neg = _unit(3, 8, seed=10), _unit(3, 8, seed=11), _unit(2, 8, seed=12)
    scale, bias = torch.tensor(10.0), torch.tensor(-5.0)
    ref = 0.0
    for i in range(3):
        for j in range(3):
            label = 1.0 if i == j else -1.0
            ref -= math.log(torch.sigmoid(label * (scale * img[i] @ txt[j] + bias)))
        for k in range(2):
            ref -= math.log(torch.sigmoid(-(scale * img[i] @ neg[k] + bias)))
    got = float(sigmoid_loss(img, txt, scale, bias, neg_text=neg))
    assert got == pytest.approx(ref / 3, rel=1e-5)
    assert got > float(sigmoid_loss(img, txt, scale, bias))


def test_sigmoid_loss_is_small_for_aligned_pairs_and_large_for_shuffled_ones() -> None:
    emb = _unit(8, 64, seed=13)
    scale, bias = torch.tensor(20.0), torch.tensor(-10.0)
    aligned = float(sigmoid_loss(emb, emb, scale, bias))
    shuffled = float(sigmoid_loss(emb, emb.roll(1, dims=0), scale, bias))
    assert aligned < 0.01 and shuffled > 10  # each shuffled row pays ~ -logsigmoid(-10) for its lost match


def test_warmup_cosine_is_a_function_of_the_step() -> None:
    assert warmup_cosine(0, 100, 10, 1.0) == pytest.approx(0.1)
    assert warmup_cosine(9, 100, 10, 1.0) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 10, 1.0) == pytest.approx(0.5)
    assert warmup_cosine(100, 100, 10, 1.0, final_ratio=0.1) == pytest.approx(0.1)
    values = [warmup_cosine(s, 100, 10, 1.0) for s in range(10, 100)]
    assert all(a >= b for a, b in itertools.pairwise(values))
