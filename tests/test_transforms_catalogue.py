"""The transform catalogue: every transform does what its descriptions say, deterministically."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from vlmaudit.errors import SpecError
from vlmaudit.perturb.base import ImageTransform
from vlmaudit.perturb.image_transforms import (
    catalogue_rows,
    load_catalogue,
    read_transforms_file,
    select_transforms,
)
from vlmaudit.perturb.transform_catalogue import CATEGORIES

CATALOGUE = {t.name: t for t in load_catalogue()}


def _px(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


@pytest.fixture
def photo() -> Image.Image:
    """A non-square, non-symmetric RGB image: any geometric mistake changes it."""
    rng = np.random.default_rng(3)
    return Image.fromarray((rng.random((30, 44, 3)) * 255).astype(np.uint8))


def marked(width: int = 40, height: int = 30, x: int = 2, y: int = 2) -> Image.Image:
    """Black image with a 6x6 red square whose top-left corner is at (x, y)."""
    arr = np.zeros((height, width, 3), dtype=np.uint8)
    arr[y : y + 6, x : x + 6] = (255, 0, 0)
    return Image.fromarray(arr)


def red_centroid(image: Image.Image) -> tuple[float, float]:
    arr = np.asarray(image).astype(int)
    ys, xs = np.nonzero((arr[..., 0] > 150) & (arr[..., 1] < 100) & (arr[..., 2] < 100))
    return float(xs.mean()) / image.size[0], float(ys.mean()) / image.size[1]


def test_catalogue_covers_six_categories_with_several_descriptions():
    assert len(CATALOGUE) >= 24
    assert {t.category for t in CATALOGUE.values()} == set(CATEGORIES)
    assert all(len(t.descriptions) >= 2 for t in CATALOGUE.values())
    every = [d for t in CATALOGUE.values() for d in t.descriptions]
    assert len(every) == len(set(every)), "a description names two transforms"
    assert all(isinstance(t, ImageTransform) for t in CATALOGUE.values())


def test_rotations_compose_to_identity(photo):
    r90, r180, r270 = CATALOGUE["rotate_90"], CATALOGUE["rotate_180"], CATALOGUE["rotate_270"]
    four = photo
    for _ in range(4):
        four = r90(four)
    assert np.array_equal(_px(four), _px(photo))
    assert np.array_equal(_px(r270(r90(photo))), _px(photo))
    assert np.array_equal(_px(r90(r90(photo))), _px(r180(photo)))
    assert r90(photo).size == (photo.size[1], photo.size[0])  # a quarter turn swaps the aspect ratio


def test_rotate_90_turns_clockwise_as_described():
    """PIL's rotate(90) is counter-clockwise; our 'rotated 90 degrees clockwise' must not be."""
    assert "clockwise" in CATALOGUE["rotate_90"].descriptions[0]
    x, y = red_centroid(CATALOGUE["rotate_90"](marked()))  # top-left -> top-right when turned clockwise
    assert x > 0.7 and y < 0.3
    x, y = red_centroid(CATALOGUE["rotate_270"](marked()))  # top-left -> bottom-left counter-clockwise
    assert x < 0.3 and y > 0.7


def test_flips_move_content_and_are_involutions(photo):
    hflip, vflip = CATALOGUE["hflip"], CATALOGUE["vflip"]
    assert np.array_equal(_px(hflip(hflip(photo))), _px(photo))
    assert np.array_equal(_px(vflip(vflip(photo))), _px(photo))
    x, y = red_centroid(hflip(marked()))
    assert x > 0.7 and y < 0.3
    x, y = red_centroid(vflip(marked()))
    assert x < 0.3 and y > 0.7


def test_hflip_moves_a_scene_object_from_left_to_right():
    scenes = pytest.importorskip("vlmaudit.data.scenes")
    if not hasattr(scenes, "generate_scenes"):
        pytest.skip("scenes package not complete")
    scene = next(s for s in scenes.generate_scenes(50, seed=1) if len(s.objects) >= 2
                 and s.objects[0].colour != s.objects[1].colour)
    image = scenes.render(scene)
    flipped = CATALOGUE["hflip"](image)
    width = image.size[0]
    for obj in scene.objects:
        left, top, right, bottom = obj.box
        mirrored = (width - right, top, width - left, bottom)
        assert np.array_equal(np.asarray(flipped.crop(mirrored)), np.asarray(image.crop(obj.box))[:, ::-1])


def test_colour_transforms(photo):
    grey = _px(CATALOGUE["grayscale"](photo))
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    invert = CATALOGUE["invert"]
    assert np.array_equal(_px(invert(photo)), 255 - _px(photo))
    assert np.array_equal(_px(invert(invert(photo))), _px(photo))
    assert _px(CATALOGUE["brightness_up"](photo)).mean() > _px(photo).mean() > _px(
        CATALOGUE["brightness_down"](photo)).mean()
    assert _px(CATALOGUE["contrast_up"](photo)).std() > _px(photo).std() > _px(
        CATALOGUE["contrast_down"](photo)).std()
    assert np.unique(_px(CATALOGUE["posterize"](photo))).size <= 4  # 2 bits per channel


def test_size_transforms_change_size_as_stated(photo):
    w, h = photo.size
    assert CATALOGUE["center_crop"](photo).size == (round(w * 0.5), round(h * 0.5))
    crop = CATALOGUE["center_crop"](photo)
    left, top = round((w - crop.size[0]) / 2), round((h - crop.size[1]) / 2)  # torchvision centring
    assert np.array_equal(_px(crop), _px(photo)[top : top + crop.size[1], left : left + crop.size[0]])
    assert CATALOGUE["stretch_horizontal"](photo).size == (2 * w, h)
    assert CATALOGUE["stretch_vertical"](photo).size == (w, 2 * h)


