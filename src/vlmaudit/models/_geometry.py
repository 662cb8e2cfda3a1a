"""Resize/crop arithmetic that matches a reference library pixel for pixel.

The base `Preprocessing` rounds the long side; torchvision (open_clip, OpenAI CLIP) and
transformers both truncate it, and they disagree on the centre-crop offset when the margin is
odd: transformers floors, torchvision rounds half to even. One pixel of shift is enough to move
embeddings, so each backend declares which reference it follows and is tested against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from PIL import Image

from vlmaudit.models.base import _PIL_RESAMPLE, Preprocessing

CropOffset = Literal["floor", "round"]


@dataclass(frozen=True)
class ReferencePreprocessing(Preprocessing):
    """`Preprocessing` whose "shortest" geometry matches transformers ("floor") or torchvision ("round")."""

    crop_offset: CropOffset = "floor"

    def geometry(self, image: Image.Image) -> Image.Image:
        if self.resize_mode == "squash":
            return super().geometry(image)
        size = self.image_size
        w, h = image.size
        if w <= h:
            new_w, new_h = size, int(size * h / w)
        else:
            new_w, new_h = int(size * w / h), size
        image = image.resize((new_w, new_h), resample=_PIL_RESAMPLE[self.interpolation])
        left, top = _offset(new_w - size, self.crop_offset), _offset(new_h - size, self.crop_offset)
        return image.crop((left, top, left + size, top + size))


def _offset(margin: int, rule: CropOffset) -> int:
    return margin // 2 if rule == "floor" else round(margin / 2.0)
