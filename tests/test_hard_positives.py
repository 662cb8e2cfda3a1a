"""Hard positives: reader (official data/ + swapped_data/ layout, triplet file) and the triplet metrics."""

import json

import numpy as np
import pytest
from PIL import Image

from vlmaudit.data.readers.hard_positives import read_official
from vlmaudit.data.source import open_data
from vlmaudit.errors import DataError, SpecError
from vlmaudit.suites.composition.score import triplet_rule

# (c, c_p, c_n) scores, hand-made: ties and every ordering of the three
TABLE = np.array(
    [
        [0.30, 0.29, 0.20],  # c > c_p > c_n: orig, aug
        [0.30, 0.10, 0.20],  # c > c_n > c_p: orig, brittle
        [0.10, 0.30, 0.20],  # c_p > c_n > c: brittle
        [0.20, 0.25, 0.20],  # c == c_n: tied; strict -> not orig
        [0.25, 0.20, 0.20],  # c_p == c_n: tied; orig, not aug (strict)
        [0.10, 0.05, 0.20],  # c_n highest
    ],
    dtype=np.float32,
)


def _independent(table, lenient=False):
    c, cp, cn = table.T
    beats = (lambda a, b: a >= b) if lenient else (lambda a, b: a > b)
    orig = [float(beats(a, n)) for a, n in zip(c, cn, strict=True)]
    aug = [float(beats(a, n) and beats(p, n)) for a, p, n in zip(c, cp, cn, strict=True)]
    brittle = [float((a > n > p) or (p > n > a)) for a, p, n in zip(c, cp, cn, strict=True)]
    tied = [bool(a == n or p == n) for a, p, n in zip(c, cp, cn, strict=True)]
    return orig, aug, brittle, tied


@pytest.mark.parametrize("policy", ["strict", "lenient"])
def test_triplet_metrics_match_definitions(policy):
    out = triplet_rule(TABLE, np.zeros(len(TABLE), dtype=int), policy, 0)
    orig, aug, brittle, tied = _independent(TABLE, lenient=policy == "lenient")
    assert out.values["orig_accuracy"].tolist() == orig
    assert out.values["aug_accuracy"].tolist() == aug
    assert out.values["brittleness"].tolist() == brittle
    assert out.tied.tolist() == tied
    if policy == "strict":
        assert orig == [1, 1, 0, 0, 1, 0] and aug == [1, 0, 0, 0, 0, 0] and brittle == [0, 1, 1, 0, 0, 0]


def _write_official(root, rows, swapped_rows, name="vl_checklist_attributes.json"):
    for folder, content in (("data", rows), ("swapped_data", swapped_rows)):
        (root / folder).mkdir(exist_ok=True)
        (root / folder / name).write_text(json.dumps(content))


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "data" / "VG_100K_2").mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (30, 20), (80 * i, 0, 0)).save(tmp_path / "data" / "VG_100K_2" / f"{i}.jpg")
    rows = [{"image_id": str(i), "true_caption": f"white dog {i}", "false_caption": f"black dog {i}",
             "image_path": f"data/VG_100K_2/{i}.jpg"} for i in range(3)]
    swapped = [dict(r, true_caption=f"ivory dog {i}") for i, r in enumerate(rows)]
    _write_official(tmp_path, rows, swapped)
    _write_official(tmp_path, rows[:2], swapped[:2], "vl_checklist_relations.json")
    return tmp_path


def test_official_layout_pairs_rows_into_triplets(repo):
    source = open_data(f"hard-positives:{repo}")
    assert source.kind == "hard-positives"
    subsets = source.subsets()
    assert list(subsets) == ["replace_att", "replace_rel"]
    first = subsets["replace_att"][0]
    assert first.options == ("white dog 0", "ivory dog 0", "black dog 0") and first.gold == 0
    assert first.image.load().size == (30, 20)  # REPLACE images are not cropped
    assert len(subsets["replace_rel"]) == 2
    assert list(open_data(f"hard-positives:{repo}?subsets=replace_rel").subsets()) == ["replace_rel"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda rows, swapped: swapped.pop(), "swapped_data.*2 rows, but .* has 3"),
        (lambda rows, swapped: swapped[1].update(false_caption="x"), "entry 1: false_caption differs"),
        (lambda rows, swapped: swapped[2].update(image_path="data/x.jpg"), "entry 2: image_path differs"),
        (lambda rows, swapped: rows[0].pop("true_caption"), "entry 0: missing field 'true_caption'"),
    ],
)
def test_rows_that_do_not_pair_up_are_data_errors(repo, edit, message):
    rows = json.loads((repo / "data" / "vl_checklist_attributes.json").read_text())
    swapped = json.loads((repo / "swapped_data" / "vl_checklist_attributes.json").read_text())
    edit(rows, swapped)
    _write_official(repo, rows, swapped)
    with pytest.raises(DataError, match=message) as err:
        read_official(repo / "data" / "vl_checklist_attributes.json",
                      repo / "swapped_data" / "vl_checklist_attributes.json", repo, crop=False)
    assert "vl_checklist_attributes.json" in str(err.value) and "\n" not in str(err.value)


