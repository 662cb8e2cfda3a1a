"""The embedding engine: every suite's only way to get embeddings.

Requests are (image, transform) pairs and texts; each unique input is embedded once, in batches,
under inference mode, and results come back as fp32 rows aligned to the request.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from vlmaudit.data.images import ImageRef
from vlmaudit.errors import EmbeddingError
from vlmaudit.models.base import ImageTextModel
from vlmaudit.perturb.base import ImageTransform


class Engine:
    def __init__(self, model: ImageTextModel, *, batch_size: int = 64, progress: bool = False) -> None:
        self.model = model
        self.batch_size = batch_size
        self.progress = progress

    def images(
        self,
        refs: Sequence[ImageRef],
        transforms: Sequence[ImageTransform | None] | ImageTransform | None = None,
        *,
        normalize: bool = True,
    ) -> torch.Tensor:
        """[N, D] fp32 embeddings of `transforms[i](refs[i])`, aligned to the request."""
        if transforms is None or not isinstance(transforms, Sequence):
            transforms = [transforms] * len(refs)
        keys = [(ref.key, t.id if t is not None else "") for ref, t in zip(refs, transforms, strict=True)]
        unique = list(dict.fromkeys(keys))
        by_key = {key: (ref, t) for key, ref, t in zip(keys, refs, transforms, strict=True)}
        rows: dict[tuple[str, str], torch.Tensor] = {}
        for start in range(0, len(unique), self.batch_size):
            batch = unique[start : start + self.batch_size]
            images = []
            for key in batch:
                ref, transform = by_key[key]
                image = ref.load()
                images.append(transform(image) if transform is not None else image)
            with torch.inference_mode():
                out = self.model.encode_images(self.model.preprocess(images)).float().cpu()
            _check(out, len(batch), f"images {batch[0][0][:8]}...")
            rows.update(zip(batch, out, strict=True))
        return _finish(torch.stack([rows[k] for k in keys]) if keys else torch.empty(0), normalize)

    def texts(self, texts: Sequence[str], *, normalize: bool = True) -> torch.Tensor:
        """[M, D] fp32 embeddings of `texts`, aligned to the request."""
        unique = list(dict.fromkeys(texts))
        rows: dict[str, torch.Tensor] = {}
        for start in range(0, len(unique), self.batch_size):
            batch = unique[start : start + self.batch_size]
            with torch.inference_mode():
                out = self.model.encode_texts(list(batch)).float().cpu()
            _check(out, len(batch), f"texts starting {batch[0]!r}")
            rows.update(zip(batch, out, strict=True))
        return _finish(torch.stack([rows[t] for t in texts]) if texts else torch.empty(0), normalize)


def _check(out: torch.Tensor, expected: int, what: str) -> None:
    if out.ndim != 2 or out.shape[0] != expected:
        raise EmbeddingError(f"model returned shape {tuple(out.shape)} for {expected} {what}")
    if not torch.isfinite(out).all():
        raise EmbeddingError(f"model returned NaN/inf embeddings for {what}")


def _finish(out: torch.Tensor, normalize: bool) -> torch.Tensor:
    return torch.nn.functional.normalize(out, dim=-1) if normalize and out.numel() else out
