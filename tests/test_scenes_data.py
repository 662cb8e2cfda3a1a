"""Labels, biased/balanced splits, the `scenes` data source and `vlmaudit data export`."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from click.testing import CliRunner

from vlmaudit.commands.data import data
from vlmaudit.data.scenes import Scene, describe, generate_scenes, paraphrases
from vlmaudit.data.scenes.export import export_scenes
from vlmaudit.data.scenes.splits import balanced_split, biased_split, labels
from vlmaudit.data.source import open_data
from vlmaudit.errors import DataError, SpecError


def test_labels():
    for s in generate_scenes(30, 4):
        lab = labels(s)
        assert (lab.shape, lab.colour, lab.size) == s.objects[0].identity
        assert lab.count == len(s.objects) and lab.context == s.context
        assert lab.relation == (s.relation(0, 1) if len(s.objects) > 1 else None)


def test_biased_split_proportions_and_determinism():
    split = biased_split(200, 7, minority_fraction=0.1)
    assert split.majority == {"circle": "grass", "square": "sand"}
    by_class = Counter(s.objects[0].shape for s in split.scenes)
    assert by_class == {"circle": 100, "square": 100}
    minority = Counter(s.objects[0].shape for s in split.scenes if split.is_minority(s))
    assert minority == {"circle": 10, "square": 10}
    assert {s.context for s in split.scenes} == {"grass", "sand"}
    assert [s.index for s in split.scenes] == list(range(200))
    assert biased_split(200, 7, minority_fraction=0.1) == split
    other = biased_split(200, 8, minority_fraction=0.1)
    assert [s.to_json() for s in other.scenes] != [s.to_json() for s in split.scenes]
    no_minority = biased_split(
        40,
        7,
        minority_fraction=0.0,
        attribute="colour",
        values=("red", "blue", "green"),
        contexts=("water", "snow", "grass"),
    )
    assert all(not no_minority.is_minority(s) for s in no_minority.scenes)
    two = biased_split(20, 7, n_objects=2)
    assert all(two.scenes[k].objects[1].shape != two.scenes[k].objects[0].shape for k in range(20))


def test_balanced_split():
    scenes = balanced_split(80, 9, values=("star", "cross"), contexts=("sand", "water", "snow", "grass"))
    combos = Counter((s.objects[0].shape, s.context) for s in scenes)
    assert len(combos) == 8 and set(combos.values()) == {10}
    with pytest.raises(SpecError):
        balanced_split(10, 9, values=("star",))
    with pytest.raises(SpecError):
        balanced_split(10, 9, attribute="texture")


def test_data_source_from_spec():
    source = open_data("scenes?n=12&seed=5&size=48&objects=2")
    assert source.kind == "scenes" and len(source.scenes) == 12
    assert all(len(s.objects) == 2 and s.image_size == 48 for s in source.scenes)
    assert source.scenes == generate_scenes(12, 5, source.config)
    assert source.refs()[0].load().size == (48, 48)
    default = open_data("scenes?n=3")
    assert default.seed == 1234 and default.config.image_size == 64
    assert (
        default.fingerprint()
        == open_data("scenes?n=3").fingerprint()
        != open_data("scenes?n=4").fingerprint()
    )
    for bad in (
        "scenes?n=0",
        "scenes?objects=x",
        "scenes?colour=red",
        "scenes:some/path",
        "scenes?objects=0-4",
    ):
        with pytest.raises(SpecError):
            open_data(bad)
    with pytest.raises(SpecError, match=r"n='ten' is not an integer"):
        open_data("scenes?n=ten")


def test_data_source_draws_biased_and_balanced_splits():
    biased = open_data("scenes?n=40&seed=3&split=biased&minority=0.1")
    assert all(len(s.objects) == 1 for s in biased.scenes)
    majority = {"circle": "grass", "square": "sand"}
    off = [s for s in biased.scenes if s.context != majority[s.objects[0].shape]]
    assert len(off) == 4  # 10% of each 20-scene class
    balanced = open_data(
        "scenes?n=40&seed=3&split=balanced&attribute=colour&values=red,blue&contexts=snow,water"
    )
    combos = Counter((s.objects[0].colour, s.context) for s in balanced.scenes)
    assert set(combos.values()) == {10} and len(combos) == 4
    assert biased.fingerprint() != open_data("scenes?n=40&seed=3&split=biased&minority=0.2").fingerprint()
    for bad in ("scenes?split=skewed", "scenes?split=biased&objects=1-2", "scenes?split=biased&attribute=x"):
        with pytest.raises(SpecError):
            open_data(bad)


def test_export_atomic_and_complete(tmp_path, monkeypatch):
    out = export_scenes(tmp_path / "ds", 6, 3)
    rows = [json.loads(line) for line in (out / "captions.jsonl").read_text().splitlines()]
    graphs = [json.loads(line) for line in (out / "scene_graphs.jsonl").read_text().splitlines()]
    scenes = generate_scenes(6, 3)
    assert (
        [r["image"] for r in rows]
        == [f"images/{k:06d}.png" for k in range(6)]
        == [g["image"] for g in graphs]
    )
    for row, graph, scene in zip(rows, graphs, scenes, strict=True):
        assert (out / row["image"]).is_file()
        assert row["caption"] == describe(scene).text
        assert row["paraphrases"] == [p.text for p in paraphrases(scene)]
        assert Scene.from_dict(graph["scene"]) == scene
    assert not (tmp_path / "ds.tmp").exists()
    with pytest.raises(DataError):
        export_scenes(out, 2, 3)
    export_scenes(out, 2, 3, force=True)
    assert len((out / "captions.jsonl").read_text().splitlines()) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "photo.png").write_bytes(b"not ours")
    with pytest.raises(DataError, match="not an earlier scene export"):
        export_scenes(mine, 2, 3, force=True)  # --force must not delete a user's own folder
    assert (mine / "photo.png").read_bytes() == b"not ours"
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    with pytest.raises(DataError, match="current directory"):
        export_scenes(".", 2, 3)  # renaming the working directory away would strand the shell in it


def test_cli_export(tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        data, ["export", "scenes", "--out", str(tmp_path / "x"), "--n", "3", "--size", "40"]
    )
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "x" / "images").iterdir())) == 3
    again = runner.invoke(data, ["export", "scenes", "--out", str(tmp_path / "x"), "--n", "3"])
    assert again.exit_code != 0 and isinstance(again.exception, DataError)
