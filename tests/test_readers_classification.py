"""Labelled-image readers: image folder, VLMClassifier JSONL, manifests, Waterbirds metadata.csv,
each from small fixture files in tmp_path, plus the malformed cases that must fail in one line."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from vlmaudit.data.items import CaptionChoice, LabelledImage
from vlmaudit.data.readers.classification import ClassificationSource
from vlmaudit.data.source import open_data
from vlmaudit.errors import DataError, SpecError
from vlmaudit.registry import DATASETS


def write_image(path, colour) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), colour).save(path)


def colour(source: ClassificationSource, index: int) -> tuple[int, ...]:
    """The top-left pixel, rounded to 10s so JPEG's small colour error does not matter."""
    return tuple(int(round(v, -1)) for v in np.asarray(source.items[index].image.load())[0, 0].astype(int))


@pytest.fixture
def imagenette(tmp_path):
    """Imagenette-style wnid folders and a wnid -> name map (JSON) with an extra unused entry."""
    root = tmp_path / "imagenette"
    write_image(root / "n01440764" / "a.png", (250, 0, 0))
    write_image(root / "n01440764" / "b.png", (250, 0, 0))
    write_image(root / "n02102040" / "c.png", (0, 0, 250))
    (root / "n02102040" / "notes.txt").write_text("not an image")
    mapping = tmp_path / "wnids.json"
    mapping.write_text(json.dumps({"n02102040": "English springer", "n01440764": "tench",
                                   "n99999999": "unused"}))
    return root, mapping


def test_image_folder_maps_wnids_and_keeps_sorted_folder_order(imagenette):
    """Catches: class names taken from the folder (wnids in prompts) or in map order, not folder order."""
    root, mapping = imagenette
    source = open_data(f"image-folder:{root}?classes={mapping}")
    assert source.kind == "labelled-image" and source.format == "folder"
    assert source.classes == ("tench", "English springer")
    assert [(i.label, i.split, i.item_id) for i in source.items] == [
        ("tench", "", "n01440764/a.png"), ("tench", "", "n01440764/b.png"),
        ("English springer", "", "n02102040/c.png")]
    assert colour(source, 2) == (0, 0, 250)


def test_class_map_as_two_column_tsv(imagenette, tmp_path):
    """Catches: a TSV map read as CSV (the tab stays in the name) or its rows mis-split."""
    root, _ = imagenette
    tsv = tmp_path / "map.tsv"
    tsv.write_text("n01440764\ttench\nn02102040\tEnglish springer\n")
    assert open_data(f"image-folder:{root}?classes={tsv}").classes == ("tench", "English springer")


def test_image_folder_without_map_reads_underscores_as_spaces(tmp_path):
    """Catches: "golden_retriever" passed to prompts verbatim."""
    write_image(tmp_path / "golden_retriever" / "x.png", (1, 2, 3))
    write_image(tmp_path / "tabby" / "y.png", (4, 5, 6))
    assert open_data(f"image-folder:{tmp_path}").classes == ("golden retriever", "tabby")


@pytest.mark.parametrize("setup, message", [
    ("empty", "no images in <class>/ subfolders"),
    ("unmapped", "no class name for folder(s) ['n02102040']"),
    ("duplicate", "appears twice"),
])
def test_image_folder_bad_input_is_one_line_data_error(imagenette, tmp_path, setup, message):
    """Catches: an empty folder giving an empty dataset, a folder missing from the map silently
    keeping its wnid, two classes sharing one name (they would tie in every zero-shot comparison)."""
    root, mapping = imagenette
    spec = f"image-folder:{root}?classes={mapping}"
    if setup == "empty":
        (tmp_path / "empty" / "class").mkdir(parents=True)
        spec = f"image-folder:{tmp_path / 'empty'}"
    elif setup == "unmapped":
        mapping.write_text(json.dumps({"n01440764": "tench"}))
    else:
        mapping.write_text(json.dumps({"n01440764": "tench", "n02102040": "tench"}))
    with pytest.raises(DataError, match=re.escape(message)) as err:
        open_data(spec)
    assert "\n" not in str(err.value)


