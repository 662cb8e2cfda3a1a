"""Images as lazily-loaded, content-addressed references.

Suites pass `ImageRef`s around instead of decoded pixels, so a dataset costs memory only while a
batch is being embedded, and the cache can key on the image's content rather than its path.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vlmaudit.errors import ImageError

Box = tuple[int, int, int, int]  # left, top, right, bottom in pixels


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB with transparency composited on white (RGBA/LA/PA/P), greyscale, 16-bit and CMYK converted."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I;16") or image.mode == "I":
        # PIL's own conversion clips at 255, turning a 16-bit greyscale PNG almost white
        grey = np.clip(np.rint(np.asarray(image, dtype=np.float64) / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def decode_image(data: bytes, where: str) -> Image.Image:
    """Fully decode (so truncation is caught here, not mid-batch) and convert to RGB."""
    try:
        with Image.open(io.BytesIO(data)) as handle:
            handle.load()
            return to_rgb(handle)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        reason = " ".join(str(err).split())  # one line, whatever the decoder said
        raise ImageError(f"cannot decode image {where}: {reason}") from None


@dataclass(frozen=True)
class ImageRef:
    """One image an audit refers to. `key` identifies its content (plus crop) for caching."""

    key: str
    loader: Callable[[], Image.Image] = field(compare=False, repr=False)
    label: str = ""  # human-readable origin for error messages and per-sample records

    def load(self) -> Image.Image:
        return self.loader()


def file_image(path: str | Path, crop: Box | None = None) -> ImageRef:
    """An image file; its key is the SHA-256 of the bytes (and the crop box)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"image file not found: {path}") from None
    except OSError as err:
        raise ImageError(f"cannot read image {path}: {err}") from None
    key = hashlib.sha256(data).hexdigest()[:32]
    if crop is not None:
        key += "@" + ",".join(str(int(v)) for v in crop)

    def load() -> Image.Image:
        image = decode_image(path.read_bytes(), str(path))
        return image.crop(crop) if crop is not None else image

    return ImageRef(key=key, loader=load, label=str(path) + (f" crop={crop}" if crop else ""))


def memory_image(image: Image.Image, label: str = "") -> ImageRef:
    """An in-memory image (generated scenes, package sample images); keyed by its pixels."""
    rgb = to_rgb(image)
    digest = hashlib.sha256(rgb.tobytes() + repr(rgb.size).encode()).hexdigest()[:32]
    return ImageRef(key=digest, loader=lambda: rgb.copy(), label=label or f"<memory {digest[:8]}>")
