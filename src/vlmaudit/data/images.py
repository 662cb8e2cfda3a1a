"""Images as lazily-loaded, content-addressed references.

Suites pass `ImageRef`s around instead of decoded pixels, so a dataset costs memory only while a
batch is being embedded, and the cache can key on the image's content rather than its path.

Transparency (RGBA, LA, PA, P with a transparent colour) becomes RGB by the `alpha` policy:
"drop" (default) is PIL's `convert("RGB")`, what every benchmark's own loader does (the colour
under a transparent pixel stays); "white" composites onto white. The pixels differ, so the key of
an image with transparency names the policy; an opaque image's key does not depend on it.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from vlmaudit.errors import ImageError

Box = tuple[int, int, int, int]  # left, top, right, bottom in pixels
Alpha = Literal["drop", "white"]


def to_rgb(image: Image.Image, alpha: Alpha = "drop") -> Image.Image:
    """RGB from any mode: transparency by the `alpha` policy, greyscale, 16-bit and CMYK converted."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I;16") or image.mode == "I":
        # PIL's own conversion clips at 255, turning a 16-bit greyscale PNG almost white
        grey = np.clip(np.rint(np.asarray(image, dtype=np.float64) / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if alpha == "white" and image.has_transparency_data:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def decode_image(data: bytes, where: str, alpha: Alpha = "drop") -> Image.Image:
    """Fully decode (so truncation is caught here, not mid-batch) and convert to RGB."""
    try:
        with Image.open(io.BytesIO(data)) as handle:
            handle.load()
            return to_rgb(handle, alpha)
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


def _transparent(data: bytes) -> bool:
    """Whether encoded image bytes carry transparency; reads the header only (PNG tRNS included)."""
    try:
        with Image.open(io.BytesIO(data)) as handle:
            return handle.has_transparency_data
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False  # undecodable: the loader reports it, naming the file


def bytes_key(data: bytes, crop: Box | None = None, alpha: Alpha = "drop") -> str:
    """SHA-256 of the encoded bytes, plus the crop box, plus the alpha policy where it matters."""
    key = hashlib.sha256(data).hexdigest()[:32]
    if crop is not None:
        key += "@" + ",".join(str(int(v)) for v in crop)
    return key + (f"~alpha={alpha}" if _transparent(data) else "")


def file_image(path: str | Path, crop: Box | None = None, alpha: Alpha = "drop") -> ImageRef:
    """An image file, keyed by its content; the bytes are read again when the image is loaded."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"image file not found: {path}") from None
    except OSError as err:
        raise ImageError(f"cannot read image {path}: {err}") from None

    def load() -> Image.Image:
        image = decode_image(path.read_bytes(), str(path), alpha)
        return image.crop(crop) if crop is not None else image

    label = str(path) + (f" crop={crop}" if crop else "")
    return ImageRef(key=bytes_key(data, crop, alpha), loader=load, label=label)


def encoded_image(data: bytes, label: str, alpha: Alpha = "drop") -> ImageRef:
    """Encoded image bytes held in memory (e.g. a parquet image column); keyed like the same file."""
    def load() -> Image.Image:
        return decode_image(data, label, alpha)

    return ImageRef(key=bytes_key(data, None, alpha), loader=load, label=label)


def memory_image(image: Image.Image, label: str = "", alpha: Alpha = "drop") -> ImageRef:
    """An in-memory image (generated scenes, package sample images); keyed by its RGB pixels."""
    rgb = to_rgb(image, alpha)
    digest = hashlib.sha256(rgb.tobytes() + repr(rgb.size).encode()).hexdigest()[:32]
    return ImageRef(key=digest, loader=lambda: rgb.copy(), label=label or f"<memory {digest[:8]}>")
