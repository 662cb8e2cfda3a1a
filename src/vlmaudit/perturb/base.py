"""The contract between image transforms and the embedding engine."""

from __future__ import annotations

import json
from typing import Protocol, runtime_checkable

from PIL import Image


@runtime_checkable
class ImageTransform(Protocol):
    """A deterministic image-to-image function with a canonical id.

    `id` must change whenever the output could change (name, parameters, seed): the engine's
    cache keys on it.
    """

    @property
    def id(self) -> str: ...

    def __call__(self, image: Image.Image) -> Image.Image: ...


def canonical_id(name: str, params: dict) -> str:
    """`name{"k": v, ...}` with sorted keys: stable across runs and Python versions."""
    return name + json.dumps(params, sort_keys=True, separators=(",", ":"))
