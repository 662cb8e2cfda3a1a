"""Grouped consistency metrics: What'sUp pairs and sets, Winoground 2x2 groups, MMVP-VLM image pairs.

A grouped metric credits a unit (an opposite-relation pair, a set of four prepositions, a 2x2
group) only when every comparison inside it is right. A model that answers from a caption prior or
an image prior can reach chance on single items, but scores zero on these units, which is why the
papers report them.

Every comparison goes through `selection.select` with an explicit tie policy. Inside a unit the
per-comparison outcomes are multiplied: binary outcomes give the logical AND the papers use, and
under `half` the product is the expected score when each tie is broken by an independent fair coin.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from vlmaudit.metrics.selection import Selection, TiePolicy, select


@dataclass(frozen=True)
class Grouped:
    """Unit outcomes plus the denominator the paper divides by.

    `denominator` equals the number of units whenever every unit is complete (the released data);
    the What'sUp code divides by N/2 or N/4 regardless, and so does `value`.
    """

    outcomes: np.ndarray  # [U] float: 1/0, or a fraction under "half"
    tied: np.ndarray  # [U] bool: some comparison inside the unit was tied
    keys: tuple[Hashable, ...]  # unit identifiers, aligned to outcomes
    denominator: float

    @property
    def value(self) -> float:
        return float(self.outcomes.sum() / self.denominator) if self.denominator else float("nan")

    @property
    def tie_rate(self) -> float:
        return float(self.tied.mean()) if self.tied.size else float("nan")

    def subset(self, mask: np.ndarray) -> Grouped:
        """The masked units alone (e.g. one Winoground tag), divided by their own count."""
        idx = np.flatnonzero(mask)
        return Grouped(self.outcomes[idx], self.tied[idx], tuple(self.keys[i] for i in idx), float(idx.size))

    @property
    def complete(self) -> bool:
        """Does the paper's denominator equal the number of units (so CIs over units are exact)?"""
        return float(len(self.outcomes)) == float(self.denominator)


# ---------------------------------------------------------------------------------------- What'sUp


def relation_pairs(
    selection: Selection,
    groups: Sequence[Hashable],
    relations: Sequence[str],
    opposites: Sequence[tuple[str, str]],
    denominator: float | None = None,
) -> Grouped:
    """What'sUp pair accuracy: both images of an opposite pair (e.g. left and right) correct.

    Units are every group x every opposite pair, as in the official `eval_dict`, which starts each
    preposition at 0: a missing image makes its unit wrong. `denominator` defaults to the number
    of units; the official code passes N/2 (all pairs) or N/4 (one relation pair, Li et al.).
    """
    by_key = _index(selection, groups, relations)
    keys, outcomes, tied = [], [], []
    for group in dict.fromkeys(groups):
        for pair in opposites:
            members = [by_key.get((group, rel)) for rel in pair]
            keys.append((group, *pair))
            outcomes.append(np.prod([m[0] if m else 0.0 for m in members]))
            tied.append(any(m[1] for m in members if m))
    return _grouped(keys, outcomes, tied, denominator)


def relation_sets(
    selection: Selection,
    groups: Sequence[Hashable],
    relations: Sequence[str],
    required: Sequence[str],
    denominator: float | None = None,
) -> Grouped:
    """What'sUp set accuracy: all `required` prepositions of a group correct (official: N/4)."""
    by_key = _index(selection, groups, relations)
    keys, outcomes, tied = [], [], []
    for group in dict.fromkeys(groups):
        members = [by_key.get((group, rel)) for rel in required]
        keys.append(group)
        outcomes.append(np.prod([m[0] if m else 0.0 for m in members]))
        tied.append(any(m[1] for m in members if m))
    return _grouped(keys, outcomes, tied, denominator)


def _index(
    selection: Selection, groups: Sequence[Hashable], relations: Sequence[str]
) -> dict[tuple[Hashable, str], tuple[float, bool]]:
    if not len(groups) == len(relations) == len(selection.correct):
        raise ValueError("selection, groups and relations must be aligned")
    by_key: dict[tuple[Hashable, str], tuple[float, bool]] = {}
    for group, rel, correct, tied in zip(groups, relations, selection.correct, selection.tied, strict=True):
        if (group, rel) in by_key:
            raise ValueError(f"two items for group {group!r} relation {rel!r}")
        by_key[(group, rel)] = (float(correct), bool(tied))
    return by_key


