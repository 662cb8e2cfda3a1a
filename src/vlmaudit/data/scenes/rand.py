"""One random-source convention for captions and perturbations."""

from __future__ import annotations

import random

import numpy as np

Rng = random.Random | np.random.Generator


def as_random(rng: Rng) -> random.Random:
    """A `random.Random` (fast scalar draws) from either kind of generator, deterministically:
    a numpy Generator contributes one 63-bit draw as the seed."""
    if isinstance(rng, random.Random):
        return rng
    return random.Random(int(rng.integers(2**63)))
