"""The scoring seam: items -> score tables, for every model family and every blind baseline.

A benchmark rule only ever sees fp32 tables: image -> K caption options `[N, K]`, caption -> K image
options `[N, K]`, or small grids `[N, T, I]` (Winoground groups, image pairs). Every table is built
from one primitive, the score of an (image, text) pair, so a scorer that can only score pairs
(generative likelihood, VQAScore) fits the same seam as one that embeds both sides (cosine).

Identical inputs score bit-identically, everywhere: `pairs` scores each distinct (image, view,
text) once and indexes the result, so two options with the same text always tie exactly (a tie is
real, never float noise).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from vlmaudit.data.images import ImageRef
from vlmaudit.errors import SpecError
from vlmaudit.perturb.base import ImageTransform

View = ImageTransform | None  # what is done to an image before the model sees it (None: nothing)
Images = Sequence[ImageRef]
Texts = Sequence[str]


def _views(images: Sequence[ImageRef], views: Sequence[View] | None) -> list[View]:
    if views is None:
        return [None] * len(images)
    if len(views) != len(images):
        raise ValueError(f"{len(images)} images but {len(views)} views")
    return list(views)


def _width(rows: Sequence[Sequence[object]], what: str) -> int:
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        raise ValueError(f"every item needs the same number of {what}, got {sorted(widths)}")
    return widths.pop() if widths else 0


class Scorer(ABC):
    """Scores (image, text) pairs; the three table shapes are built on that one primitive."""

    name: str = "model"
    # True when the score ignores the image (a text-only prior): report readers use it to tell
    # blind baselines from the model.
    blind: bool = False

    def with_score_dtype(self, dtype: str) -> Scorer:
        """This scorer with scores computed at `dtype` (the legacy fp16 path exists for cosine only)."""
        if dtype != "fp32":
            raise SpecError(f"score_dtype={dtype!r} applies to cosine scorers only (not {self.name})")
        return self

    @abstractmethod
    def score_unique(self, images: Images, views: Sequence[View], texts: Texts) -> np.ndarray:
        """[P] fp32 scores of distinct pairs (images[p] seen through views[p], texts[p])."""

    def pairs(self, images: Images, texts: Texts, views: Sequence[View] | None = None) -> np.ndarray:
        """[P] fp32 s(image_p, text_p); each distinct pair is scored once, so duplicates tie exactly."""
        if len(images) != len(texts):
            raise ValueError(f"{len(images)} images but {len(texts)} texts")
        views = _views(images, views)
        keys = [(ref.key, view.id if view is not None else "", text)
                for ref, view, text in zip(images, views, texts, strict=True)]
        index: dict[tuple[str, str, str], int] = {}
        for p, key in enumerate(keys):
            index.setdefault(key, p)
        firsts = list(index.values())
        if not firsts:
            return np.zeros(0, dtype=np.float32)
        unique = np.asarray(self.score_unique([images[p] for p in firsts], [views[p] for p in firsts],
                                              [texts[p] for p in firsts]), dtype=np.float32)
        if unique.shape != (len(firsts),):
            raise ValueError(f"scorer {self.name} returned shape {unique.shape} for {len(firsts)} pairs")
        slot = {key: i for i, key in enumerate(index)}
        return unique[[slot[key] for key in keys]]

    def image_options(self, images: Sequence[ImageRef], options: Sequence[Sequence[str]],
                      views: Sequence[View] | None = None) -> np.ndarray:
        """[N, K] s(image_n, option_nk): one image, K caption options (ARO, SugarCrepe, What'sUp)."""
        k = _width(options, "caption options")
        views = _views(images, views)
        flat = self.pairs([ref for ref in images for _ in range(k)], [t for row in options for t in row],
                          [view for view in views for _ in range(k)])
        return flat.reshape(len(images), k)

    def text_options(self, texts: Sequence[str], options: Sequence[Sequence[ImageRef]]) -> np.ndarray:
        """[N, K] s(option_nk, text_n): one caption, K image options."""
        k = _width(options, "image options")
        flat = self.pairs([ref for row in options for ref in row], [t for t in texts for _ in range(k)])
        return flat.reshape(len(texts), k)

    def grid(self, images: Sequence[Sequence[ImageRef]], texts: Sequence[Sequence[str]]) -> np.ndarray:
        """[N, T, I] s(text_nt, image_ni) for small per-item grids (2x2 groups, image pairs)."""
        n_img, n_txt = _width(images, "images"), _width(texts, "texts")
        refs = [row[i] for row in images for _ in range(n_txt) for i in range(n_img)]
        flat = self.pairs(refs, [row[t] for row in texts for t in range(n_txt) for _ in range(n_img)])
        return flat.reshape(len(images), n_txt, n_img)
