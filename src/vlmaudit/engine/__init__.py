"""Batched, deduplicated, cached and (under torch.distributed) sharded embedding of images and texts."""

from vlmaudit.engine.cache import EmbeddingCache, default_cache_dir
from vlmaudit.engine.core import DEFAULT_CACHE_DIR, Counts, Engine, EngineStats

__all__ = ["DEFAULT_CACHE_DIR", "Counts", "EmbeddingCache", "Engine", "EngineStats", "default_cache_dir"]
