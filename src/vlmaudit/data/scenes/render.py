"""Scene graph -> RGB pixels. A pure function of the `Scene`, fast enough for on-the-fly training.

Each object is a flat-coloured, anti-aliased (4x4 supersampled) shape that fills its box exactly,
with a dark outline (0.3x the colour; grey for black) so every colour stays visible on every
context. Masks are cached per (shape, width, height), textures per (context, seed, size), so an
image costs one texture copy plus a few small alpha blends. All shapes are left-right symmetric,
hence `render(scene.mirrored())` is the mirror image of `render(scene)`.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np
from PIL import Image

from vlmaudit.data.images import ImageRef
from vlmaudit.data.scenes.graph import Scene
from vlmaudit.data.scenes.textures import texture_bank
from vlmaudit.data.scenes.vocab import COLOUR_RGB, GENERATOR_VERSION

_SUPERSAMPLE = 4
_STAR_INNER = 0.45  # inner/outer radius of the five-pointed star


def _star_polygon() -> np.ndarray:
    """Ten vertices of an upright star, stretched to fill the unit box."""
    angles = np.deg2rad(-90 + 36 * np.arange(10))
    radii = np.where(np.arange(10) % 2 == 0, 1.0, _STAR_INNER)
    pts = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    pts[:, 0] -= (pts[:, 0].max() + pts[:, 0].min()) / 2  # exact symmetry about x = 0
    return (pts - pts.min(axis=0)) / (pts.max(axis=0) - pts.min(axis=0))


def _inside_polygon(u: np.ndarray, v: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd rule, vectorised over points."""
    inside = np.zeros(u.shape, dtype=bool)
    for (x1, y1), (x2, y2) in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        crosses = (y1 > v) != (y2 > v)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x1 + (v - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (u < x_at)
    return inside


def _inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Point-in-shape for unit-box coordinates (u right, v down); every shape touches all 4 sides."""
    in_box = (u >= 0) & (u <= 1) & (v >= 0) & (v <= 1)
    du, dv = np.abs(u - 0.5), np.abs(v - 0.5)
    if shape == "circle":
        return du**2 + dv**2 <= 0.25
    if shape == "square":
        return in_box
    if shape == "diamond":
        return du + dv <= 0.5
    if shape == "cross":
        return in_box & ((du <= 1 / 6) | (dv <= 1 / 6))
    if shape == "triangle":
        return in_box & (du <= v / 2)
    if shape == "star":
        return _inside_polygon(u, v, _star_polygon())
    raise ValueError(f"unknown shape {shape!r}")


@lru_cache(maxsize=256)
def shape_alpha(shape: str, width: int, height: int, inset: float = 0.0) -> np.ndarray:
    """(height, width, 1) coverage in [0, 1] of `shape` in a box shrunk by `inset` px per side."""
    n = _SUPERSAMPLE
    xs = ((np.arange(width * n) + 0.5) / n - inset) / (width - 2 * inset)
    ys = ((np.arange(height * n) + 0.5) / n - inset) / (height - 2 * inset)
    u, v = np.meshgrid(xs, ys)
    cover = _inside(shape, u, v).reshape(height, n, width, n).mean(axis=(1, 3))
    alpha = cover.astype(np.float32)[..., None]
    alpha.setflags(write=False)
    return alpha


def outline_px(image_size: int) -> int:
    return max(1, round(image_size / 64))


@lru_cache(maxsize=4096)
def _colours(colour: str, jitter: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(fill, outline) RGB; the outline is 0.3x the fill, grey for black."""
    fill = np.array(
        [min(255, max(0, c + j)) for c, j in zip(COLOUR_RGB[colour], jitter, strict=True)], np.float32
    )
    outline = np.full(3, 110, np.float32) if colour == "black" else np.float32(0.3) * fill
    return fill, outline


def render_array(scene: Scene) -> np.ndarray:
    """(S, S, 3) uint8 pixels of the scene."""
    texture = texture_bank(scene.context, scene.texture_seed, scene.image_size)[scene.texture_index]
    if scene.flip:
        texture = texture[:, ::-1]
    image = texture * np.float32(scene.brightness)
    inset = outline_px(scene.image_size)
    for obj in scene.objects:
        left, top, right, bottom = obj.box
        width, height = right - left, bottom - top
        region = image[top:bottom, left:right]
        fill, outline = _colours(obj.colour, obj.jitter)
        region += shape_alpha(obj.shape, width, height) * (outline - region)
        region += shape_alpha(obj.shape, width, height, inset) * (fill - region)
    np.minimum(image, 255, out=image)  # brightness may push past 255; nothing goes below 0
    image += 0.5
    return image.astype(np.uint8)


def render(scene: Scene) -> Image.Image:
    """The scene as an RGB PIL image."""
    return Image.fromarray(render_array(scene))


def scene_key(scene: Scene) -> str:
    """Content key: the scene graph plus the generator version determine every pixel."""
    return hashlib.sha256(f"{GENERATOR_VERSION}|{scene.to_json()}".encode()).hexdigest()[:32]


def scene_ref(scene: Scene) -> ImageRef:
    """A lazy ImageRef: pixels are rendered only when the engine loads the image."""
    return ImageRef(
        key=scene_key(scene),
        loader=lambda: render(scene),
        label=f"scene(seed={scene.seed}, index={scene.index})",
    )
