"""Background textures: a bank of TEXTURE_BANK images per (context, seed, size), made at once.

Generating one texture per image would dominate generation time, so each stream seed gets its own
cached bank (vectorised multi-scale noise); a held-out seed therefore also means unseen textures.
Each context has a distinct hue and structure (grass: vertical streaks, sand: speckle, water: sine
waves, snow: soft blotches) so context is learnable and can be used for context-bias studies.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from vlmaudit.data.scenes.vocab import CONTEXTS

TEXTURE_BANK = 96
_BANK_TAG = 0x7E87  # separates texture streams from scene streams in SeedSequence space

_BASE_RGB: dict[str, tuple[float, float, float]] = {
    "grass": (62, 128, 46),
    "sand": (208, 184, 128),
    "water": (36, 86, 168),
    "snow": (230, 234, 243),
}


def _interp_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Linear-interpolation weights (n_out x n_in) for resampling a grid of n_in cells."""
    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    low = np.floor(pos).astype(int)
    high = np.minimum(low + 1, n_in - 1)
    frac = pos - low
    weights = np.zeros((n_out, n_in))
    weights[np.arange(n_out), low] += 1 - frac
    weights[np.arange(n_out), high] += frac
    return weights


def _noise(rng: np.random.Generator, count: int, size: int, rows: int, cols: int) -> np.ndarray:
    """Smooth noise in [-1, 1]: a random rows x cols grid bilinearly upsampled to size x size."""
    low = rng.uniform(-1, 1, (count, rows, cols))
    return np.einsum("yr,krc,xc->kyx", _interp_matrix(size, rows), low, _interp_matrix(size, cols))


def _field(context: str, rng: np.random.Generator, k: int, s: int) -> np.ndarray:
    """Per-pixel brightness modulation (k, s, s) around 0 with the context's structure."""
    if context == "grass":
        streaks = _noise(rng, k, s, max(2, s // 16), s)  # fast along x, slow along y
        return 0.22 * streaks + 0.12 * _noise(rng, k, s, 4, 4)
    if context == "sand":
        return 0.08 * rng.uniform(-1, 1, (k, s, s)) + 0.10 * _noise(rng, k, s, 6, 6)
    if context == "water":
        y, x = np.mgrid[0:s, 0:s] / s
        period = rng.uniform(0.12, 0.22, (k, 1, 1))
        phase = rng.uniform(0, 2 * np.pi, (k, 2, 1, 1))
        wobble = 0.8 * np.sin(2 * np.pi * x / (2 * period) + phase[:, 1])
        return 0.16 * np.sin(2 * np.pi * y / period + phase[:, 0] + wobble) + 0.06 * _noise(rng, k, s, 5, 5)
    return 0.05 * _noise(rng, k, s, 3, 3) + 0.03 * _noise(rng, k, s, 8, 8)  # snow


@lru_cache(maxsize=16)  # ~4.7 MB per bank at 64 px
def texture_bank(context: str, seed: int, size: int) -> np.ndarray:
    """(TEXTURE_BANK, size, size, 3) float32 RGB in [0, 255]; read-only, shared via the cache."""
    rng = np.random.default_rng(np.random.SeedSequence([_BANK_TAG, seed, CONTEXTS.index(context), size]))
    field_ = _field(context, rng, TEXTURE_BANK, size)[..., None]
    tint = rng.uniform(-8, 8, (TEXTURE_BANK, 1, 1, 3))  # each texture's slight hue shift
    rgb = np.asarray(_BASE_RGB[context]) * (1 + field_) + tint
    bank = np.clip(rgb, 0, 255).astype(np.float32)
    bank.setflags(write=False)
    return bank
