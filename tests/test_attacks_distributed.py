"""The attacks under torch.distributed (gloo, 2 processes): the same results as one process.

Catches: ranks cutting the images into other batches than one process would (a batch's rows
depend on their companions), results gathered out of order, dropped or duplicated, a rank's
error leaving the other waiting in a collective, and the linearity suite's per-image rows
differing from one process.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist

from spawn_world import run_world
from vlmaudit.attacks import AlignConfig, Jacobian, align, align_batches, randomized_svd
from vlmaudit.data.scenes import generate_scenes, scene_ref
from vlmaudit.engine import Engine
from vlmaudit.engine.distributed import shard_map
from vlmaudit.models import load_model

WORLD = 2
BATCH = 2  # 5 images: batches (2, 2, 1) in rounds (0 | 1), (2 | -): the last round is uneven
CONFIG = AlignConfig(optimizer="pgd", step_size=2e-3, steps=6, budget="linf", radius=4 / 255, restarts=2,
                     stop="steps")


def _inputs() -> tuple[Engine, torch.Tensor, torch.Tensor]:
    engine = Engine(load_model("builtin:scenes"), cache_dir=None, progress=False, memory=False)
    pixels = engine.pixels([scene_ref(s) for s in generate_scenes(10, seed=3)]).float()
    with torch.no_grad():
        targets = engine.embed_pixels(pixels[5:])
    return engine, pixels[:5], targets


def _spectrum(engine: Engine, x: torch.Tensor) -> torch.Tensor:
    return randomized_svd(Jacobian(engine, x), 3, power_iterations=1).singular_values


def _fail_on_unit_one(unit: int) -> int:
    if unit == 1:
        raise ValueError("unit 1 is broken")
    return unit


def _record(engine: Engine, pixels: torch.Tensor, targets: torch.Tensor) -> dict:
    results = align_batches(engine, pixels, targets, CONFIG, BATCH)
    record = {"pixels": torch.stack([r.pixels for r in results]), "loss": [r.loss for r in results],
              "restart": [r.restart for r in results],
              "spectra": shard_map(lambda i: _spectrum(engine, pixels[i]), range(3))}
    try:
        shard_map(_fail_on_unit_one, range(3))
        record["error"] = None
    except Exception as err:  # the test reads what each rank saw
        record["error"] = str(err)
    return record


def _worker(rank: int, tmp: Path) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp / 'rendezvous'}", rank=rank, world_size=WORLD)
    try:
        torch.save(_record(*_inputs()), tmp / f"rank{rank}.pt")
        dist.barrier()  # neither rank tears gloo down while the other may still be in a collective
    finally:
        dist.destroy_process_group()


def test_two_ranks_align_and_measure_like_one_process(tmp_path):
    ranks = run_world(_worker, (tmp_path,), WORLD, tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the workers
    try:
        engine, pixels, targets = _inputs()
        single = _record(engine, pixels, targets)
        by_hand = [r for i in range(0, 5, BATCH)
                   for r in align(engine, pixels[i:i + BATCH], targets[i:i + BATCH], CONFIG)]
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(single["pixels"], torch.stack([r.pixels for r in by_hand]))
    assert single["error"] == "unit 1 is broken"
    for record in ranks:
        assert torch.equal(record["pixels"], single["pixels"])
        assert record["loss"] == single["loss"] and record["restart"] == single["restart"]
        assert all(torch.equal(a, b) for a, b in zip(record["spectra"], single["spectra"], strict=True))
        assert len(record["spectra"]) == 3
    # unit 1 ran on rank 1: rank 1 raises its own error, rank 0 the same message (not a hang)
    assert ranks[1]["error"] == "unit 1 is broken"
    assert "unit 1 is broken" in ranks[0]["error"]
