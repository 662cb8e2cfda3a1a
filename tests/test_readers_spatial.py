"""What'sUp, Winoground and MMVP-VLM readers on fixture files in each released format."""

import json

import pytest
from PIL import Image

from vlmaudit.data.source import open_data
from vlmaudit.errors import DataError, ImageError, SpecError

PREPS_A = {"left": "to the left of", "right": "to the right of", "on": "on", "under": "under"}
PREPS_B = {"left": "to the left of", "right": "to the right of", "in-front": "in front of",
           "behind": "behind"}


def _image(path, shade, mode="RGB", fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = (shade, 255 - shade, 7) if mode == "RGB" else (shade, 255 - shade, 7, 128)
    Image.new(mode, (8, 6), colour).save(path, format=fmt)
    return path


def _controlled(root, image_dir, preps, pairs=(("mug", "table"), ("cup", "chair")), name=None):
    rows = []
    shade = 0
    for obj, ref in pairs:
        for key, phrase in preps.items():
            of = "_of" if key in ("left", "right", "in-front") else ""
            fname = f"{obj}_{key}{of}_{ref}.jpeg"
            _image(root / image_dir / fname, shade, fmt="JPEG")
            shade += 20
            gold = f"A {obj} {phrase} a {ref}"
            others = [f"A {obj} {p} a {ref}" for k, p in preps.items() if k != key]
            rows.append({"image_path": f"data/{image_dir}/{fname}", "caption_options": [gold, *others]})
    default = "controlled_images_dataset.json" if "on" in preps else "controlled_clevr_dataset.json"
    file = root / (name or default)
    file.write_text(json.dumps(rows))
    return file


def test_whatsup_subset_a_groups_relations_and_opposites(tmp_path):
    file = _controlled(tmp_path, "controlled_images", PREPS_A)
    source = open_data(f"whatsup:{file}")
    assert source.kind == "whatsup" and list(source.subsets) == ["A"]
    items = source.subsets["A"]
    assert len(items) == 8
    assert [it.relation for it in items[:4]] == ["left", "right", "on", "under"]
    assert {it.group for it in items} == {"mug/table", "cup/chair"}
    for it in items:  # the opposite option carries the opposite preposition word
        opp = it.options[it.opposite].split()
        word = {"left": "right", "right": "left", "on": "under", "under": "on"}[it.relation]
        assert word in opp
    assert items[0].image.load().size == (8, 6)
    assert source.fingerprint() == open_data(f"whatsup:{file}").fingerprint()


def test_whatsup_directory_loads_a_and_b_and_subset_option_filters(tmp_path):
    _controlled(tmp_path, "controlled_images", PREPS_A)
    _controlled(tmp_path, "controlled_clevr", PREPS_B, pairs=(("ball", "box"),))
    both = open_data(f"whatsup:{tmp_path}")
    assert sorted(both.subsets) == ["A", "B"]
    assert [it.relation for it in both.subsets["B"]] == ["left", "right", "in-front", "behind"]
    assert both.subsets["B"][2].options[both.subsets["B"][2].opposite].endswith("behind a box")
    only_b = open_data(f"whatsup:{tmp_path}?subset=B")
    assert list(only_b.subsets) == ["B"]
    assert only_b.fingerprint() != both.fingerprint()


def test_whatsup_detects_renamed_files_from_content(tmp_path):
    file = _controlled(tmp_path, "controlled_clevr", PREPS_B, name="mine.json")
    assert list(open_data(f"whatsup:{file}").subsets) == ["B"]


def test_whatsup_coco_spatial_one_and_two_object(tmp_path):
    _image(tmp_path / "val2017" / "000000000042.jpg", 10, fmt="JPEG")
    one = tmp_path / "coco_qa_one_obj.json"
    one.write_text(json.dumps([[42, "A photo of a dog on the left", "A photo of a dog on the right"]]))
    two = tmp_path / "renamed.json"
    two.write_text(json.dumps([[42, "A photo of a dog above a cat", "A photo of a dog below a cat"]]))
    item = open_data(f"whatsup:{one}").subsets["coco-one"][0]
    assert (item.relation, item.opposite, item.options[0]) == ("left", 1, "A photo of a dog on the left")
    detected = open_data(f"whatsup:{two}")
    assert list(detected.subsets) == ["coco-two"] and detected.subsets["coco-two"][0].relation == "above"


def test_whatsup_errors_name_file_and_entry(tmp_path):
    file = _controlled(tmp_path, "controlled_images", PREPS_A)
    rows = json.loads(file.read_text())
    rows[1]["caption_options"] = "not a list"
    file.write_text(json.dumps(rows))
    with pytest.raises(DataError, match=r"controlled_images_dataset.json: entry 1 ") as err:
        open_data(f"whatsup:{file}")
    assert "\n" not in str(err.value)
    file.write_text("{broken")
    with pytest.raises(DataError, match="not valid JSON"):
        open_data(f"whatsup:{file}")
    rows[1]["caption_options"] = ["a", "b"]
    rows[1]["image_path"] = "data/controlled_images/mug_sideways_table.jpeg"
    file.write_text(json.dumps(rows))
    with pytest.raises(DataError, match=r"entry 1: file name 'mug_sideways_table.jpeg'"):
        open_data(f"whatsup:{file}")


def test_whatsup_missing_image_is_an_image_error_naming_it(tmp_path):
    file = _controlled(tmp_path, "controlled_images", PREPS_A)
    (tmp_path / "controlled_images" / "cup_under_chair.jpeg").unlink()
    with pytest.raises(ImageError, match=r"entry 7 .*cup_under_chair.jpeg"):
        open_data(f"whatsup:{file}")
    with pytest.raises(SpecError, match="unknown What'sUp subset"):
        open_data(f"whatsup:{file}?subset=Z")


def test_whatsup_duplicated_row_keeps_the_last_and_counts_the_dropped(tmp_path):
    """Bug: a repeated image row became a fifth member of its set, and the spatial suite died with a
    traceback after embedding everything; the official eval_dict keeps the last row."""
    from toy import ToyModel
    from vlmaudit.engine.core import Engine
    from vlmaudit.registry import SUITES
    from vlmaudit.suites.base import RunContext, build_config

    file = _controlled(tmp_path, "controlled_images", PREPS_A)
    rows = json.loads(file.read_text())
    repeat = dict(rows[1], caption_options=list(reversed(rows[1]["caption_options"])))  # same image, edited
    file.write_text(json.dumps([*rows[:3], repeat, *rows[3:]]))
    source = open_data(f"whatsup:{file}")
    items = source.subsets["A"]
    assert len(items) == 8 and source.info == {"duplicate_rows_dropped": {"A": 1}}
    assert [it.relation for it in items[:4]] == ["left", "on", "right", "under"]  # the last copy's place
    assert items[2].options == tuple(repeat["caption_options"])  # and its content
    assert open_data(f"whatsup:{_controlled(tmp_path / 'clean', 'controlled_images', PREPS_A)}").info == {}

    suite = SUITES.get("spatial")
    model = ToyModel()
    ctx = RunContext(model, Engine(model, cache_dir=None, progress=False), seed=0)
    config = build_config(suite.Config, {"n_boot": 20})
    (result,) = suite.run(ctx, source, config)
    metrics = {f"{m.group}:{m.name}": m for m in result.metrics}
    assert metrics["whatsup/A:individual"].n == 8 and metrics["whatsup/A:set"].n == 2


# ------------------------------------------------------------------------------------ Winoground


def _winoground(root, n=2):
    rows = []
    for i in range(n):
        for k in (0, 1):
            _image(root / "images" / f"ex_{i}_img_{k}.png", 40 * i + 9 * k, mode="RGBA")
        rows.append({"id": i, "image_0": f"ex_{i}_img_0", "image_1": f"ex_{i}_img_1",
                     "caption_0": f"a mug left of a plate {i}", "caption_1": f"a plate left of a mug {i}",
                     "tag": "Noun", "secondary_tag": "" if i else "Symbolic", "num_main_preds": 1,
                     "collapsed_tag": "Object"})
    file = root / "examples.jsonl"
    file.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return file


def test_winoground_reads_pairs_tags_and_rgba(tmp_path):
    _winoground(tmp_path)
    source = open_data(f"winoground:{tmp_path}")
    assert source.kind == "winoground" and len(source.items) == 2
    first, second = source.items
    assert first.captions == ("a mug left of a plate 0", "a plate left of a mug 0")
    assert first.tags == {"tag": "Noun", "secondary_tag": "Symbolic", "num_main_preds": "1",
                          "collapsed_tag": "Object"}
    assert "secondary_tag" not in second.tags  # empty tag fields are not a category
    assert first.images[0].load().mode == "RGB"


def test_winoground_errors(tmp_path):
    file = _winoground(tmp_path)
    lines = file.read_text().splitlines()
    file.write_text(lines[0] + "\n{oops\n")
    with pytest.raises(DataError, match=r"examples.jsonl: line 2 is not valid JSON"):
        open_data(f"winoground:{file}")
    file.write_text(lines[0] + "\n" + json.dumps({"id": 9, "image_0": "x"}) + "\n")
    with pytest.raises(DataError, match=r"line 2 \(id 9\) lacks image_1, caption_0, caption_1"):
        open_data(f"winoground:{file}")
    (tmp_path / "images" / "ex_1_img_1.png").unlink()
    _winoground_rows = [json.loads(line) for line in lines]
    file.write_text("\n".join(json.dumps(r) for r in _winoground_rows))
    with pytest.raises(ImageError, match=r"line 2 .*ex_1_img_1.png"):
        open_data(f"winoground:{file}")


def _winoground_parquet(root, jsonl_root):
    """The current Hugging Face layout (data/test-*.parquet) of `jsonl_root`'s rows and PNG bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in (jsonl_root / "examples.jsonl").read_text().splitlines()]
    for row in rows:
        for k in (0, 1):
            name = f"{row[f'image_{k}']}.png"
            row[f"image_{k}"] = {"bytes": (jsonl_root / "images" / name).read_bytes(), "path": name}
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    text = pa.string()
    schema = pa.schema([("id", pa.int64()), ("image_0", image), ("image_1", image), ("caption_0", text),
                        ("caption_1", text), ("tag", text), ("secondary_tag", text),
                        ("num_main_preds", pa.int64()), ("collapsed_tag", text)])
    (root / "data").mkdir(parents=True)
    shard = root / "data" / "test-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), shard)
    return shard


def test_winoground_parquet_layout_reads_like_the_jsonl_layout(tmp_path):
    """Bug: the dataset's current Hugging Face files (parquet, images as {bytes, path}) were not read."""
    _winoground(tmp_path / "jsonl")
    shard = _winoground_parquet(tmp_path / "hf", tmp_path / "jsonl")
    reference = open_data(f"winoground:{tmp_path / 'jsonl'}")
    for spec in (f"winoground:{tmp_path / 'hf'}", f"winoground:{shard}", f"winoground:{shard.parent}"):
        source = open_data(spec)
        assert source.kind == "winoground" and source.file == str(shard)
        assert [(it.id, it.captions, it.tags) for it in source.items] == [
            (it.id, it.captions, it.tags) for it in reference.items]
        # same PNG bytes, same key: the embedding cache is shared between the layouts
        assert [r.key for it in source.items for r in it.images] == [
            r.key for it in reference.items for r in it.images]
        first = source.items[0].images[0].load()
        assert first.mode == "RGB" and first.tobytes() == reference.items[0].images[0].load().tobytes()
    assert open_data(f"winoground:{shard}").fingerprint() == source.fingerprint()
    with pytest.raises(SpecError, match=r"images= is for the examples\.jsonl layout"):
        open_data(f"winoground:{shard}?images={tmp_path}")


def test_winoground_parquet_errors_name_the_file_and_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    shard = tmp_path / "data" / "test-00000-of-00001.parquet"
    shard.parent.mkdir()
    shard.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"test-00000-of-00001.parquet: cannot read as parquet") as err:
        open_data(f"winoground:{tmp_path}")
    assert "\n" not in str(err.value)
    rows = [{"id": 0, "image_0": {"bytes": None, "path": "a.png"}, "image_1": None, "caption_0": "a",
             "caption_1": "b"}]
    pq.write_table(pa.Table.from_pylist(rows), shard)
    with pytest.raises(DataError, match=r"row 0 \(id 0\) lacks image_1"):
        open_data(f"winoground:{tmp_path}")
    rows[0]["image_1"] = rows[0]["image_0"]
    pq.write_table(pa.Table.from_pylist(rows), shard)
    with pytest.raises(ImageError, match=r"parquet: row 0 image_0 has no image bytes"):
        open_data(f"winoground:{tmp_path}")


