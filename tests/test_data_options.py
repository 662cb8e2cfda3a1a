"""Data options (`--data NAME:PATH?key=value`): every registered dataset validates its keys and values.

Each dataset gets a minimal valid fixture in its own format; the same spec with a typo in a key,
or a value of the wrong type, must be a one-line SpecError naming the key (and, for a value, what
it must be). Before the options became pydantic models, 6 of 8 readers ignored an unknown key:
`hard-positives:t.json?limt=2&imagez=/nowhere` loaded everything.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from test_composition_text_order import LexiconTagger
from test_readers_aro import _image, _vg_records
from test_readers_spatial import PREPS_A, _controlled, _mmvp, _winoground
from vlmaudit.data.readers.aro import read_order
from vlmaudit.data.source import DataSpec, open_data
from vlmaudit.errors import SpecError
from vlmaudit.registry import DATASETS


def _vg(root: Path) -> Path:
    for i in range(2):
        _image(root / "images" / f"img{i}.jpg", colour=(50 * i, 100, 100))
    (root / "visual_genome_relation.json").write_text(json.dumps(_vg_records(False)))
    (root / "visual_genome_attribution.json").write_text(json.dumps(_vg_records(True)))
    return root


def _order(root: Path) -> str:
    _image(root / "val2014" / "a.jpg")
    file = root / "coco_karpathy_test.json"
    file.write_text(json.dumps([{"image": "val2014/a.jpg", "caption": ["a big man walks a small dog."]}]))
    negatives = root / "negatives.json"  # frozen, so that opening needs no POS tagger
    read_order(file, root, tagger=LexiconTagger(), negatives=negatives)
    return f"{file}?negatives={negatives}"


def _captions(root: Path) -> Path:
    Image.new("RGB", (8, 8), (1, 2, 3)).save(root / "a.png")
    (root / "m.csv").write_text("image,caption\na.png,a dog\n")
    return root / "m.csv"


def _sugarcrepe(root: Path) -> Path:
    Image.new("RGB", (8, 8)).save(root / "0.jpg")
    entry = {"filename": "0.jpg", "caption": "a dog on a mat", "negative_caption": "a mat on a dog"}
    (root / "swap_att.json").write_text(json.dumps({"0": entry}))
    return root


def _hard_positives(root: Path) -> Path:
    Image.new("RGB", (8, 8)).save(root / "a.png")
    row = {"image_path": "a.png", "caption": "c", "hard_positive": "p", "hard_negative": "n"}
    (root / "t.json").write_text(json.dumps([row]))
    return root / "t.json"


def _image_folder(root: Path) -> Path:
    (root / "tabby").mkdir()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(root / "tabby" / "a.png")
    return root


def _vlmclassifier(root: Path) -> Path:
    Image.new("RGB", (8, 8)).save(root / "a.png")
    (root / "f_classes.json").write_text(json.dumps(["rose", "tulip"]))
    (root / "f.jsonl").write_text(json.dumps({"image": "a.png", "label": 1, "split": "test"}) + "\n")
    return root / "f.jsonl"


def _labels(root: Path) -> Path:
    Image.new("RGB", (8, 8)).save(root / "a.png")
    (root / "m.csv").write_text("image,label,split\na.png,ant,train\n")
    return root / "m.csv"


def _waterbirds(root: Path) -> Path:
    Image.new("RGB", (8, 8)).save(root / "b.jpg")
    (root / "metadata.csv").write_text("img_id,img_filename,y,split,place,place_filename\n"
                                       "1,b.jpg,1,2,0,p.jpg\n")
    return root


SPLITS = "must be 'train', 'val', 'test', 'valid', 'validation' or 'dev'"
# dataset -> (fixture writer returning the part after "NAME:" (or "" for a generated dataset),
#             a mistyped option, the phrase saying what it must be)
FIXTURES: dict[str, tuple[Callable[[Path], object], tuple[str, str], str]] = {
    "scenes": (lambda root: "", ("n", "ten"), "is not an integer"),
    "captions": (_captions, ("n", "2x"), "is not an integer"),
    "whatsup": (lambda root: _controlled(root, "controlled_images", PREPS_A), ("alpha", "blue"),
                "must be 'drop' or 'white'"),
    "winoground": (lambda root: _winoground(root, n=1), ("alpha", "clear"), "must be 'drop' or 'white'"),
    "mmvp-vlm": (lambda root: _mmvp(root, pairs=1), ("category", "kind"), "must be 'type' or 'order'"),
    "aro-vgr": (_vg, ("limit", "two"), "is not an integer"),
    "aro-vga": (_vg, ("limit", "-1"), "must be >= 0"),
    "coco-order": (_order, ("seed", "one"), "is not an integer"),
    "flickr-order": (_order, ("max_words", "0"), "must be >= 1"),
    "sugarcrepe": (_sugarcrepe, ("limit", "1.5"), "is not an integer"),
    "hard-positives": (_hard_positives, ("limit", "all"), "is not an integer"),
    "image-folder": (_image_folder, ("alpha", "none"), "must be 'drop' or 'white'"),
    "vlmclassifier": (_vlmclassifier, ("split", "holdout"), SPLITS),
    "labels": (_labels, ("split", "Train"), SPLITS),
    "waterbirds": (_waterbirds, ("alpha", "black"), "must be 'drop' or 'white'"),
}


def _spec(name: str, root: Path, **options: str) -> str:
    """`NAME[:PATH]?k=v&...` on the dataset's fixture, the fixture's own options first."""
    writer = FIXTURES[name][0]
    root.mkdir(parents=True, exist_ok=True)
    body, _, query = str(writer(root)).partition("?")
    head = f"{name}:{body}" if body else name
    query = "&".join(filter(None, [query, "n=2" if name == "scenes" else "",
                                   *(f"{k}={v}" for k, v in options.items())]))
    return f"{head}?{query}" if query else head


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_rejects_an_unknown_key_naming_it_and_the_known_ones(name, tmp_path):
    """Bug: a typo in a data option (limt=2) was ignored, and the whole dataset was evaluated."""
    assert name in FIXTURES, f"dataset {name!r} has no options fixture here: add one to FIXTURES"
    assert open_data(_spec(name, tmp_path / "ok")).kind  # the fixture itself is valid
    with pytest.raises(SpecError) as err:
        open_data(_spec(name, tmp_path / "bad", limt="2"))
    message = str(err.value)
    assert message.startswith(f"unknown data option 'limt' for {name} (known: ") and "\n" not in message
    known = message.partition("(known: ")[2].rstrip(")").split(", ")
    assert "limt" not in known and known == sorted(known) and len(known) >= 1


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_names_a_mistyped_value_and_what_it_must_be(name, tmp_path):
    """Bug: a value of the wrong type was ignored or surfaced as a traceback from int()."""
    assert name in FIXTURES, f"dataset {name!r} has no options fixture here: add one to FIXTURES"
    (key, value), must = FIXTURES[name][1:]
    with pytest.raises(SpecError) as err:
        open_data(_spec(name, tmp_path, **{key: value}))
    assert str(err.value) == f"{name}: data option {key}={value!r} {must}"


def test_several_unknown_keys_and_a_bad_value_are_one_line(tmp_path):
    """The brief's example: both typos are named, with the known keys listed once."""
    path = _hard_positives(tmp_path)
    with pytest.raises(SpecError) as err:
        open_data(f"hard-positives:{path}?limt=2&imagez=/nowhere&limit=x")
    assert str(err.value) == (
        "unknown data options 'limt', 'imagez' for hard-positives (known: alpha, images, limit, subsets); "
        "hard-positives: data option limit='x' is not an integer"
    )


def test_options_are_typed_after_parsing(tmp_path):
    """Comma lists, paths (with ~) and defaults come out of the model ready to use."""
    from vlmaudit.data.readers.hard_positives import HardPositivesOptions

    options = DataSpec("hard-positives", "x", {"subsets": "swap,replace_att", "images": "~/imgs"}).parse(
        HardPositivesOptions)
    assert options.subsets == ("swap", "replace_att")
    assert options.images == Path("~/imgs").expanduser() and options.limit == 0 and options.alpha == "drop"


@pytest.mark.parametrize("name", ["winoground", "whatsup", "sugarcrepe", "captions"])
def test_the_alpha_choice_is_in_the_fingerprint(name, tmp_path):
    """Bug: the default moved from compositing on white to dropping alpha; a result computed with
    one must not look like the same data as one computed with the other."""
    default = open_data(_spec(name, tmp_path / "default"))  # alpha=drop
    white = open_data(_spec(name, tmp_path / "white", alpha="white"))
    assert default.fingerprint() != white.fingerprint()