def _grouped(keys: list, outcomes: list, tied: list, denominator: float | None) -> Grouped:
    return Grouped(
        outcomes=np.asarray(outcomes, dtype=np.float64),
        tied=np.asarray(tied, dtype=bool),
        keys=tuple(keys),
        denominator=float(len(keys) if denominator is None else denominator),
    )


# -------------------------------------------------------------------------------------- Winoground


@dataclass(frozen=True)
class Winoground:
    text: Grouped
    image: Grouped
    group: Grouped


def winoground(scores: np.ndarray, tie_policy: TiePolicy = "strict", seed: int = 0) -> Winoground:
    """Text, image and group scores of 2x2 groups. scores: [N, 2, 2] indexed [caption, image].

    text  = s(C0,I0) > s(C1,I0) and s(C1,I1) > s(C0,I1)   (pick the caption for each image)
    image = s(C0,I0) > s(C0,I1) and s(C1,I1) > s(C1,I0)   (pick the image for each caption)
    group = text and image. `strict` is the paper's `>`; `argmax-first` reproduces CLIP_benchmark,
    where a tie counts right for I0/C0 and wrong for I1/C1.
    """
    s = np.asarray(scores, dtype=np.float32)
    if s.ndim != 3 or s.shape[1:] != (2, 2):
        raise ValueError(f"winoground scores must be [N, 2, 2], got {s.shape}")
    t0 = select(s[:, :, 0], 0, tie_policy, seed)  # image 0: captions C0, C1
    t1 = select(s[:, :, 1], 1, tie_policy, seed + 1)  # image 1
    i0 = select(s[:, 0, :], 0, tie_policy, seed + 2)  # caption 0: images I0, I1
    i1 = select(s[:, 1, :], 1, tie_policy, seed + 3)  # caption 1
    keys = tuple(range(len(s)))
    text = Grouped(t0.correct * t1.correct, t0.tied | t1.tied, keys, float(len(s)))
    image = Grouped(i0.correct * i1.correct, i0.tied | i1.tied, keys, float(len(s)))
    group = Grouped(text.outcomes * image.outcomes, text.tied | image.tied, keys, float(len(s)))
    return Winoground(text, image, group)


# ---------------------------------------------------------------------------------------- MMVP-VLM


@dataclass(frozen=True)
class ImagePairs:
    single: Selection  # [2P] one row per statement, pair-major
    pairs: Grouped  # [P] both statements of a pair pick their own image


def image_pairs(
    scores: np.ndarray,
    gold: np.ndarray,
    mode: str = "strict",
    logit_scale: float = 100.0,
    seed: int = 0,
) -> ImagePairs:
    """MMVP-VLM text->image pair accuracy. scores: [P, 2, 2] indexed [statement, image]; gold: [P, 2].

    mode "softmax" is the official `evaluate_vlm.py`: softmax(logit_scale * s) over the two images,
    predict image 1 iff p > 0.5, so a tie (or a gap too small to move fp32 p off 0.5) picks image 2.
    Any other mode is a tie policy for a plain argmax (`argmax-first`: ties pick image 1).
    """
    s = np.asarray(scores, dtype=np.float32)
    gold = np.asarray(gold, dtype=np.int64)
    if s.ndim != 3 or s.shape[1:] != (2, 2) or gold.shape != s.shape[:2]:
        raise ValueError(f"image-pair scores must be [P, 2, 2] with gold [P, 2], got {s.shape}, {gold.shape}")
    rows, gold_rows = s.reshape(-1, 2), gold.reshape(-1)
    if mode == "softmax":
        logits = np.float32(logit_scale) * rows
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        p_first = shifted[:, 0] / shifted.sum(axis=1)
        pick = np.where(p_first > 0.5, 0, 1)
        single = Selection((pick == gold_rows).astype(np.float64), rows[:, 0] == rows[:, 1])
    else:
        single = select(rows, gold_rows, mode, seed)  # type: ignore[arg-type]
    per_pair = single.correct.reshape(-1, 2)
    tied = single.tied.reshape(-1, 2).any(axis=1)
    pairs = Grouped(per_pair.prod(axis=1), tied, tuple(range(len(s))), float(len(s)))
    return ImagePairs(single, pairs)
