"""Batched, deduplicated (and later cached, sharded) embedding of images and texts."""

from vlmaudit.engine.core import Engine

__all__ = ["Engine"]