def test_swap_subset_is_cropped_like_aro(repo):
    row = {"image_path": "data/VG_100K_2/1.jpg", "true_caption": "the white dog and the black cat",
           "false_caption": "the black dog and the white cat",
           "bbox_x": 2, "bbox_y": 3, "bbox_w": 10, "bbox_h": 5}
    _write_official(repo, [row], [dict(row, true_caption="the black cat and the white dog")],
                    "visual_genome_attribution.json")
    item = open_data(f"hard-positives:{repo}?subsets=swap").subsets()["swap"][0]
    assert item.image.load().size == (10, 5)


def test_triplet_file_with_subsets_and_limit(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    rows = [{"image_path": "a.png", "caption": f"c{i}", "hard_positive": f"p{i}", "hard_negative": f"n{i}",
             "subset": "replace" if i % 2 else "swap"} for i in range(5)]
    path = tmp_path / "triplets.json"
    path.write_text(json.dumps(rows))
    subsets = open_data(f"hard-positives:{path}?limit=2").subsets()
    assert {k: [it.options for it in v] for k, v in subsets.items()} == {
        "swap": [("c0", "p0", "n0"), ("c2", "p2", "n2")],
        "replace": [("c1", "p1", "n1"), ("c3", "p3", "n3")],
    }
    rows[3].pop("hard_positive")
    path.write_text(json.dumps(rows))
    with pytest.raises(DataError, match="entry 3: missing field 'hard_positive'"):
        open_data(f"hard-positives:{path}").subsets()


@pytest.mark.parametrize("folder", ["data/images", "swapped_data/images"])
def test_swap_images_are_found_where_the_official_repository_keeps_them(tmp_path, folder):
    """Bug: swap rows are ARO VG-A rows (image_path relative to ARO's images/), and run_eval.py reads
    them from data/images/ and swapped_data/images/; the reader looked only under the repo root."""
    (tmp_path / folder).mkdir(parents=True)
    Image.new("RGB", (30, 20), (9, 99, 199)).save(tmp_path / folder / "2345.png")
    row = {"image_path": "2345.png", "true_caption": "the white dog and the black cat",
           "false_caption": "the black dog and the white cat", "attributes": ["white", "black"],
           "bbox_x": 2, "bbox_y": 3, "bbox_w": 10, "bbox_h": 5}
    _write_official(tmp_path, [row], [dict(row, true_caption="the black cat and the white dog")],
                    "visual_genome_attribution.json")
    item = open_data(f"hard-positives:{tmp_path}").subsets()["swap"][0]
    assert item.image.label.startswith(str(tmp_path / folder / "2345.png"))
    assert item.image.load().size == (10, 5) and item.image.load().getpixel((0, 0)) == (9, 99, 199)


def test_missing_swap_image_names_every_folder_looked_in(tmp_path):
    row = {"image_path": "7.jpg", "true_caption": "a b", "false_caption": "b a", "attributes": ["a", "b"],
           "bbox_x": 0, "bbox_y": 0, "bbox_w": 4, "bbox_h": 4}
    _write_official(tmp_path, [row], [dict(row, true_caption="b a a")], "visual_genome_attribution.json")
    with pytest.raises(DataError) as err:
        open_data(f"hard-positives:{tmp_path}")
    message = str(err.value)
    assert "visual_genome_attribution.json entry 0: image 7.jpg not found" in message and "\n" not in message
    assert all(str(tmp_path / d) in message for d in ("data/images", "swapped_data/images"))


def test_triplet_file_subsets_option_names_a_missing_subset(tmp_path):
    """Bug: subsets=NAME absent from a triplet file was a KeyError traceback."""
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    path = tmp_path / "t.json"
    path.write_text(json.dumps([{"image_path": "a.png", "caption": "c", "hard_positive": "p",
                                 "hard_negative": "n", "subset": "swap"}]))
    with pytest.raises(SpecError, match=r"subsets \['replace'\] not in .*t\.json \(have \['swap'\]\)"):
        open_data(f"hard-positives:{path}?subsets=replace")
