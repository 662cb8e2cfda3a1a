"""ARO readers on fixture files in the official formats (written in tmp_path)."""

import json

import pytest
from PIL import Image

from test_composition_text_order import LexiconTagger
from vlmaudit.data.readers.aro import karpathy_captions, read_order, read_vg
from vlmaudit.data.source import DataSpec, open_data
from vlmaudit.errors import DataError


def _image(path, size=(40, 30), colour=(200, 10, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def _vg_records(attribution):
    rows = []
    for i, (rel, attrs) in enumerate([("eating", ["white", "brown"]), ("on", ["red", "blue"])]):
        row = {"image_path": f"img{i}.jpg", "bbox_x": 5, "bbox_y": 4.6, "bbox_w": 20, "bbox_h": 10.2,
               "true_caption": f"the horse is {rel} the grass",
               "false_caption": f"the grass is {rel} the horse"}
        row.update({"attributes": attrs} if attribution else {"relation_name": rel})
        rows.append(row)
    return rows


@pytest.fixture
def vg_root(tmp_path):
    for i in range(2):
        _image(tmp_path / "images" / f"img{i}.jpg", colour=(50 * i, 100, 100))
    (tmp_path / "visual_genome_relation.json").write_text(json.dumps(_vg_records(False)))
    (tmp_path / "visual_genome_attribution.json").write_text(json.dumps(_vg_records(True)))
    return tmp_path


def test_vg_relation_options_groups_and_crop(vg_root):
    source = open_data(f"aro-vgr:{vg_root}")
    assert source.kind == "aro-vgr"
    items = source.subsets()["vg_relation"]
    assert [it.group for it in items] == ["eating", "on"]
    assert items[0].options == ("the grass is eating the horse", "the horse is eating the grass")
    assert items[0].gold == 1  # ARO lists [false, true]
    image = items[0].image.load()
    assert image.size == (20, 10)  # cropped to (x, y, x + w, y + h) as PIL rounds it: (5, 5, 25, 15)
    assert items[0].image.key.endswith("@5,5,25,15")
    assert len(source.fingerprint()) == 32


def test_vg_attribution_group_is_ordered_pair(vg_root):
    items = open_data(f"aro-vga:{vg_root / 'visual_genome_attribution.json'}").subsets()["vg_attribution"]
    assert [it.group for it in items] == ["white_brown", "red_blue"]
    limited = open_data(f"aro-vga:{vg_root}?limit=1").subsets()["vg_attribution"]
    assert len(limited) == 1


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda rows: rows[1].pop("false_caption"), "entry 1: missing field 'false_caption'"),
        (lambda rows: rows[0].update(bbox_w=0), "entry 0: empty bounding box"),
        (lambda rows: rows[1].update(relation_name=3), "entry 1: field 'relation_name' has type int"),
        (lambda rows: rows[0].update(image_path="missing.jpg"), "entry 0: image file not found"),
    ],
)
def test_malformed_vg_entries_name_file_and_entry(vg_root, mutate, message):
    rows = _vg_records(False)
    mutate(rows)
    path = vg_root / "bad.json"
    path.write_text(json.dumps(rows))
    with pytest.raises(DataError, match=message) as err:
        read_vg(path, vg_root / "images", attribution=False)
    assert "bad.json" in str(err.value) and "\n" not in str(err.value)


def test_vg_not_a_list_or_not_json(vg_root):
    path = vg_root / "bad.json"
    path.write_text(json.dumps({"a": 1}))
    with pytest.raises(DataError, match=r"bad\.json: expected a non-empty JSON list"):
        read_vg(path, vg_root, attribution=True)
    path.write_text("[{")
    with pytest.raises(DataError, match=r"cannot parse .*bad\.json"):
        read_vg(path, vg_root, attribution=True)


@pytest.fixture
def karpathy(tmp_path):
    _image(tmp_path / "val2014" / "a.jpg")
    _image(tmp_path / "val2014" / "b.jpg", colour=(0, 0, 255))
    blip = [
        {"image": "val2014/a.jpg", "caption": ["A big man walks a small dog on the red beach.", "a dog."]},
        {"image": "val2014/b.jpg", "caption": ["The dogs walk with a man."]},
    ]
    (tmp_path / "coco_karpathy_test.json").write_text(json.dumps(blip))
    return tmp_path


def test_karpathy_formats_blip_and_original(tmp_path, karpathy):
    blip = karpathy_captions(karpathy / "coco_karpathy_test.json")
    assert [c[0] for c in blip] == ["val2014/a.jpg#0", "val2014/a.jpg#1", "val2014/b.jpg#0"]
    original = {"images": [
        {"filepath": "val2014", "filename": "a.jpg", "split": "test", "sentences": [{"raw": "x y"}]},
        {"filepath": "val2014", "filename": "b.jpg", "split": "train", "sentences": [{"raw": "z"}]},
    ]}
    path = tmp_path / "dataset_coco.json"
    path.write_text(json.dumps(original))
    assert karpathy_captions(path) == [("val2014/a.jpg#0", "val2014/a.jpg", "x y")]
    path.write_text(json.dumps([{"image": "a.jpg", "caption": ["ok", ""]}]))
    with pytest.raises(DataError, match="entry 0: caption 1"):
        karpathy_captions(path)


def test_order_items_exclude_token_identical_and_freeze(karpathy):
    path = karpathy / "coco_karpathy_test.json"
    negatives = karpathy / "frozen.json"
    subsets, info = read_order(path, karpathy, tagger=LexiconTagger(), negatives=negatives)
    items = subsets["order"]
    assert [it.item_id for it in items] == ["val2014/a.jpg#0", "val2014/b.jpg#0"]  # "a dog." excluded
    assert info["excluded_token_identical"] == 1
    assert info["token_identical_after_resampling"]["shuffle_nouns_and_adj"] == 1
    assert info["tagger"] == "lexicon-test" and negatives.exists()
    assert all(it.gold == 0 and len(it.options) == 5 for it in items)
    assert items[0].options[0] == "a big man walks a small dog on the red beach"
    kept, kept_info = read_order(path, karpathy, tagger=LexiconTagger(), negatives=negatives,
                                 identical="keep")
    assert len(kept["order"]) == 3 and kept_info["excluded_token_identical"] == 0
    assert kept["order"][0].options == items[0].options  # reused from the frozen file


def test_order_source_through_the_registry_uses_frozen_file(karpathy):
    negatives = karpathy / "frozen.json"
    read_order(karpathy / "coco_karpathy_test.json", karpathy, tagger=LexiconTagger(), negatives=negatives)
    source = open_data(f"coco-order:{karpathy}?negatives={negatives}")  # no tagger installed: file suffices
    assert source.kind == "coco-order"
    assert len(source.subsets()["order"]) == 2 and source.info["perturbation_seed"] == 1
    flickr = open_data(f"flickr-order:{karpathy / 'coco_karpathy_test.json'}?negatives={negatives}")
    assert flickr.kind == "flickr-order"


def test_vg_spec_without_path_is_a_spec_error():
    from vlmaudit.data.readers.aro import open_vgr
    from vlmaudit.errors import SpecError

    with pytest.raises(SpecError, match="needs a path"):
        open_vgr(DataSpec("aro-vgr"))
