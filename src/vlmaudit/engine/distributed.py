"""Sharding the engine's work across `torch.distributed` ranks (e.g. under `torchrun`).

The uncached inputs are cut into exactly the batches one process would use, and in each round
of `world` batches rank r embeds batch r. Each batch therefore sees the same inputs and padding
as in a single process, so results are bit-identical whatever the world size (given the same
threads per process: torchrun sets OMP_NUM_THREADS=1, and on CPU the intra-op thread count can
change a reduction's last bits). After each round the ranks `all_gather` the round's rows (padded
to the largest shard: the last round is uneven), so every rank holds the full result and rank 0
can write the cache as the work progresses.
Failures are exchanged before the tensors, so an error on one rank is raised on all of them
instead of leaving the others waiting in a collective.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
import torch.distributed as dist

from vlmaudit.errors import EmbeddingError, VlmauditError

Unit = TypeVar("Unit")
Out = TypeVar("Out")


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @classmethod
    def current(cls) -> World:
        """The initialised process group, or a world of one."""
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone reads and writes the cache, so ranks never race on it."""
        return self.rank == 0

    def check_same(self, digest: str, what: str) -> None:
        """Fail on every rank, not hang, when ranks ask for different inputs."""
        if not self.distributed:
            return
        digests: list[str | None] = [None] * self.size
        dist.all_gather_object(digests, digest)
        if len(set(digests)) > 1:
            raise EmbeddingError(f"ranks requested different {what}: every rank must pass the same inputs")

    def from_main(self, obj: object) -> object:
        """Rank 0's `obj` on every rank."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, local: np.ndarray | None, error: BaseException | None) -> list[np.ndarray | None]:
        """Each rank's rows for one round, in rank order (None where a rank had no batch)."""
        if not self.distributed:
            if error is not None:
                raise error
            return [local]
        status: list[tuple | None] = [None] * self.size
        shape = None if local is None else tuple(local.shape)
        dist.all_gather_object(status, (_portable(error), shape))
        for rank, (err, _) in enumerate(status):
            if err is not None:
                raise (error if rank == self.rank and error is not None else err)
        shapes = [s for _, s in status]
        present = [s for s in shapes if s is not None]
        if not present:
            return [None] * self.size
        if len({s[1] for s in present}) != 1:
            raise EmbeddingError(f"ranks produced embeddings of different widths: {shapes}")
        buffer = torch.zeros(max(s[0] for s in present), present[0][1], device=_comm_device())
        if local is not None:
            buffer[: local.shape[0]] = torch.from_numpy(local).to(buffer.device)
        parts = [torch.empty_like(buffer) for _ in range(self.size)]
        dist.all_gather(parts, buffer)
        return [None if s is None else p[: s[0]].cpu().numpy() for p, s in zip(parts, shapes, strict=True)]

    def gather_objects(self, local: object, error: BaseException | None) -> list[object]:
        """Each rank's picklable `local` for one round, in rank order; an error on any rank is
        raised on every rank (this rank's own first)."""
        if not self.distributed:
            if error is not None:
                raise error
            return [local]
        parts: list[tuple | None] = [None] * self.size
        dist.all_gather_object(parts, (_portable(error), None if error is not None else local))
        for err, _ in parts:  # type: ignore[misc]
            if err is not None:
                raise (error if error is not None else err)
        return [value for _, value in parts]  # type: ignore[misc]


def shard_map(fn: Callable[[Unit], Out], units: Sequence[Unit]) -> list[Out]:
    """[fn(u) for u in units] with unit i computed on rank i % world, every result on every rank.

    The units are cut as one process would cut them, so each `fn(u)` is the same computation
    whatever the world size: the attacks shard their fixed batches, the linearity suite its
    images. `fn` must be rank-local (no engine `images`/`texts` call: those are collectives).
    """
    world = World.current()
    if not world.distributed:
        return [fn(u) for u in units]
    out: list[Out] = []
    for first in range(0, len(units), world.size):
        round_ = units[first : first + world.size]
        local, error = None, None
        if world.rank < len(round_):
            try:
                local = fn(round_[world.rank])
            except Exception as err:  # exchanged, then raised on every rank
                error = err
        out += world.gather_objects(local, error)[: len(round_)]  # type: ignore[arg-type]
    return out


@contextmanager
def joined_world(device: str) -> Iterator[tuple[World, str]]:
    """Join the process group `torchrun` describes (WORLD_SIZE > 1) for the block, then leave it.

    Yields the world and the device this rank should use: "cuda" becomes "cuda:LOCAL_RANK".
    gloo serves CPU runs, NCCL CUDA runs. On the way out every rank waits for the others and the
    group is destroyed: a rank that simply exits while rank 0 still writes its output can abort
    in the group's teardown (seen as SIGABRT under load), which fails the whole torchrun job.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = device.startswith("cuda")
    if cuda and size > 1 and device == "cuda":
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    joined = size > 1 and dist.is_available() and not dist.is_initialized()
    if joined:
        if cuda:
            torch.cuda.set_device(torch.device(device))
        dist.init_process_group("nccl" if cuda else "gloo")
    try:
        yield World.current(), device
        if joined:
            dist.barrier()
    finally:
        if joined:
            dist.destroy_process_group()


def _portable(error: BaseException | None) -> BaseException | None:
    """A picklable stand-in for an error raised on this rank."""
    if error is None or isinstance(error, VlmauditError):
        return error
    return RuntimeError(f"rank {dist.get_rank()}: {type(error).__name__}: {error}")


def _comm_device() -> torch.device:
    """NCCL moves CUDA tensors only; gloo (CPU) moves CPU tensors."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
