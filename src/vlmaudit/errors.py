"""One exception family, so the CLI can print every user-facing failure as one line."""

from __future__ import annotations


class VlmauditError(Exception):
    """Base for errors caused by the user's input; the CLI prints `str(err)` and exits non-zero."""


class SpecError(VlmauditError):
    """An unknown or malformed model/suite/dataset spec."""


class ModelLoadError(VlmauditError):
    """A model spec that names something that cannot be loaded locally (missing weights, no cache)."""


class DataError(VlmauditError):
    """A malformed annotation file, an empty dataset, or an item that cannot be used."""


class ImageError(DataError):
    """A missing, truncated or undecodable image; the message names the file."""


class EmbeddingError(VlmauditError):
    """A model produced NaN/inf embeddings or an output of the wrong shape."""
