"""torch.distributed sharding on CPU (gloo, 2 processes): identical to one process, bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from PIL import Image

from model_fixtures import make_tiny_hf_clip
from spawn_world import run_world
from test_engine import Shift
from toy import ToyModel
from vlmaudit.data.images import file_image
from vlmaudit.engine import Engine
from vlmaudit.errors import EmbeddingError, ImageError
from vlmaudit.models import load_model

WORLD = 2
BATCH = 2
TEXTS = ["a red cube", "a ball left of a cube", "a red cube", "two balls", "a cube left of a ball", "a"]


def build_model(kind: str, model_dir: Path):
    """The toy model, or a tiny real transformer (attention, padding) whose bits could differ."""
    if kind == "toy":
        return ToyModel()
    return load_model(f"hf:{model_dir}")


def request(image_dir: Path) -> tuple[list, list]:
    """Five files, two also shifted: 7 unique inputs in rounds (2, 2), (2, 1): the last is padded."""
    refs = [file_image(p) for p in sorted(image_dir.glob("*.png"))]
    return [*refs, refs[0], refs[1]], [None, Shift(3), *[None] * (len(refs) - 2), Shift(3), None]


def embed(engine: Engine, image_dir: Path) -> dict:
    refs, transforms = request(image_dir)
    return {"images": engine.images(refs, transforms), "texts": engine.texts(TEXTS),
            "raw": engine.texts(TEXTS, normalize=False)}


def _worker(rank: int, kind: str, tmp: Path) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp / 'rendezvous'}", rank=rank, world_size=WORLD)
    try:
        model = build_model(kind, tmp / "model")
        record: dict = {"cold": embed(Engine(model, batch_size=BATCH, cache_dir=None), tmp / "images")}
        cached = Engine(model, batch_size=BATCH, cache_dir=tmp / "cache")
        record["writes"] = embed(cached, tmp / "images")
        warm = Engine(model, batch_size=BATCH, cache_dir=tmp / "cache")
        record["warm"] = embed(warm, tmp / "images")
        record["stats"] = (cached.stats_dict(), warm.stats_dict())
        refs, _ = request(tmp / "images")
        bad = [*refs[:3], file_image(tmp / "broken.png")]  # batch 1 (rank 1's) holds the broken file
        for name, call in {
            "bad_image": lambda: Engine(model, batch_size=BATCH, cache_dir=None).images(bad),
            "mismatch": lambda: Engine(model, cache_dir=None).texts(TEXTS[: 3 + rank]),
        }.items():
            try:
                call()
                record[name] = None
            except (ImageError, EmbeddingError) as err:
                record[name] = (type(err).__name__, str(err))
        torch.save(record, tmp / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _spawn(kind: str, tmp: Path, timeout: float = 180.0) -> list[dict]:
    return run_world(_worker, (kind, tmp), WORLD, tmp, timeout)


def _images(tmp: Path) -> None:
    rng = np.random.default_rng(0)
    (tmp / "images").mkdir()
    for i in range(5):
        pixels = rng.integers(0, 256, (30, 30 + i, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp / "images" / f"{i}.png")
    (tmp / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 50)


def _counts(stats: tuple[dict, ...]) -> list:
    return [{k: v for k, v in s[kind].items() if k not in ("seconds", "computed_here")}
            for s in stats for kind in ("images", "texts")]


@pytest.mark.parametrize("kind", ["toy", pytest.param("hf", marks=pytest.mark.slow)])
def test_two_ranks_match_one_process_bit_for_bit(tmp_path, kind):
    _images(tmp_path)
    if kind == "hf":
        make_tiny_hf_clip(tmp_path / "model")
    ranks = _spawn(kind, tmp_path)
    model = build_model(kind, tmp_path / "model")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the workers: the thread count can change a reduction's last bits
    try:
        single = embed(Engine(model, batch_size=BATCH, cache_dir=None), tmp_path / "images")
    finally:
        torch.set_num_threads(threads)
    for record in ranks:
        for phase in ("cold", "writes", "warm"):
            for name, expected in single.items():
                assert torch.equal(record[phase][name], expected), (phase, name)
    # the cache was written (by rank 0) and then served every rank
    cached, warm = ranks[1]["stats"]
    assert cached["images"]["computed"] == 7 and cached["texts"]["computed"] == 5
    assert warm["images"]["cache_hits"] == 7 and warm["texts"]["cache_hits"] == 5
    assert warm["images"]["computed"] == 0
    here = [[record["stats"][0][k].pop("computed_here") for k in ("images", "texts")] for record in ranks]
    assert [h[0] for h in here] == [4, 3]  # image batches 0, 2 on rank 0 and 1, 3 on rank 1
    # texts are batched by padded length first (HF CLIP pads to the longest), so their split
    # across ranks depends on the captions' lengths; the toy's are all one length
    assert [h[1] for h in here] == ([3, 2] if kind == "toy" else [2, 3])
    assert _counts(ranks[0]["stats"]) == _counts(ranks[1]["stats"])  # every rank saw the same totals
    reread = Engine(model, batch_size=BATCH, cache_dir=tmp_path / "cache")
    assert torch.equal(embed(reread, tmp_path / "images")["images"], single["images"])
    assert reread.stats.computed == 0
    # a failure on one rank is raised on both (nobody hangs); so is a request that differs by rank
    for record in ranks:
        assert record["bad_image"][0] == "ImageError" and "broken.png" in record["bad_image"][1]
        assert record["mismatch"][0] == "EmbeddingError" and "different" in record["mismatch"][1]