def test_unknown_option_is_a_spec_error_listing_the_known_ones(imagenette):
    """Catches: a typo'd option (clases=) silently ignored."""
    root, mapping = imagenette
    known = re.escape("unknown data option 'clases' for image-folder (known: alpha, classes)")
    with pytest.raises(SpecError, match=known):
        open_data(f"image-folder:{root}?clases={mapping}")
    with pytest.raises(SpecError, match="unknown data option 'split' for image-folder"):
        open_data(f"image-folder:{root}?split=test")


@pytest.fixture
def vlmc(tmp_path):
    """VLMClassifier layout: data/flowers.jsonl + data/flowers_classes.json, images under the repo."""
    data = tmp_path / "data"
    data.mkdir()
    for i, c in enumerate([(250, 0, 0), (0, 250, 0), (0, 0, 250)]):
        write_image(tmp_path / "data" / "Flowers102" / "jpg" / f"image_{i}.jpg", c)
    (data / "flowers_classes.json").write_text(json.dumps(["pink primrose", "passion flower", "rose"]))
    rows = [{"image": "./data/Flowers102/jpg/image_0.jpg", "label": "passion flower", "split": "test"},
            {"image": "./data/Flowers102/jpg/image_1.jpg", "label": 2, "split": "train"},
            {"image": "./data/Flowers102/jpg/image_2.jpg", "label": "rose", "label_idx": 2, "split": "valid"}]
    path = data / "flowers.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return tmp_path, path


def test_vlmclassifier_names_and_indices_and_valid_split(vlmc):
    """Catches: an integer label read as a name ("2"), the class list's order lost, and "valid" kept
    as a fourth split a probe would not find."""
    repo, path = vlmc
    source = open_data(f"vlmclassifier:{path}?root={repo}")
    assert source.classes == ("pink primrose", "passion flower", "rose")
    assert [(i.label, i.split) for i in source.items] == [("passion flower", "test"), ("rose", "train"),
                                                          ("rose", "val")]
    assert colour(source, 1) == (0, 250, 0)
    only_test = open_data(f"vlmclassifier:{path}?root={repo}&split=test")
    assert len(only_test.items) == 1 and only_test.fingerprint() != source.fingerprint()
    only_val = open_data(f"vlmclassifier:{path}?root={repo}&split=validation")
    assert [i.split for i in only_val.items] == ["val"]


def test_items_of_yields_every_labelled_image_under_the_format(vlmc):
    """Catches: a classification source that suites cannot read by item type (no items_of), or one
    that drops a split from its items (a probe needs train and test together)."""
    repo, path = vlmc
    source = open_data(f"vlmclassifier:{path}?root={repo}")
    assert source.item_types == {LabelledImage}
    assert source.items_of(LabelledImage) == {"vlmclassifier": source.items}
    with pytest.raises(SpecError, match="has no CaptionChoice items"):
        source.items_of(CaptionChoice)


IMG0 = "./data/Flowers102/jpg/image_0.jpg"


@pytest.mark.parametrize("row, message", [
    ({"image": IMG0, "label": "tulip", "split": "test"}, "unknown class 'tulip'"),
    ({"image": IMG0, "label": 3, "split": "test"}, "label index 3 out of range"),
    ({"image": IMG0, "label": "rose", "label_idx": 0, "split": "test"}, "disagrees with 'label_idx'"),
    ({"image": IMG0, "label": "rose", "split": "holdout"}, "unknown split"),
    ({"image": "./data/Flowers102/jpg/nope.jpg", "label": "rose", "split": "test"}, "image not found"),
    ({"image": IMG0, "split": "test"}, "missing 'label'"),
])
def test_vlmclassifier_bad_rows_name_the_line(vlmc, row, message):
    """Catches: an unknown class or a bad index turned into a new class / a wrong class, a name that
    contradicts label_idx, an unknown split, a missing image found only mid-embedding."""
    repo, path = vlmc
    path.write_text(path.read_text() + json.dumps(row) + "\n")
    with pytest.raises(DataError, match=message) as err:
        open_data(f"vlmclassifier:{path}?root={repo}")
    assert f"{path}:4" in str(err.value) and "\n" not in str(err.value)


