"""A deterministic toy dual encoder for tests that need a model but not a trained one.

Its text side is an exact bag of words (sum of per-word vectors), so word-order perturbations
tie by construction: tests use that to check tie handling end to end.
"""

from __future__ import annotations

import zlib

import torch

from vlmaudit.models.base import ImageTextModel, Preprocessing


class ToyModel(ImageTextModel):
    def __init__(self, dim: int = 32, image_size: int = 32, seed: int = 0) -> None:
        self.spec = f"toy:bow-{dim}-{seed}"
        self.preprocessing = Preprocessing(image_size, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), "shortest")
        self.weights_hash = f"toy{dim}{seed}"
        self.dim = dim
        self.seed = seed
        gen = torch.Generator().manual_seed(seed)
        self.image_proj = torch.randn(3 * 8 * 8, dim, generator=gen) / 8.0

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.preprocessing.normalise(pixels)
        x = torch.nn.functional.adaptive_avg_pool2d(x, 8).flatten(1)
        return x @ self.image_proj

    def _word(self, word: str) -> torch.Tensor:
        gen = torch.Generator().manual_seed(zlib.crc32(word.encode()) ^ self.seed)
        return torch.randn(self.dim, generator=gen)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        rows = []
        for text in texts:
            words = text.lower().replace(".", " ").split() or ["<empty>"]
            # sorted: float addition is not associative, so summing in caption order would make
            # permuted captions differ by an ulp instead of tying exactly
            rows.append(torch.stack([self._word(w) for w in sorted(words)]).sum(0))
        return torch.stack(rows)


class CoincidentTextModel(ToyModel):
    """Every text embeds to the same vector: any choice among captions can only tie.

    512 dimensions, as in a ViT-B/32: that is where BLAS-backed einsum gave identical rows different
    scores.
    """

    def __init__(self) -> None:
        super().__init__(dim=512)
        self.spec, self.weights_hash = "toy:coincident", "toy-coincident"

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        return self._word("<same>").repeat(len(texts), 1)


def load(rest: str, *, device, dtype) -> ToyModel:
    """Backend entry so tests can use the specs "toy:<dim>" and "toy:coincident" through the public
    loading path."""
    return CoincidentTextModel() if rest == "coincident" else ToyModel(dim=int(rest or 32))