def test_clarity_blur_smooths_and_sharpen_roughens(photo):
    def roughness(image):
        return np.abs(np.diff(_px(image), axis=1)).mean()

    assert roughness(CATALOGUE["blur"](photo)) < roughness(photo)
    smooth = CATALOGUE["blur"](photo)
    assert roughness(CATALOGUE["sharpen"](smooth)) > roughness(smooth)


def test_noise_is_deterministic_per_seed_and_image(photo):
    noise = CATALOGUE["gaussian_noise"]
    first, again = _px(noise(photo)), _px(noise(photo))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, _px(photo))
    assert abs((first - _px(photo)).std() - 0.1 * 255) < 3  # sigma 0.1 of the range, a little clipped
    other_seed = replace(noise, seed=1)
    assert not np.array_equal(_px(other_seed(photo)), first)
    assert other_seed.id != noise.id
    shifted = Image.fromarray(np.roll(np.asarray(photo), 1, axis=1))
    assert not np.array_equal(_px(noise(shifted)) - _px(shifted), first - _px(photo))
    persp = CATALOGUE["perspective"]
    assert np.array_equal(_px(persp(photo)), _px(persp(photo)))


def test_ids_cover_params_and_seed_only_where_random():
    rot = CATALOGUE["rotate_90"]
    assert rot.id == replace(rot, seed=7).id  # deterministic op: seed irrelevant
    assert rot.id == replace(rot, descriptions=("x",)).id  # wording never re-encodes
    assert rot.id != replace(rot, params={"degrees_clockwise": 45.0}).id
    assert len({t.id for t in CATALOGUE.values()}) == len(CATALOGUE)


def test_every_transform_returns_rgb(photo):
    for transform in CATALOGUE.values():
        out = transform(photo.convert("L"))
        assert out.mode == "RGB", transform.name


def test_catalogue_rows_and_selection():
    rows = catalogue_rows()
    assert [r["name"] for r in rows] == list(CATALOGUE)
    assert rows[0]["description"] == rows[0]["descriptions"][0]
    chosen = select_transforms(list(CATALOGUE.values()), ["hflip", "rotate_90"])
    assert [t.name for t in chosen] == ["hflip", "rotate_90"]
    with pytest.raises(SpecError, match="unknown transform"):
        select_transforms(list(CATALOGUE.values()), ["rot91"])


def _write(tmp_path, document) -> str:
    path = tmp_path / "transforms.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def test_transforms_file_extends_and_overrides(tmp_path):
    path = _write(tmp_path, {"transforms": [
        {"name": "hflip", "descriptions": ["mirrored"]},
        {"name": "rotate_45", "category": "geometric", "op": "rotate", "params": {"degrees_clockwise": 45},
         "descriptions": ["tilted 45 degrees clockwise"]},
    ]})
    catalogue = {t.name: t for t in load_catalogue(path)}
    assert len(catalogue) == len(CATALOGUE) + 1
    assert catalogue["hflip"].descriptions == ("mirrored",)
    assert catalogue["hflip"].id == CATALOGUE["hflip"].id
    assert catalogue["rotate_45"](marked()).size[0] > 40  # expanded canvas


def test_transforms_file_replace_mode(tmp_path):
    path = _write(tmp_path, {"mode": "replace", "transforms": [
        {"name": "a", "category": "geometric", "op": "hflip", "descriptions": ["mirrored"]},
        {"name": "b", "category": "processing", "op": "jpeg", "params": {"quality": 50},
         "descriptions": ["compressed"]},
    ]})
    assert [t.name for t in load_catalogue(path)] == ["a", "b"]


@pytest.mark.parametrize(("document", "message"), [
    ("{not json", "invalid JSON at line 1"),
    ({"items": []}, "'transforms' list"),
    ({"mode": "merge", "transforms": []}, "mode must be"),
    ({"transforms": [{"name": "x", "category": "geometric", "op": "twirl", "descriptions": ["a"]}]},
     r"transforms\[0\] \(x\): unknown op 'twirl'"),
    ({"transforms": [{"name": "x", "category": "size", "op": "center_crop", "params": {"fraction": 2},
                      "descriptions": ["a"]}]}, r"fraction=2 is outside"),
    ({"transforms": [{"name": "x", "category": "size", "op": "center_crop", "params": {},
                      "descriptions": ["a"]}]}, r"missing \['fraction'\]"),
    ({"transforms": [{"name": "x", "category": "processing", "op": "posterize", "params": {"bits": 2.5},
                      "descriptions": ["a"]}]}, "bits=2.5 must be int"),
    ({"transforms": [{"name": "hflip", "descriptions": []}]}, "non-empty list"),
    ({"transforms": [{"name": "hflip", "colour": "red"}]}, "unknown field"),
    ({"transforms": [{"name": "x", "op": "hflip", "descriptions": ["a"]}]}, "'category' must be"),
    ({"transforms": [{"name": "hflip", "descriptions": ["a"]}, {"name": "hflip", "descriptions": ["b"]}]},
     "duplicate name"),
])
def test_transforms_file_errors_are_one_line(tmp_path, document, message):
    path = _write(tmp_path, document)
    with pytest.raises(SpecError, match=message) as err:
        read_transforms_file(path)
    assert "\n" not in str(err.value) and str(tmp_path) in str(err.value)
