"""SugarCrepe reader on the real annotation files (placeholder images) and on malformed fixtures."""

import json
import zlib

import pytest
from PIL import Image

from vlmaudit.data.readers.sugarcrepe import SUBSETS, read_subset
from vlmaudit.data.source import open_data
from vlmaudit.errors import DataError, SpecError

LIMIT = 20


@pytest.fixture(scope="module")
def placeholder_images(tmp_path_factory, shared_data_dir):
    """One small solid image per COCO file name referenced by the first LIMIT items of each subset."""
    root = tmp_path_factory.mktemp("val2017")
    for subset in SUBSETS:
        data = json.loads((shared_data_dir / f"{subset}.json").read_text())
        for entry in list(data.values())[:LIMIT]:
            target = root / entry["filename"]
            if not target.exists():
                c = zlib.crc32(entry["filename"].encode())
                Image.new("RGB", (48, 36), (c % 256, (c >> 8) % 256, (c >> 16) % 256)).save(target)
    return root


@pytest.fixture(scope="module")
def shared_data_dir():
    from conftest import SHARED

    path = SHARED / "data" / "sugarcrepe"
    if not path.exists():
        pytest.skip("../shared/data/sugarcrepe is not beside this checkout")
    return path


def test_reads_all_seven_subsets_in_order(shared_data_dir, placeholder_images):
    source = open_data(f"sugarcrepe:{shared_data_dir}?images={placeholder_images}&limit={LIMIT}")
    assert source.kind == "sugarcrepe"
    subsets = source.subsets()
    assert list(subsets) == list(SUBSETS)
    assert all(len(items) == LIMIT for items in subsets.values())
    first = subsets["swap_att"][0]
    assert first.options == ("Blue bathroom with two white towels hanging by the shower.",
                             "White bathroom with two blue towels hanging by the shower.")
    assert first.gold == 0 and first.item_id == "0"
    assert first.image.label.endswith("000000565045.jpg")


def test_single_file_and_subset_selection(shared_data_dir, placeholder_images):
    one = open_data(f"sugarcrepe:{shared_data_dir / 'add_att.json'}?images={placeholder_images}&limit=3")
    assert list(one.subsets()) == ["add_att"]
    spec = f"sugarcrepe:{shared_data_dir}?images={placeholder_images}&limit=2&subsets=swap_obj,add_obj"
    two = open_data(spec)
    assert list(two.subsets()) == ["swap_obj", "add_obj"]
    with pytest.raises(SpecError, match="not found"):
        open_data(f"sugarcrepe:{shared_data_dir}?subsets=swap_everything")


def test_full_files_have_the_published_counts(shared_data_dir):
    counts = {s: len(json.loads((shared_data_dir / f"{s}.json").read_text())) for s in SUBSETS}
    assert counts == {"replace_obj": 1652, "replace_att": 788, "replace_rel": 1406, "swap_obj": 245,
                      "swap_att": 666, "add_obj": 2062, "add_att": 692}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"0": {"filename": "a.jpg", "caption": "x"}}, "entry '0': missing field 'negative_caption'"),
        ({"7": {"filename": "a.jpg", "caption": "x", "negative_caption": ""}},
         "entry '7': field 'negative_caption' is empty"),
        ({"0": {"filename": "nope.jpg", "caption": "x", "negative_caption": "y"}},
         "entry '0': image file not found"),
        ({"0": ["a.jpg", "x", "y"]}, "entry '0': expected an object"),
        ([{"filename": "a.jpg"}], "expected an object"),
    ],
)
def test_malformed_file_is_one_line_error_naming_file_and_entry(tmp_path, content, message):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    path = tmp_path / "swap_att.json"
    path.write_text(json.dumps(content))
    with pytest.raises(DataError, match=message) as err:
        read_subset(path, tmp_path)
    assert "swap_att.json" in str(err.value) and "\n" not in str(err.value)


def test_folder_without_subset_files(tmp_path):
    with pytest.raises(DataError, match="no SugarCrepe subset files"):
        open_data(f"sugarcrepe:{tmp_path}")
