"""Shared plumbing of the spatial suite: scoring through the engine, handing outcomes to the metric kit.

Scores are fp32 cosines; `score_dtype="fp16"` instead rounds the normalised embeddings to fp16 and
takes the dot product in fp16, which is what the What'sUp/ARO code does with OpenAI's fp16 model
and numpy (it creates ties that fp32 does not have).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vlmaudit.data.images import ImageRef
from vlmaudit.errors import SpecError
from vlmaudit.metrics.grouped import Grouped
from vlmaudit.metrics.kit import Kit
from vlmaudit.metrics.selection import Selection
from vlmaudit.results import Metric

SCORE_DTYPES = {"fp32": np.float32, "fp16": np.float16}

Result = Selection | Grouped
Block = dict[tuple[str, str], tuple[Result, float]]  # (group suffix, metric) -> (result, chance)


def check_score_dtype(dtype: str) -> str:
    if dtype not in SCORE_DTYPES:
        raise SpecError(f"score_dtype must be one of {sorted(SCORE_DTYPES)}, got {dtype!r}")
    return dtype


@dataclass
class Scorer:
    """Embeds through the run's engine (cached, deduplicated) and returns cosine tables."""

    engine: Any
    dtype: str = "fp32"
    neutral_prompt: str = "a photo."

    def __post_init__(self) -> None:
        check_score_dtype(self.dtype)

    def _cast(self, rows: Any) -> np.ndarray:
        return rows.numpy().astype(SCORE_DTYPES[self.dtype])

    def images(self, refs: Sequence[ImageRef]) -> np.ndarray:
        return self._cast(self.engine.images(list(refs)))

    def texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._cast(self.engine.texts(list(texts)))

    def options(self, refs: Sequence[ImageRef], options: Sequence[Sequence[str]]) -> np.ndarray:
        """[N, K] s(image_n, option_nk) for K options per image."""
        width = len(options[0])
        img = self.images(refs)
        txt = self.texts([t for row in options for t in row]).reshape(len(refs), width, -1)
        return np.einsum("nd,nkd->nk", img, txt).astype(np.float32)

    def grid(self, refs: Sequence[Sequence[ImageRef]], texts: Sequence[Sequence[str]]) -> np.ndarray:
        """[N, T, I] s(text_nt, image_ni) for small per-item grids (2x2 groups, image pairs)."""
        n, k_img, k_txt = len(refs), len(refs[0]), len(texts[0])
        img = self.images([r for row in refs for r in row]).reshape(n, k_img, -1)
        txt = self.texts([t for row in texts for t in row]).reshape(n, k_txt, -1)
        return np.einsum("ntd,nid->nti", txt, img).astype(np.float32)

    def image_prior(self, refs: Sequence[ImageRef]) -> np.ndarray:
        """[N] s(neutral prompt, image): a text-blind scorer for text->image choices."""
        prompt = self.texts([self.neutral_prompt])[0]
        return (self.images(refs) @ prompt).astype(np.float32)

    def text_prior_on(self, texts: Sequence[str], reference: Sequence[ImageRef]) -> np.ndarray:
        """[T] mean over reference images R of s(i', t): What'sUp's caption prior (marginalization.py)."""
        return (self.images(reference) @ self.texts(texts).T).mean(axis=0).astype(np.float32)


def emit(kit: Kit, group: str, score: Callable[[np.ndarray], Block], table: np.ndarray,
         blind: dict[str, np.ndarray], variant: str, policy: str, extra: dict[str, float],
         infix: str = "", notes: str = "") -> list[Metric]:
    """Metrics of one score table, each with the same metric computed on every blind table.

    Grouped units keyed (group, a, b) are bootstrapped clustered by group; a unit set that misses
    images keeps the paper's denominator.
    """
    main = score(table)
    base = {name: score(t) for name, t in blind.items()}
    out = []
    for (sub, metric), (result, chance) in main.items():
        baselines = {name: value(b[(sub, metric)][0]) for name, b in base.items()} | extra
        common = dict(group=group + sub, variant=variant, rule=policy, chance=chance, baselines=baselines,
                      notes=notes)
        if isinstance(result, Selection):
            out.append(kit.metric(metric + infix, result.correct, tied=result.tied, **common))
        else:
            by_group = bool(result.keys) and isinstance(result.keys[0], tuple)  # (group, a, b) units
            clusters = [key[0] for key in result.keys] if by_group else None
            out.append(kit.metric(metric + infix, result.outcomes, tied=result.tied, clusters=clusters,
                                  denominator=result.denominator, **common))
    return out


def share(sel: Selection, mask: np.ndarray, denominator: float | None) -> Grouped:
    """Per-image outcomes of the masked items over the paper's denominator (None: their count)."""
    idx = np.flatnonzero(mask)
    return Grouped(sel.correct[idx], sel.tied[idx], tuple(idx.tolist()),
                   float(idx.size if denominator is None else denominator))


def value(result: Result) -> float:
    return result.accuracy if isinstance(result, Selection) else result.value


def variants(main: str, legacy: str | None, with_legacy: bool) -> list[tuple[str, str]]:
    """(variant, policy) pairs: the configured policy, plus the benchmark's own rule if it differs."""
    out = [("", main)]
    if with_legacy and legacy is not None and legacy != main:
        out.append(("legacy", legacy))
    return out
