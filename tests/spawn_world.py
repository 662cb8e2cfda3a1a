"""Run a test's worker on every rank of a spawned gloo world and collect each rank's saved record."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.multiprocessing as mp


def run_world(worker, args: tuple, world: int, out: Path, seconds: float = 180) -> list[Any]:
    """`worker(rank, *args)` on `world` processes; each writes `out/rank{r}.pt`. A hung world is
    killed and fails the test instead of blocking the whole suite."""
    context = mp.spawn(worker, args=args, nprocs=world, join=False)
    deadline = time.monotonic() + seconds
    while not context.join(timeout=1.0):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("distributed workers hung")
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(world)]
