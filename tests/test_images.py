"""Bad and unusual image files: each either loads as correct RGB or fails with a one-line ImageError."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vlmaudit.data.images import file_image, memory_image
from vlmaudit.errors import ImageError


def _save(image: Image.Image, path: Path, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


def _noise(size: int = 64) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def _one_line_naming(err: pytest.ExceptionInfo, path: Path) -> None:
    message = str(err.value)
    assert str(path) in message
    assert "\n" not in message


def test_missing_file_is_an_image_error(tmp_path):
    path = tmp_path / "nope.png"
    with pytest.raises(ImageError) as err:
        file_image(path)
    _one_line_naming(err, path)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file_fails_at_load_naming_it(tmp_path, fmt):
    buffer = io.BytesIO()
    _noise().save(buffer, fmt)
    data = buffer.getvalue()
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    ref = file_image(path)  # reading bytes works; decoding must not silently pad the image
    with pytest.raises(ImageError) as err:
        ref.load()
    _one_line_naming(err, path)


def test_non_image_bytes(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_bytes(b"this is not an image\n" * 10)
    with pytest.raises(ImageError) as err:
        file_image(path).load()
    _one_line_naming(err, path)


def _rgba_noise() -> Image.Image:
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 256, (6, 5, 4), dtype=np.uint8), mode="RGBA")


def test_rgba_drops_alpha_by_default_as_the_benchmarks_loaders_do(tmp_path):
    """Bug: RGBA was composited on white, where ARO/What'sUp/Winoground code calls convert("RGB")."""
    path = _save(_rgba_noise(), tmp_path / "a.png")
    loaded = file_image(path).load()
    with Image.open(path) as handle:
        official = handle.convert("RGB")
    assert loaded.mode == "RGB"
    assert np.array_equal(np.asarray(loaded), np.asarray(official))


def test_rgba_composites_on_white_when_asked(tmp_path):
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 128))  # half-transparent red
    loaded = file_image(_save(image, tmp_path / "a.png"), alpha="white").load()
    assert loaded.mode == "RGB"
    r, g, b = loaded.getpixel((0, 0))
    assert r == 255 and abs(g - 127) <= 1 and abs(b - 127) <= 1  # dropping alpha would give (255, 0, 0)


def test_alpha_policy_is_in_the_key_of_transparent_images_only(tmp_path):
    """Bug: both policies gave one cache key for different pixels (a stale embedding on a switch)."""
    rgba = _save(_rgba_noise(), tmp_path / "a.png")
    assert file_image(rgba).key != file_image(rgba, alpha="white").key
    assert file_image(rgba).key == file_image(rgba, alpha="drop").key
    opaque = _save(_noise(8), tmp_path / "o.png")  # the policy changes no pixel: keep the cache hits
    assert file_image(opaque).key == file_image(opaque, alpha="white").key


def test_greyscale_becomes_equal_channels(tmp_path):
    loaded = file_image(_save(Image.new("L", (4, 4), 100), tmp_path / "g.png")).load()
    assert loaded.mode == "RGB" and loaded.getpixel((1, 1)) == (100, 100, 100)


def test_sixteen_bit_greyscale_is_scaled_not_clipped(tmp_path):
    values = np.full((4, 4), 32896, dtype=np.uint16)  # mid-grey in 16 bits = 128 in 8 bits
    loaded = file_image(_save(Image.fromarray(values), tmp_path / "g16.png")).load()
    assert loaded.mode == "RGB" and loaded.getpixel((0, 0)) == (128, 128, 128)  # PIL alone: 255


def test_cmyk_jpeg_converts_to_rgb(tmp_path):
    cyan = Image.new("CMYK", (16, 16), (255, 0, 0, 0))
    loaded = file_image(_save(cyan, tmp_path / "c.jpg", quality=95)).load()
    assert loaded.mode == "RGB"
    assert np.abs(np.asarray(loaded, dtype=int) - [0, 255, 255]).max() <= 3


def test_palette_transparency_follows_the_alpha_policy(tmp_path):
    image = Image.new("P", (4, 1), 0)
    image.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)  # index 0 black (transparent), 1 green
    image.putpixel((3, 0), 1)
    image.info["transparency"] = 0
    path = _save(image, tmp_path / "p.png", transparency=0)
    white, dropped = file_image(path, alpha="white"), file_image(path)
    assert white.load().getpixel((0, 0)) == (255, 255, 255)
    assert dropped.load().getpixel((0, 0)) == (0, 0, 0)  # convert("RGB"): the palette colour
    assert white.load().getpixel((3, 0)) == dropped.load().getpixel((3, 0)) == (0, 255, 0)
    assert white.key != dropped.key  # tRNS is in the header: the key sees the transparency


def test_memory_image_key_follows_content_not_object():
    a = memory_image(Image.new("RGBA", (4, 4), (0, 0, 255, 0)), alpha="white")
    b = memory_image(Image.new("RGB", (4, 4), "white"))
    assert a.key == b.key  # fully transparent blue composites to white: same pixels, same key
    assert a.load().mode == "RGB"


def test_crop_is_part_of_the_key(tmp_path):
    path = _save(_noise(), tmp_path / "n.png")
    whole, crop = file_image(path), file_image(path, crop=(0, 0, 8, 8))
    assert whole.key != crop.key and crop.load().size == (8, 8)
