"""Model and data specs, parsed and resolved before any file is written.

`ModelSpec.parse("hf:DIR")` checks what can be checked without loading weights: the backend
exists, and the backend's own `resolve(rest)` (a function beside its `load`, optional for plugin
backends) finds the directory, cached hub files, architecture, tag or checkpoint. The runner
parses every model this way before it creates the run directory, so a typo never leaves a
half-made run behind; `models.load_model` goes through the same parse. Data specs keep their
grammar in `vlmaudit.data.source` and are re-exported here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from vlmaudit.data.source import DataSpec, parse_data_spec
from vlmaudit.errors import SpecError
from vlmaudit.registry import MODEL_BACKENDS


@dataclass(frozen=True)
class ModelSpec:
    """A model spec that names a known backend and, where checkable, something that exists."""

    text: str  # as the user wrote it: results and unit folders are named by it
    backend: str
    rest: str  # what the backend resolves (a name, a directory), options removed
    options: tuple[tuple[str, str], ...] = ()  # "?key=value&..." after the name: how the model is scored

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """`BACKEND:NAME[?key=value&...]`; the options (generative scoring: `score=vqa`, ...) are
        checked here, before any file is written, and applied by `vlmaudit.scoring.scorer_for`."""
        body, _, query = text.partition("?")
        options = []
        for part in filter(None, query.split("&")):
            key, eq, value = part.partition("=")
            if not eq:
                raise SpecError(f"model option {part!r} in {text!r} must be key=value")
            options.append((key, value))
        if options:
            from vlmaudit.scoring.generative import GenerativeSettings

            GenerativeSettings.from_options(dict(options))
        backend, sep, rest = body.partition(":")
        if not sep or not rest:
            raise SpecError(f"model spec {text!r} must look like BACKEND:NAME "
                            f"(backends: {', '.join(MODEL_BACKENDS.names())})")
        try:
            loader = MODEL_BACKENDS.get(backend)
        except SpecError as err:
            raise SpecError(f"model spec {text!r}: {err}") from None
        resolve = getattr(importlib.import_module(loader.__module__), "resolve", None)
        if resolve is not None:
            resolve(rest)  # raises SpecError / ModelLoadError naming the spec
        return cls(text, backend, rest, tuple(options))

    def __str__(self) -> str:
        return self.text


__all__ = ["DataSpec", "ModelSpec", "parse_data_spec"]
