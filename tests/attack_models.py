"""Tiny hand-made embedders for the attack tests: f(x) = A x + b (exact Jacobian A), a constant
output, and a step function (zero gradient everywhere although the output moves)."""

from __future__ import annotations

import torch

from vlmaudit.engine import Engine
from vlmaudit.models.base import ImageTextModel, Preprocessing


class LinearModel(ImageTextModel):
    """f(x) = A flatten(x) + b on S x S images: J = A exactly, sigma^2 J J^T = sigma^2 A A^T."""

    def __init__(self, dim: int = 40, size: int = 3, seed: int = 0) -> None:
        self.spec, self.weights_hash = f"test:linear-{dim}-{size}-{seed}", f"linear{dim}{size}{seed}"
        self.preprocessing = Preprocessing(size, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "squash")
        gen = torch.Generator().manual_seed(seed)
        self.a = torch.randn(dim, 3 * size * size, generator=gen) / dim**0.5
        self.b = torch.randn(dim, generator=gen)

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        return pixels.flatten(1) @ self.a.T + self.b

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        raise NotImplementedError


class ConstantModel(LinearModel):
    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.b.repeat(len(pixels), 1)


class StepModel(LinearModel):
    """Piecewise constant in the pixels: moves with the input, but every gradient is zero."""

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        return (pixels > 0.5).float().flatten(1) @ self.a.T + self.b


def engine(model: ImageTextModel) -> Engine:
    return Engine(model, cache_dir=None, progress=False, memory=False)
