"""Image quality of a perturbed image against its source: PSNR and SSIM from scikit-image, and
the L-inf / L2 size of the perturbation. Pixels are CHW in [0, 1], so data_range is 1 and the
channel axis is 0; getting either wrong silently shifts PSNR/SSIM, which is why it lives here once."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

SSIM_WINDOW = 7  # skimage's default window; a smaller image uses its largest odd side


@dataclass(frozen=True)
class ImageQuality:
    psnr: float  # dB; inf when the images are identical
    ssim: float
    linf: float  # max |delta|, in [0, 1] pixel units
    l2: float  # ||delta||_2 over all C*H*W values
    ssim_window: int

    def to_dict(self) -> dict:
        return asdict(self)


def image_quality(source: torch.Tensor, perturbed: torch.Tensor) -> ImageQuality:
    """Quality of `perturbed` against `source`, both [3, H, W] in [0, 1] (computed in float64)."""
    if source.shape != perturbed.shape or source.ndim != 3:
        shapes = f"{tuple(source.shape)} and {tuple(perturbed.shape)}"
        raise ValueError(f"expected two [C, H, W] images of one shape, got {shapes}")
    a = source.detach().double().cpu().numpy()
    b = perturbed.detach().double().cpu().numpy()
    side = min(a.shape[1:])
    window = SSIM_WINDOW if side >= SSIM_WINDOW else side - (1 - side % 2)
    if window < 3:
        raise ValueError(f"SSIM needs images of at least 3x3 pixels, got {a.shape[1]}x{a.shape[2]}")
    delta = b - a
    with np.errstate(divide="ignore"):  # identical images: PSNR is +inf, by definition
        psnr = float(peak_signal_noise_ratio(a, b, data_range=1.0))
    ssim = float(structural_similarity(a, b, data_range=1.0, channel_axis=0, win_size=window))
    return ImageQuality(psnr=psnr, ssim=ssim, linf=float(np.abs(delta).max()),
                        l2=float(np.sqrt((delta**2).sum())), ssim_window=window)
