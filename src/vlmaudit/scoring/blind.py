"""Blind scorers: what a benchmark gives to a scorer that ignores the image (or the text).

Each one is a `Scorer`, so the benchmark's own rule (tie policy, macro grouping, pair and group
consistency) applies unchanged and the blind number sits beside the model's on the same items.
SugarCrepe ADD is won ~98% of the time by picking the shorter caption; What'sUp's caption prior is
a real model's preference with no image; a constant scorer ties everything, which shows what a
tie policy alone gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from vlmaudit.data.images import ImageRef
from vlmaudit.metrics.baselines import words
from vlmaudit.scoring.base import Images, Scorer, Texts, View
from vlmaudit.scoring.cosine import CosineScorer, paired_dot


class LengthScorer(Scorer):
    """Prefers the shorter (or longer) caption, in words; equal word counts tie.

    Words, not characters: that is the unit in which SugarCrepe's ADD bias shows (positive shorter
    in 97.6% / 98.7% of add_obj / add_att items).
    """

    blind = True

    def __init__(self, prefer: Literal["shorter", "longer"]) -> None:
        if prefer not in ("shorter", "longer"):
            raise ValueError(f"prefer must be 'shorter' or 'longer', got {prefer!r}")
        self.sign = -1.0 if prefer == "shorter" else 1.0
        self.name = f"length_{prefer}"

    def score_unique(self, images: Images, views: Sequence[View], texts: Texts) -> np.ndarray:
        return np.asarray([self.sign * len(words(text)) for text in texts], dtype=np.float32)


class ConstantScorer(Scorer):
    """Every pair scores 0: every choice is a tie, decided by the tie policy alone."""

    blind = True
    name = "constant"

    def score_unique(self, images: Images, views: Sequence[View], texts: Texts) -> np.ndarray:
        return np.zeros(len(texts), dtype=np.float32)


class TextPriorScorer(Scorer):
    """cos(neutral prompt, caption) from the model's own text encoder: its caption prior.

    If it picks the gold caption often, the benchmark is partly solvable from text alone *for this
    model*.
    """

    blind = True
    name = "text_prior"

    def __init__(self, engine, prompt: str = "a photo.", dtype: str = "fp32") -> None:
        self.engine, self.prompt, self.dtype = engine, prompt, dtype

    def score_unique(self, images: Images, views: Sequence[View], texts: Texts) -> np.ndarray:
        rows = self.engine.texts([self.prompt, *texts]).numpy()
        return paired_dot(np.repeat(rows[:1], len(texts), axis=0), rows[1:], self.dtype)


class ReferencePriorScorer(Scorer):
    """Mean over reference images R of cos(r, caption): What'sUp's caption prior (marginalization.py)."""

    blind = True
    name = "text_prior"

    def __init__(self, scorer: CosineScorer, reference: Sequence[ImageRef]) -> None:
        if not reference:
            raise ValueError("the caption prior needs at least one reference image")
        self.scorer, self.reference = scorer, list(reference)

    def score_unique(self, images: Images, views: Sequence[View], texts: Texts) -> np.ndarray:
        grid = self.scorer.grid([self.reference] * len(texts), [[text] for text in texts])  # [T, 1, R]
        return grid[:, 0, :].astype(np.float64).mean(axis=1).astype(np.float32)


class ImagePriorScorer(Scorer):
    """cos(neutral prompt, image): a text-blind scorer for caption -> image choices."""

    blind = True
    name = "image_prior"

    def __init__(self, scorer: CosineScorer, prompt: str = "a photo.") -> None:
        self.scorer, self.prompt = scorer, prompt

    def score_unique(self, images: Images, views: Sequence[View], texts: Texts) -> np.ndarray:
        return self.scorer.pairs(list(images), [self.prompt] * len(images), list(views))


def text_prior(scorer: Scorer, prompt: str = "a photo.") -> Scorer:
    """The caption prior of `scorer`'s own model family: for a dual encoder its text tower against a
    neutral prompt; for a generative model the same score with the image removed."""
    if isinstance(scorer, CosineScorer):
        return TextPriorScorer(scorer.engine, prompt, scorer.dtype)
    if hasattr(scorer, "language_prior"):
        return scorer.language_prior()
    raise TypeError(f"no text prior is defined for scorer {type(scorer).__name__}")


def caption_blind(scorer: Scorer, prompt: str = "a photo.") -> list[Scorer]:
    """The blind scorers of every image -> K captions benchmark: length both ways, the text prior."""
    return [LengthScorer("shorter"), LengthScorer("longer"), text_prior(scorer, prompt)]
