"""Disk cache: content-addressed hits, misses on any key change, corruption, concurrent writers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
import torch

from test_engine import CountingToy, HalfToy, Shift, scenes
from toy import ToyModel
from vlmaudit.engine import EmbeddingCache, Engine

TEXTS = ["a red cube left of a ball", "a ball", "a red cube left of a ball"]


def test_rerun_from_cache_embeds_nothing_and_is_bit_identical(tmp_path):
    refs = scenes(5)
    first = Engine(CountingToy(), batch_size=2, cache_dir=tmp_path)
    images, texts = first.images(refs), first.texts(TEXTS)
    raw = first.images(refs, normalize=False)
    model = CountingToy()
    again = Engine(model, batch_size=2, cache_dir=tmp_path)
    assert torch.equal(again.images(refs), images)
    assert torch.equal(again.texts(TEXTS), texts)
    assert torch.equal(again.images(refs, normalize=False), raw)
    assert model.image_batches == [] and model.text_batches == []
    assert again.stats.computed == 0
    assert (again.stats.images.cache_hits, again.stats.texts.cache_hits) == (5, 2)


def test_cache_stores_raw_vectors(tmp_path):
    model = ToyModel()
    ref = scenes(1)[0]
    Engine(model, cache_dir=tmp_path).images([ref])
    stored = EmbeddingCache(tmp_path, model.fingerprint).get([f"i:{ref.key}|"])[f"i:{ref.key}|"]
    raw = Engine(model, cache_dir=None).images([ref], normalize=False)[0].numpy()
    np.testing.assert_array_equal(stored, raw)  # bug caught: normalised rows stored (norm is lost)
    direct = model.encode_images(model.preprocess([ref.load()]))[0].numpy()
    np.testing.assert_allclose(stored, direct, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("change", ["weights", "dtype", "preprocessing", "transform", "text"])
def test_any_change_to_model_or_input_misses(tmp_path, change):
    ref = scenes(1)[0]
    Engine(ToyModel(), cache_dir=tmp_path).images([ref], Shift(1))
    Engine(ToyModel(), cache_dir=tmp_path).texts(["a cube"])
    model = HalfToy() if change == "dtype" else ToyModel()
    if change == "weights":
        model.weights_hash = "other"
    elif change == "preprocessing":
        model.preprocessing = type(model.preprocessing)(32, (0.5,) * 3, (0.25,) * 3, "squash")
    engine = Engine(model, cache_dir=tmp_path)
    engine.images([ref], Shift(2) if change == "transform" else Shift(1))
    engine.texts(["a cube."] if change == "text" else ["a cube"])
    misses = {"weights": 2, "dtype": 2, "preprocessing": 2, "transform": 1, "text": 1}[change]
    assert engine.stats.computed == misses


def _cached_keys(tmp_path: Path) -> tuple[Path, list[bytes]]:
    (path,) = tmp_path.glob("*.sqlite")
    with closing(sqlite3.connect(path)) as con:
        return path, [row[0] for row in con.execute("SELECT key FROM embeddings")]


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_entry_is_detected_and_recomputed(tmp_path, damage):
    refs = scenes(3)
    expected = Engine(ToyModel(), cache_dir=tmp_path).images(refs)
    path, keys = _cached_keys(tmp_path)
    with sqlite3.connect(path) as con:
        (vector,) = con.execute("SELECT vector FROM embeddings WHERE key = ?", (keys[0],)).fetchone()
        bad = bytes([vector[0] ^ 1]) + vector[1:] if damage == "flip" else vector[:-7]
        con.execute("UPDATE embeddings SET vector = ? WHERE key = ?", (bad, keys[0]))
    engine = Engine(ToyModel(), cache_dir=tmp_path)
    assert torch.equal(engine.images(refs), expected)
    assert (engine.stats.images.cache_hits, engine.stats.images.computed, engine.cache.corrupt) == (2, 1, 1)
    healed = Engine(ToyModel(), cache_dir=tmp_path)
    healed.images(refs)
    assert healed.stats.images.cache_hits == 3


def test_unreadable_database_file_is_moved_aside_and_rebuilt(tmp_path):
    refs = scenes(40)
    first = Engine(ToyModel(), cache_dir=tmp_path)
    expected = first.images(refs)
    first.close()  # the last connection checkpoints the WAL into the main file, which we then cut
    path, _ = _cached_keys(tmp_path)
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    engine = Engine(ToyModel(), cache_dir=tmp_path)
    assert torch.equal(engine.images(refs), expected)
    assert engine.stats.images.computed == 40 and engine.cache.corrupt == 1
    assert Path(f"{path}.corrupt").exists()
    rebuilt = Engine(ToyModel(), cache_dir=tmp_path)
    rebuilt.images(refs)
    assert rebuilt.stats.images.cache_hits == 40


def test_no_cache_writes_nothing_but_default_dir_honours_env(tmp_path, monkeypatch):
    monkeypatch.setenv("VLMAUDIT_CACHE", str(tmp_path / "env"))
    Engine(ToyModel(), cache_dir=None).texts(["a"])
    assert not (tmp_path / "env").exists()
    engine = Engine(ToyModel())
    engine.texts(["a"])
    assert engine.cache.path.parent == tmp_path / "env" and engine.cache.path.exists()


WRITER = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_engine import scenes
from toy import ToyModel
from vlmaudit.engine import Engine
engine = Engine(ToyModel(), batch_size=1, cache_dir={cache!r}, progress=False)
Path({cache!r}, "ready{start}").touch()
while len(list(Path({cache!r}).glob("ready*"))) < 2:  # start together, so the writes interleave
    time.sleep(0.01)
engine.images(scenes(60)[{start}:{stop}])
engine.texts([f"caption {{i}}" for i in range({start} * 2, {stop} * 2)])
"""


def test_two_processes_writing_the_same_cache_do_not_corrupt_it(tmp_path):
    tests, cache = str(Path(__file__).parent), str(tmp_path)
    scripts = [WRITER.format(tests=tests, cache=cache, start=a, stop=b) for a, b in [(0, 45), (15, 60)]]
    procs = [subprocess.Popen([sys.executable, "-c", script]) for script in scripts]  # keys overlap
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    engine = Engine(CountingToy(), cache_dir=tmp_path)
    images = engine.images(scenes(60))
    engine.texts([f"caption {i}" for i in range(120)])
    assert engine.stats.computed == 0 and engine.cache.corrupt == 0
    # batch size 1 as the writers used: a row's last bits may depend on the batch it was computed in
    assert torch.equal(images, Engine(ToyModel(), batch_size=1, cache_dir=None).images(scenes(60)))