def test_vlmclassifier_needs_a_classes_file(vlmc, tmp_path):
    """Catches: a JSONL without its class list read with classes inferred (losing the official order)."""
    _, path = vlmc
    other = path.with_name("other.jsonl")
    other.write_text(path.read_text())
    with pytest.raises(SpecError, match="give classes=FILE"):
        open_data(f"vlmclassifier:{other}")


def test_manifest_csv_attributes_split_and_class_order(tmp_path):
    """Catches: attribute columns dropped, labels not sorted into a stable class order, the split
    column leaking into attributes."""
    for i in range(3):
        write_image(tmp_path / "img" / f"{i}.png", (i, i, i))
    (tmp_path / "m.csv").write_text("image,label,group,split\nimg/0.png,zebra,a,train\n"
                                    "img/1.png,ant,b,test\nimg/2.png,zebra,b,val\n")
    source = open_data(f"labels:{tmp_path / 'm.csv'}")
    assert source.classes == ("ant", "zebra")
    assert [(i.label, dict(i.attributes), i.split) for i in source.items] == [
        ("zebra", {"group": "a"}, "train"), ("ant", {"group": "b"}, "test"), ("zebra", {"group": "b"}, "val")]


def test_manifest_jsonl_with_class_list_order(tmp_path):
    """Catches: a classes= list ignored (sorted order used) or a label outside it accepted."""
    write_image(tmp_path / "0.png", (1, 1, 1))
    row = {"image": "0.png", "label": "zebra", "context": "grass"}
    (tmp_path / "m.jsonl").write_text(json.dumps(row) + "\n")
    (tmp_path / "c.json").write_text(json.dumps(["zebra", "ant"]))
    source = open_data(f"labels:{tmp_path / 'm.jsonl'}?classes={tmp_path / 'c.json'}")
    assert source.classes == ("zebra", "ant") and source.items[0].attributes == {"context": "grass"}
    (tmp_path / "c.json").write_text(json.dumps(["ant"]))
    with pytest.raises(DataError, match="unknown class 'zebra'"):
        open_data(f"labels:{tmp_path / 'm.jsonl'}?classes={tmp_path / 'c.json'}")


def test_manifest_missing_column_names_the_file(tmp_path):
    """Catches: a manifest without a label column read as unlabelled rows (KeyError mid-run)."""
    (tmp_path / "m.csv").write_text("image,class\n0.png,ant\n")
    with pytest.raises(DataError, match=r"m\.csv:1: missing column\(s\) \['label'\]"):
        open_data(f"labels:{tmp_path / 'm.csv'}")