# --------------------------------------------------------------------------------------- MMVP-VLM


def _mmvp(root, folder="MLLM_VLM Images", pairs=2):
    lines = ["Question ID,Type,Statement"]
    for q in range(1, 2 * pairs + 1):
        kind = "Orientation and Direction" if q <= 2 else "Texts"
        lines.append(f'{q},{kind},"statement {q}, with comma"')
        _image(root / folder / kind / f"{q}.jpg", 30 * q, fmt="JPEG")
    file = root / "Questions.csv"
    file.write_text("\n".join(lines) + "\n")
    return file


def test_mmvp_pairs_gold_prompt_and_categories(tmp_path):
    _mmvp(tmp_path)
    source = open_data(f"mmvp-vlm:{tmp_path}")
    assert source.kind == "mmvp-vlm" and len(source.items) == 2
    first, second = source.items
    assert first.texts == ("a photo of statement 1, with comma", "a photo of statement 2, with comma")
    assert first.gold == (0, 1) and first.qids == ("1", "2")
    assert (first.category, second.category) == ("Orientation and Direction", "Texts")
    by_order = open_data(f"mmvp-vlm:{tmp_path}?category=order")
    assert [it.category for it in by_order.items] == ["Orientation and Direction"] * 2  # pairs 0, 1 // 15


def test_mmvp_images_option_and_errors(tmp_path):
    file = _mmvp(tmp_path, folder="elsewhere")
    assert len(open_data(f"mmvp-vlm:{file}?images={tmp_path / 'elsewhere'}").items) == 2
    with pytest.raises(ImageError, match=r"question 1 \(line 2 of .*Questions.csv\)"):
        open_data(f"mmvp-vlm:{file}")  # default folders do not exist -> looks beside the CSV
    text = file.read_text().splitlines()
    file.write_text("\n".join([*text, "5,Texts,odd one out"]) + "\n")
    with pytest.raises(DataError, match="5 questions"):
        open_data(f"mmvp-vlm:{file}?images={tmp_path / 'elsewhere'}")
    file.write_text("\n".join([text[0], text[1], "two,Texts,bad id"]) + "\n")
    with pytest.raises(DataError, match=r"Questions.csv: line 3 must be"):
        open_data(f"mmvp-vlm:{file}?images={tmp_path / 'elsewhere'}")
