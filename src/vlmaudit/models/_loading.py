"""Shared helpers for backends: one-line load errors and reproducible random initialisation."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

from vlmaudit.errors import ModelLoadError

T = TypeVar("T")


def one_line(exc: BaseException, limit: int = 300) -> str:
    """First line of an exception message, so a library's traceback-sized text stays one CLI line."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first if len(first) <= limit else first[: limit - 3] + "..."


def load_error(spec: str, what: str, exc: BaseException | None = None) -> ModelLoadError:
    reason = f": {one_line(exc)}" if exc is not None else ""
    return ModelLoadError(f"model {spec!r}: {what}{reason}")


def seeded(build: Callable[[], T], seed: int = 0) -> T:
    """Run `build` under a fixed torch seed without disturbing the caller's RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()
