"""Gradient tools on the engine's differentiable path (`Engine.pixels` -> `Engine.embed_pixels`):
embedding alignment (arXiv 2402.08473 §2.2), image quality of the result, and matrix-free
Jacobian tools (noise covariance, randomised SVD). The alignment and linearity suites call these;
none of them calls a backend or writes a file."""

from vlmaudit.attacks.align import (
    CONSTANT_OUTPUT,
    NO_PROGRESS,
    ZERO_GRADIENT,
    AlignConfig,
    AlignResult,
    align,
    align_batches,
    project,
)
from vlmaudit.attacks.jacobian import (
    Jacobian,
    NoiseCheck,
    SVDResult,
    noise_check,
    randomized_svd,
)
from vlmaudit.attacks.quality import ImageQuality, image_quality

__all__ = [
    "CONSTANT_OUTPUT", "NO_PROGRESS", "ZERO_GRADIENT", "AlignConfig", "AlignResult", "ImageQuality",
    "Jacobian", "NoiseCheck", "SVDResult", "align", "align_batches", "image_quality", "noise_check",
    "project", "randomized_svd",
]
