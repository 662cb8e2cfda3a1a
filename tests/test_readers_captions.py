"""Image-caption readers: each format from fixture files in tmp_path, plus malformed cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from vlmaudit.data.readers.captions import CaptionSource
from vlmaudit.data.source import open_data
from vlmaudit.errors import DataError, ImageError, SpecError


def write_image(path, colour) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 10), colour).save(path)


def colour_of(source: CaptionSource, index: int) -> tuple[int, ...]:
    return tuple(np.asarray(source.items[index].ref.load())[0, 0])


@pytest.fixture
def karpathy(tmp_path):
    """Flickr-style Karpathy JSON: images in a subfolder, one without 'filepath'."""
    images = tmp_path / "Flicker8k_Dataset"
    entries = []
    for i, (split, colour) in enumerate([("test", (255, 0, 0)), ("train", (0, 255, 0)),
                                         ("test", (0, 0, 255)), ("val", (9, 9, 9))]):
        write_image(images / f"im{i}.jpg", colour)
        entries.append({"filename": f"im{i}.jpg", "filepath": "Flicker8k_Dataset", "split": split,
                        "sentences": [{"raw": f"caption {i} a"}, {"raw": f"caption {i} b"}]})
    path = tmp_path / "dataset_flickr8k.json"
    path.write_text(json.dumps({"images": entries, "dataset": "flickr8k"}))
    return path


def test_karpathy_default_split_is_test(karpathy):
    source = open_data(f"captions:{karpathy}")
    assert source.kind == "image-caption" and source.format == "karpathy"
    assert [item.captions for item in source.items] == [("caption 0 a", "caption 0 b"),
                                                        ("caption 2 a", "caption 2 b")]
    assert colour_of(source, 1)[2] > 200  # image 2 is blue: paths resolved through filepath


def test_karpathy_split_all_and_subset(karpathy):
    everything = open_data(f"captions:{karpathy}?split=all")
    assert len(everything.items) == 4
    subset = open_data(f"captions:{karpathy}?split=all&n=2&seed=5")
    again = open_data(f"captions:{karpathy}?split=all&n=2&seed=5")
    assert len(subset.items) == 2
    assert [i.ref.key for i in subset.items] == [i.ref.key for i in again.items]
    order = [i.ref.key for i in everything.items]
    positions = [order.index(i.ref.key) for i in subset.items]
    assert positions == sorted(positions)  # the subset keeps file order
    assert subset.fingerprint() == again.fingerprint() != everything.fingerprint()


def test_karpathy_root_option(tmp_path):
    images = tmp_path / "elsewhere"
    write_image(images / "a.png", (1, 2, 3))
    path = tmp_path / "ann" / "k.json"
    path.parent.mkdir()
    entry = {"filename": "a.png", "split": "test", "sentences": [{"raw": "x"}]}
    path.write_text(json.dumps({"images": [entry]}))
    with pytest.raises(ImageError, match=r"a\.png"):
        open_data(f"captions:{path}")
    assert colour_of(open_data(f"captions:{path}?root={images}"), 0) == (1, 2, 3)


@pytest.mark.parametrize(("document", "message"), [
    ('{"images": [', "invalid JSON at line 1"),
    ('{"annotations": []}', "'images' list"),
    ('{"images": [{"split": "test", "sentences": [{"raw": "x"}]}]}',
     r"images\[0\]: needs a string 'filename'"),
    ('{"images": [{"filename": "a.jpg", "split": "test", "sentences": []}]}',
     r"images\[0\] \(a.jpg\): 'sentences'"),
    ('{"images": [{"filename": "a.jpg", "sentences": [{"raw": "x"}]}]}', "needs a string 'split'"),
    ('{"images": [{"filename": "a.jpg", "split": "train", "sentences": [{"raw": "x"}]}]}',
     "no images with split=test"),
])
def test_karpathy_malformed(tmp_path, document, message):
    path = tmp_path / "bad.json"
    path.write_text(document)
    with pytest.raises(DataError, match=message) as err:
        open_data(f"captions:{path}")
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_csv_manifest_groups_captions_and_filters_split(tmp_path):
    write_image(tmp_path / "img" / "a.png", (255, 0, 0))
    write_image(tmp_path / "img" / "b.png", (0, 255, 0))
    path = tmp_path / "data.csv"
    path.write_text('image,caption,split\nimg/a.png,"a red square, small",test\nimg/b.png,green,train\n'
                    "img/a.png,red again,test\n")
    source = open_data(str(path))  # a bare existing path reads as captions:PATH
    assert source.format == "csv"
    assert [item.captions for item in source.items] == [("a red square, small", "red again"), ("green",)]
    assert [item.captions for item in open_data(f"captions:{path}?split=train").items] == [("green",)]


@pytest.mark.parametrize(("text", "error", "message"), [
    ("picture,caption\na.png,x\n", DataError, r":1: header must name 'image' and 'caption'"),
    ("image,caption\nimg/a.png,x\n,y\n", DataError, r":3: missing or empty 'image'"),
    ("image,caption\nimg/a.png,x,extra\n", DataError, r":2: row has a different number of fields"),
    ("image,caption\nimg/a.png,\n", DataError, r":2: 'caption' must be"),
    ("image,caption\nimg/missing.png,x\n", ImageError, r"missing.png"),
    ("image,caption\n", DataError, "no images"),
])
def test_csv_malformed(tmp_path, text, error, message):
    write_image(tmp_path / "img" / "a.png", (255, 0, 0))
    path = tmp_path / "data.csv"
    path.write_text(text)
    with pytest.raises(error, match=message) as err:
        open_data(f"captions:{path}")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["data.csv", "data.jsonl"])
def test_manifest_with_a_byte_order_mark_reads_like_one_without(tmp_path, name):
    write_image(tmp_path / "a.png", (255, 0, 0))
    text = "image,caption\na.png,red\n" if name.endswith(".csv") else '{"image": "a.png", "caption": "red"}\n'
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())  # Excel's "CSV UTF-8" and some editors write one
    assert [item.captions for item in open_data(f"captions:{path}").items] == [("red",)]


@pytest.mark.parametrize("name", ["data.csv", "data.jsonl", "data.json"])
def test_a_latin1_file_is_one_line_naming_the_file_line_and_byte(tmp_path, name):
    """Bug: a Latin-1 CSV manifest (Excel's default "CSV") ended in a UnicodeDecodeError traceback."""
    write_image(tmp_path / "a.png", (255, 0, 0))
    text = {"data.csv": "image,caption\na.png,un café rouge\n",
            "data.jsonl": '{"image": "a.png", "caption": "red"}\n{"image": "a.png", "caption": "café"}\n',
            "data.json": '{"images": [{"filename": "a.png", "split": "test",\n'
                         ' "sentences": [{"raw": "café"}]}]}'}[name]
    path = tmp_path / name
    path.write_bytes(text.encode("latin-1"))
    offset = text.encode("latin-1").index(b"\xe9")
    with pytest.raises(DataError) as err:
        open_data(f"captions:{path}")
    assert str(err.value) == (f"{path}:2: byte 0xe9 at offset {offset} is not UTF-8; the file must be UTF-8 "
                              "encoded (re-save it as UTF-8)")


def test_a_csv_field_over_the_csv_size_limit_is_a_data_error(tmp_path):
    """Bug: csv.Error (a caption over 128 KiB, a NUL byte) escaped as a traceback."""
    write_image(tmp_path / "a.png", (255, 0, 0))
    path = tmp_path / "data.csv"
    path.write_text("image,caption\na.png," + "word " * 40_000 + "\n")
    with pytest.raises(DataError, match=r"data\.csv:2: not valid CSV \(field larger than field limit"):
        open_data(f"captions:{path}")


def test_csv_split_option_needs_a_split_column(tmp_path):
    write_image(tmp_path / "a.png", (255, 0, 0))
    path = tmp_path / "data.csv"
    path.write_text("image,caption\na.png,x\n")
    with pytest.raises(DataError, match="no 'split' field"):
        open_data(f"captions:{path}?split=test")


def test_jsonl_manifest(tmp_path):
    write_image(tmp_path / "a.png", (255, 0, 0))
    write_image(tmp_path / "b.png", (0, 0, 255))
    path = tmp_path / "data.jsonl"
    path.write_text('{"image": "a.png", "caption": "red"}\n\n'
                    '{"image": "b.png", "caption": ["blue", "navy"]}\n')
    source = open_data(f"captions:{path}")
    assert [item.captions for item in source.items] == [("red",), ("blue", "navy")]
    assert colour_of(source, 1)[2] > 200


@pytest.mark.parametrize(("text", "message"), [
    ('{"image": "a.png", "caption": "x"}\n{"image": "a.png",\n', r"data.jsonl:2: invalid JSON"),
    ('["a.png", "x"]\n', r"data.jsonl:1: expected a JSON object"),
    ('{"image": "a.png"}\n', r"data.jsonl:1: 'caption' must be"),
])
def test_jsonl_malformed(tmp_path, text, message):
    path = tmp_path / "data.jsonl"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        open_data(f"captions:{path}")


def test_image_folder_with_caption_template(tmp_path):
    write_image(tmp_path / "golden_retriever" / "1.png", (200, 150, 0))
    write_image(tmp_path / "cat" / "x" / "2.jpg", (10, 10, 10))
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    source = open_data(f"captions:{tmp_path}")
    assert source.format == "folder"
    assert [(i.label, i.captions) for i in source.items] == [("cat", ("a photo of a cat",)),
                                                              ("golden retriever",
                                                               ("a photo of a golden retriever",))]
    custom = open_data(f"captions:{tmp_path}?caption_template=an image of the {{label}}")
    assert custom.items[0].captions == ("an image of the cat",)


def test_image_folder_errors(tmp_path):
    write_image(tmp_path / "loose.png", (0, 0, 0))
    with pytest.raises(DataError, match=r"no images in <label>/ subfolders .*1 loose image"):
        open_data(f"captions:{tmp_path}")
    with pytest.raises(SpecError, match="must contain"):
        open_data(f"captions:{tmp_path}?caption_template=a photo")
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "broken.png").write_bytes(b"not a png")
    source = open_data(f"captions:{tmp_path}")
    with pytest.raises(ImageError, match=r"broken\.png"):
        source.items[0].ref.load()


def test_spec_errors(tmp_path):
    with pytest.raises(SpecError, match="needs a path"):
        open_data("captions")
    path = tmp_path / "data.txt"
    path.write_text("x")
    with pytest.raises(SpecError, match="format="):
        open_data(f"captions:{path}")
    with pytest.raises(SpecError, match="unknown data option 'colour' for captions"):
        open_data(f"captions:{path}?colour=red")
    with pytest.raises(DataError, match="not found"):
        open_data(f"captions:{tmp_path / 'nope.json'}")
