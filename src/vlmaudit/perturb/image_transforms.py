"""Image transforms with explicit parameters, a category and natural-language descriptions.

A `Transform` is an `ImageTransform` (the engine's contract): a pure function of the input
pixels. Its `id` covers name, op and parameters (and the seed for the random ops), never the
descriptions, so changing a caption template re-encodes no image. Random ops (noise, perspective)
draw from a generator seeded by (transform seed, transform name, the image's content digest), so
every image gets its own fixed draw whatever order or batch it is processed in.
"""

from __future__ import annotations

import hashlib
import io
import json
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torchvision.transforms.v2.functional as F
from PIL import Image, ImageFilter
from torchvision.transforms import InterpolationMode

from vlmaudit.data.images import to_rgb
from vlmaudit.errors import SpecError
from vlmaudit.perturb.base import canonical_id
from vlmaudit.perturb.transform_catalogue import DEFAULT_CATALOGUE

OpFn = Callable[..., Image.Image]


@dataclass(frozen=True)
class Op:
    """A pixel operation: its function, its parameters' (type, low, high) and whether it is random."""

    fn: OpFn
    params: dict[str, tuple[type, float, float]] = field(default_factory=dict)
    seeded: bool = False


def _rotate(image: Image.Image, rng, degrees_clockwise: float) -> Image.Image:
    quarter = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
               270: Image.Transpose.ROTATE_90}  # PIL names counter-clockwise turns
    turns = degrees_clockwise % 360
    if turns == 0:
        return image.copy()
    if turns in quarter:
        return image.transpose(quarter[turns])
    return F.rotate(image, -degrees_clockwise, InterpolationMode.BILINEAR, expand=True)


def _blur(image: Image.Image, rng, sigma_fraction: float) -> Image.Image:
    """Pillow's Gaussian (radius = standard deviation): ~100x faster than a torch conv per image."""
    return image.filter(ImageFilter.GaussianBlur(radius=sigma_fraction * min(image.size)))


def _perspective(image: Image.Image, rng: np.random.Generator, distortion: float) -> Image.Image:
    """torchvision's RandomPerspective corner draw, from our generator instead of the global one."""
    w, h = image.size
    dw, dh = int(distortion * w / 2), int(distortion * h / 2)

    def jitter(limit: int) -> int:
        return int(rng.integers(0, limit + 1))

    start = [[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]]
    end = [[jitter(dw), jitter(dh)], [w - 1 - jitter(dw), jitter(dh)],
           [w - 1 - jitter(dw), h - 1 - jitter(dh)], [jitter(dw), h - 1 - jitter(dh)]]
    return F.perspective(image, start, end, InterpolationMode.BILINEAR)


def _affine(image: Image.Image, rng, shear_degrees: float, translate_fraction: float) -> Image.Image:
    dx = round(translate_fraction * image.size[0])
    return F.affine(image, angle=0.0, translate=[dx, 0], scale=1.0, shear=[shear_degrees, 0.0],
                    interpolation=InterpolationMode.BILINEAR)


def _center_crop(image: Image.Image, rng, fraction: float) -> Image.Image:
    w, h = image.size
    return F.center_crop(image, [max(1, round(h * fraction)), max(1, round(w * fraction))])


def _stretch(image: Image.Image, rng, x_factor: float, y_factor: float) -> Image.Image:
    w, h = image.size
    size = (max(1, round(w * x_factor)), max(1, round(h * y_factor)))
    return image.resize(size, Image.Resampling.BICUBIC)


def _noise(image: Image.Image, rng: np.random.Generator, sigma: float) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float64)
    noisy = pixels + rng.normal(0.0, sigma * 255.0, size=pixels.shape)
    return Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))


