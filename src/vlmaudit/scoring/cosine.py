"""Cosine similarity of a dual encoder's cached embeddings: the default scorer.

Embeddings come from the run's engine (cached, deduplicated, sharded under torchrun). The dot
product is taken once per distinct pair of embedding *rows* (compared by content), so two inputs
that embed identically — the same caption twice, or a model whose text embeddings coincide — get
bit-identical scores. Products of fp32 values are exact in fp64, so the fp64 sum rounded to fp32 is
the correctly rounded cosine up to one rounding of the sum.

`dtype="fp16"` is the legacy What'sUp/ARO path: embeddings rounded to fp16 and the dot product taken
in fp16, as their numpy code does with OpenAI's fp16 model (it creates ties fp32 does not have).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vlmaudit.data.images import ImageRef
from vlmaudit.errors import SpecError
from vlmaudit.scoring.base import Images, Scorer, Texts, View

SCORE_DTYPES = {"fp32": np.float32, "fp16": np.float16}


def check_score_dtype(dtype: str) -> str:
    if dtype not in SCORE_DTYPES:
        raise SpecError(f"score_dtype must be one of {sorted(SCORE_DTYPES)}, got {dtype!r}")
    return dtype


def _distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows, index of each input row among them), rows compared bit for bit."""
    contiguous = np.ascontiguousarray(rows)
    if contiguous.shape[0] == 0:
        return contiguous, np.zeros(0, dtype=np.int64)
    as_bytes = contiguous.view(np.dtype((np.void, contiguous.dtype.itemsize * contiguous.shape[1])))
    _, first, inverse = np.unique(as_bytes.ravel(), return_index=True, return_inverse=True)
    return contiguous[first], inverse.ravel().astype(np.int64)


def indexed_dot(a: np.ndarray, ia: np.ndarray, b: np.ndarray, ib: np.ndarray, dtype: str = "fp32",
                chunk: int = 65536) -> np.ndarray:
    """[P] a[ia[p]] . b[ib[p]], computed once per distinct pair of row *contents*.

    Rows are deduplicated by their bytes first, so equal embeddings under different keys (two
    captions a model cannot tell apart) score bit-identically too.
    """
    cast = SCORE_DTYPES[check_score_dtype(dtype)]
    ia, ib = np.asarray(ia, dtype=np.int64), np.asarray(ib, dtype=np.int64)
    if ia.shape != ib.shape:
        raise ValueError(f"indexed_dot needs aligned indices, got {ia.shape} and {ib.shape}")
    if ia.size == 0:
        return np.zeros(0, dtype=np.float32)
    rows_a, remap_a = _distinct_rows(np.asarray(a).astype(cast))
    rows_b, remap_b = _distinct_rows(np.asarray(b).astype(cast))
    codes = remap_a[ia] * len(rows_b) + remap_b[ib]
    pair_ids, inverse = np.unique(codes, return_inverse=True)
    left_ids, right_ids = pair_ids // len(rows_b), pair_ids % len(rows_b)
    dots = np.empty(len(pair_ids), dtype=np.float32)
    for start in range(0, len(pair_ids), chunk):
        left = rows_a[left_ids[start : start + chunk]]
        right = rows_b[right_ids[start : start + chunk]]
        if cast is np.float16:  # fp16 arithmetic, like the legacy numpy code
            dots[start : start + chunk] = np.einsum("pd,pd->p", left, right)
        else:
            left, right = left.astype(np.float64), right.astype(np.float64)
            dots[start : start + chunk] = np.einsum("pd,pd->p", left, right)
    return dots[inverse.ravel()]


def dot_table(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[A, B] fp32 a[i] . b[j] for every pair, once per distinct pair of row contents (rows deduplicated
    as in indexed_dot, fp64 sum rounded to fp32). For a full table (zero-shot: images x classes) one
    fp64 GEMM over the distinct rows, not indexed_dot's per-pair products over A*B index pairs."""
    rows_a, remap_a = _distinct_rows(np.asarray(a, dtype=np.float32))
    rows_b, remap_b = _distinct_rows(np.asarray(b, dtype=np.float32))
    table = (rows_a.astype(np.float64) @ rows_b.astype(np.float64).T).astype(np.float32)
    return table[remap_a][:, remap_b]


def paired_dot(a: np.ndarray, b: np.ndarray, dtype: str = "fp32") -> np.ndarray:
    """[P] a[p] . b[p] for aligned rows (see indexed_dot)."""
    if a.shape != b.shape:
        raise ValueError(f"paired_dot needs equal shapes, got {a.shape} and {b.shape}")
    index = np.arange(a.shape[0])
    return indexed_dot(a, index, b, index, dtype)


class CosineScorer(Scorer):
    """s(image, text) = cos(f(image), g(text)) from the engine's L2-normalised embeddings."""

    def __init__(self, engine, dtype: str = "fp32", name: str = "model") -> None:
        self.engine = engine
        self.dtype = check_score_dtype(dtype)
        self.name = name

    def with_score_dtype(self, dtype: str) -> CosineScorer:
        return self if dtype == self.dtype else CosineScorer(self.engine, dtype, self.name)

    def score_unique(self, images: Images, views: Sequence[View], texts: Texts) -> np.ndarray:
        return self.pairs(images, texts, views)

    def pairs(self, images: Images, texts: Texts, views: Sequence[View] | None = None) -> np.ndarray:
        """Embeds each distinct image and text once; no per-pair key building (the engine dedups)."""
        if len(images) != len(texts):
            raise ValueError(f"{len(images)} images but {len(texts)} texts")
        if not texts:
            return np.zeros(0, dtype=np.float32)
        views = [None] * len(images) if views is None else list(views)
        image_keys = [(ref.key, view.id if view is not None else "")
                      for ref, view in zip(images, views, strict=True)]
        first_image: dict[tuple[str, str], int] = {}
        for i, key in enumerate(image_keys):
            first_image.setdefault(key, i)
        image_slot = {key: s for s, key in enumerate(first_image)}
        text_slot = {text: s for s, text in enumerate(dict.fromkeys(texts))}
        picks = list(first_image.values())
        picked_views = [views[i] for i in picks]
        refs = [images[i] for i in picks]
        a = (self.engine.images(refs, picked_views) if any(v is not None for v in picked_views)
             else self.engine.images(refs)).numpy()
        b = self.engine.texts(list(text_slot)).numpy()
        ia = np.fromiter((image_slot[key] for key in image_keys), dtype=np.int64, count=len(image_keys))
        ib = np.fromiter((text_slot[text] for text in texts), dtype=np.int64, count=len(texts))
        return indexed_dot(a, ia, b, ib, self.dtype)

    def image_embeddings(self, images: Sequence[ImageRef], views: Sequence[View] | None = None) -> np.ndarray:
        """[N, D] fp32 normalised image embeddings (probes and geometry read these)."""
        return self.engine.images(list(images), None if views is None else list(views)).numpy()

    def text_embeddings(self, texts: Sequence[str]) -> np.ndarray:
        return self.engine.texts(list(texts)).numpy()