@pytest.fixture
def waterbirds(tmp_path):
    rows = ["img_id,img_filename,y,split,place,place_filename"]
    for i, (y, split, place) in enumerate([(0, 0, 0), (1, 0, 0), (1, 1, 1), (0, 2, 1)]):
        name = f"{i:03d}.Bird/bird_{i}.jpg"
        write_image(tmp_path / name, (10 * i, 0, 0))
        rows.append(f"{i + 1},{name},{y},{split},{place},/x/place_{i}.jpg")
    (tmp_path / "metadata.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def test_waterbirds_codes_and_wilds_groups(waterbirds):
    """Catches: split/y/place codes mapped in the wrong order, or the group index of WILDS'
    CombinatorialGrouper (background + 2*y) computed the other way round (2*place + y)."""
    source = open_data(f"waterbirds:{waterbirds}")
    assert source.classes == ("landbird", "waterbird")
    got = [(i.label, i.split, i.attributes["place"], i.attributes["group"], i.attributes["group_index"])
           for i in source.items]
    assert got == [("landbird", "train", "land", "landbird/land", "0"),
                   ("waterbird", "train", "land", "waterbird/land", "2"),
                   ("waterbird", "val", "water", "waterbird/water", "3"),
                   ("landbird", "test", "water", "landbird/water", "1")]
    assert colour(source, 3) == (30, 0, 0) and source.items[0].item_id == "1"
    assert len(open_data(f"waterbirds:{waterbirds / 'metadata.csv'}?split=val").items) == 1


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace(",place,", ",background,"), r"missing column\(s\) \['place'\]"),
    (lambda t: t.replace("\n1,000.Bird/bird_0.jpg,0,0,", "\n1,000.Bird/bird_0.jpg,0,3,"), "split='3'"),
    (lambda t: t.replace("bird_3.jpg", "gone.jpg"), "image not found"),
])
def test_waterbirds_bad_metadata(waterbirds, edit, message):
    """Catches: a missing column, an unknown split code read as test, a missing image."""
    meta = waterbirds / "metadata.csv"
    meta.write_text(edit(meta.read_text()))
    with pytest.raises(DataError, match=message) as err:
        open_data(f"waterbirds:{waterbirds}")
    assert "metadata.csv" in str(err.value)


def test_fingerprint_follows_labels_and_options(tmp_path):
    """Catches: a fingerprint that ignores labels (a relabelled manifest reusing stale results)."""
    write_image(tmp_path / "0.png", (1, 1, 1))
    manifest = tmp_path / "m.csv"
    manifest.write_text("image,label\n0.png,ant\n")
    before = open_data(f"labels:{manifest}").fingerprint()
    assert open_data(f"labels:{manifest}").fingerprint() == before
    manifest.write_text("image,label\n0.png,bee\n")
    assert open_data(f"labels:{manifest}").fingerprint() != before


def test_readers_are_listed():
    """Catches: a reader written but not registered (`vlmaudit ls datasets` would not show it)."""
    names = {e.name: e.summary for e in DATASETS.entries()}
    for name in ("image-folder", "vlmclassifier", "labels", "waterbirds"):
        assert names[name]


def test_alpha_option_reaches_the_images(tmp_path):
    """Catches: `alpha=` accepted but not passed to the image loader (a transparent PNG dropped to
    black whatever the option said)."""
    (tmp_path / "ant").mkdir()
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(tmp_path / "ant" / "clear.png")
    dropped = open_data(f"image-folder:{tmp_path}")
    white = open_data(f"image-folder:{tmp_path}?alpha=white")
    pixel = [np.asarray(source.items[0].image.load())[0, 0].tolist() for source in (dropped, white)]
    assert pixel == [[0, 0, 0], [255, 255, 255]]


@pytest.mark.parametrize("name, suffix, header", [("labels", ".csv", "image,label\n"),
                                                  ("waterbirds", ".csv", None),
                                                  ("vlmclassifier", ".jsonl", None)])
def test_a_latin1_file_is_one_line_naming_the_byte(tmp_path, name, suffix, header):
    """Catches the UnicodeDecodeError traceback a Latin-1 annotation file gave (the readers opened
    files as UTF-8 themselves instead of through the shared UTF-8 check)."""
    path = tmp_path / ("metadata.csv" if name == "waterbirds" else f"data{suffix}")
    if name == "waterbirds":
        text = "img_id,img_filename,y,split,place,place_filename\n1,caf\xe9.jpg,0,0,0,x\n"
    elif name == "vlmclassifier":
        (tmp_path / "data_classes.json").write_text(json.dumps(["cat"]))
        text = '{"image": "caf\xe9.jpg", "label": "cat", "split": "test"}\n'
    else:
        text = header + "caf\xe9.jpg,cat\n"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(DataError, match=r":2: byte 0xe9 .* not UTF-8|:1: byte 0xe9 .* not UTF-8"):
        open_data(f"{name}:{path}")