def _jpeg(image: Image.Image, rng, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    with Image.open(io.BytesIO(buffer.getvalue())) as decoded:
        return decoded.convert("RGB")


_FACTOR = {"factor": (float, 0.0, 10.0)}
OPS: dict[str, Op] = {
    "rotate": Op(_rotate, {"degrees_clockwise": (float, -360.0, 360.0)}),
    "hflip": Op(lambda im, rng: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
    "vflip": Op(lambda im, rng: im.transpose(Image.Transpose.FLIP_TOP_BOTTOM)),
    "brightness": Op(lambda im, rng, factor: F.adjust_brightness(im, factor), _FACTOR),
    "contrast": Op(lambda im, rng, factor: F.adjust_contrast(im, factor), _FACTOR),
    "saturation": Op(lambda im, rng, factor: F.adjust_saturation(im, factor), _FACTOR),
    "hue": Op(lambda im, rng, shift: F.adjust_hue(im, shift), {"shift": (float, -0.5, 0.5)}),
    "grayscale": Op(lambda im, rng: F.rgb_to_grayscale(im, num_output_channels=3)),
    "invert": Op(lambda im, rng: F.invert(im)),
    "blur": Op(_blur, {"sigma_fraction": (float, 0.0, 0.5)}),
    "sharpness": Op(lambda im, rng, factor: F.adjust_sharpness(im, factor), _FACTOR),
    "perspective": Op(_perspective, {"distortion": (float, 0.0, 1.0)}, seeded=True),
    "affine": Op(_affine, {"shear_degrees": (float, -80.0, 80.0), "translate_fraction": (float, -0.5, 0.5)}),
    "center_crop": Op(_center_crop, {"fraction": (float, 0.01, 1.0)}),
    "stretch": Op(_stretch, {"x_factor": (float, 0.05, 10.0), "y_factor": (float, 0.05, 10.0)}),
    "gaussian_noise": Op(_noise, {"sigma": (float, 0.0, 1.0)}, seeded=True),
    "solarize": Op(lambda im, rng, threshold: F.solarize(im, threshold), {"threshold": (int, 0, 256)}),
    "posterize": Op(lambda im, rng, bits: F.posterize(im, bits), {"bits": (int, 1, 8)}),
    "equalize": Op(lambda im, rng: F.equalize(im)),
    "jpeg": Op(_jpeg, {"quality": (int, 1, 95)}),
}


def content_digest(image: Image.Image) -> str:
    """The same digest `memory_image` uses as its key, computed from the pixels the op sees."""
    return hashlib.sha256(image.tobytes() + repr(image.size).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Transform:
    """One catalogue entry bound to a seed; callable on a PIL image."""

    name: str
    category: str
    op: str
    params: dict[str, Any]
    descriptions: tuple[str, ...]
    seed: int = 0

    @property
    def seeded(self) -> bool:
        return OPS[self.op].seeded

    @cached_property
    def id(self) -> str:
        """The cache identity, computed once (the engine and the scorer read it per trial)."""
        key = {"op": self.op, **self.params}
        if self.seeded:  # a deterministic op's output does not depend on the seed: keep cache hits
            key["seed"] = self.seed
        return canonical_id(self.name, key)

    def __call__(self, image: Image.Image) -> Image.Image:
        image = to_rgb(image)
        rng = None
        if self.seeded:
            entropy = [self.seed, zlib.crc32(self.name.encode()), int(content_digest(image), 16)]
            rng = np.random.default_rng(entropy)
        return to_rgb(OPS[self.op].fn(image, rng, **self.params))

    def row(self) -> dict[str, Any]:
        return {"name": self.name, "category": self.category, "op": self.op, "params": dict(self.params),
                "description": self.descriptions[0], "descriptions": list(self.descriptions), "id": self.id}


def _check_params(op: str, params: Any, where: str) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise SpecError(f"{where}: 'params' must be an object")
    spec = OPS[op].params
    unknown, missing = sorted(set(params) - set(spec)), sorted(set(spec) - set(params))
    if unknown or missing:
        raise SpecError(
            f"{where}: op {op!r} takes params {sorted(spec)} (unknown {unknown}, missing {missing})")
    clean = {}
    for key, (kind, low, high) in spec.items():
        value = params[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            kind is int and not float(value).is_integer()
        ):
            raise SpecError(f"{where}: param {key}={value!r} must be {kind.__name__}")
        if not low <= value <= high:
            raise SpecError(f"{where}: param {key}={value!r} is outside [{low}, {high}]")
        clean[key] = kind(value)
    return clean


def _check_entry(entry: Any, where: str, base: dict | None) -> dict[str, Any]:
    """A complete catalogue entry from `entry`, filling missing fields from `base` (an override)."""
    if not isinstance(entry, dict):
        raise SpecError(f"{where}: must be an object")
    allowed = {"name", "category", "op", "params", "descriptions"}
    if extra := sorted(set(entry) - allowed):
        raise SpecError(f"{where}: unknown field(s) {extra} (allowed: {sorted(allowed)})")
    merged = {**(base or {}), **entry}
    if base is not None and "op" in entry and "params" not in entry:
        merged["params"] = {}
    for key in ("name", "category", "op"):
        if not isinstance(merged.get(key), str) or not merged[key].strip():
            raise SpecError(f"{where}: {key!r} must be a non-empty string")
    if merged["op"] not in OPS:
        raise SpecError(f"{where}: unknown op {merged['op']!r} (known: {', '.join(sorted(OPS))})")
    merged["params"] = _check_params(merged["op"], merged.get("params", {}), where)
    descriptions = merged.get("descriptions")
    if (not isinstance(descriptions, list | tuple) or not descriptions
            or not all(isinstance(d, str) and d.strip() for d in descriptions)):
        raise SpecError(f"{where}: 'descriptions' must be a non-empty list of non-empty strings")
    merged["descriptions"] = [d.strip() for d in descriptions]
    return merged


def read_transforms_file(path: str | Path, base: Iterable[dict] = DEFAULT_CATALOGUE) -> list[dict]:
    """Apply a user's JSON file to `base`: `{"mode": "extend"|"replace", "transforms": [entry, ...]}`.

    In "extend" mode (default) an entry whose name exists overrides only the fields it gives
    (e.g. new descriptions) and a new name is appended; "replace" uses exactly the file's list.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"transforms file not found: {path}") from None
    except json.JSONDecodeError as err:
        raise SpecError(f"{path}: invalid JSON at line {err.lineno}: {err.msg}") from None
    if not isinstance(document, dict) or not isinstance(document.get("transforms"), list):
        raise SpecError(f"{path}: expected an object with a 'transforms' list")
    if extra := sorted(set(document) - {"mode", "transforms"}):
        raise SpecError(f"{path}: unknown top-level field(s) {extra} (allowed: mode, transforms)")
    mode = document.get("mode", "extend")
    if mode not in ("extend", "replace"):
        raise SpecError(f"{path}: mode must be 'extend' or 'replace', not {mode!r}")
    catalogue = {} if mode == "replace" else {entry["name"]: dict(entry) for entry in base}
    seen: set[str] = set()
    for index, entry in enumerate(document["transforms"]):
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f"{path}: transforms[{index}]" + (f" ({name})" if isinstance(name, str) else "")
        if name in seen:
            raise SpecError(f"{where}: duplicate name")
        checked = _check_entry(entry, where, catalogue.get(name) if isinstance(name, str) else None)
        seen.add(checked["name"])
        catalogue[checked["name"]] = checked
    if not catalogue:
        raise SpecError(f"{path}: no transforms")
    return list(catalogue.values())


def load_catalogue(transforms_file: str | Path | None = None, seed: int = 0) -> list[Transform]:
    """The default catalogue, or the default as modified by a user's transforms file."""
    entries = read_transforms_file(transforms_file) if transforms_file else list(DEFAULT_CATALOGUE)
    entries = [_check_entry(e, f"transform {e.get('name')!r}", None) for e in entries]  # canonical types
    return [
        Transform(e["name"], e["category"], e["op"], e["params"], tuple(e["descriptions"]), seed)
        for e in entries
    ]


def select_transforms(catalogue: list[Transform], names: Iterable[str]) -> list[Transform]:
    """The named transforms in the order given (all of them when `names` is empty)."""
    names = list(names)
    if not names:
        return list(catalogue)
    by_name = {t.name: t for t in catalogue}
    if unknown := [n for n in names if n not in by_name]:
        raise SpecError(f"unknown transform(s) {unknown} (known: {', '.join(by_name)})")
    if len(set(names)) != len(names):
        raise SpecError(f"transform list {names} repeats a name")
    return [by_name[n] for n in names]


def catalogue_rows(transforms_file: str | Path | None = None) -> list[dict[str, Any]]:
    """Rows for `vlmaudit ls transforms`: name, category, op, params, descriptions, id."""
    return [t.row() for t in load_catalogue(transforms_file)]
