"""Shared helpers for backends: one-line load errors and reproducible random initialisation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


@contextmanager
def library_progress(enabled: bool) -> Iterator[None]:
    """With enabled=False, hide transformers' own progress bars ("Loading weights") until exit.

    A quiet run (`--quiet`) then prints nothing while loading, so an error is the only stderr line.
    """
    if enabled:
        yield
        return
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
