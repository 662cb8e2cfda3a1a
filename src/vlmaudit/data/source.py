"""`--data` strings resolve to data sources through the dataset registry.

Grammar: `NAME`, `NAME:PATH`, `NAME?k=v&k=v`, `NAME:PATH?k=v`, or a bare existing PATH (read as
`captions:PATH`). Suites dispatch on a source's `kind`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from vlmaudit.errors import SpecError
from vlmaudit.registry import DATASETS


@dataclass(frozen=True)
class DataSpec:
    name: str
    path: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    def option(self, key: str, default, cast=str):
        if key not in self.options:
            return default
        try:
            return cast(self.options[key])
        except ValueError:
            kind = {"int": "an integer", "float": "a number"}.get(cast.__name__, f"a {cast.__name__}")
            raise SpecError(f"data option {key}={self.options[key]!r} is not {kind}") from None


def parse_data_spec(text: str) -> DataSpec:
    body, _, query = text.partition("?")
    options: dict[str, str] = {}
    for part in filter(None, query.split("&")):
        key, eq, value = part.partition("=")
        if not eq:
            raise SpecError(f"data option {part!r} in {text!r} must be key=value")
        options[key] = value
    if body in DATASETS.names():
        return DataSpec(body, None, options)
    name, sep, path = body.partition(":")
    if sep and name in DATASETS.names():
        return DataSpec(name, path, options)
    if Path(body).exists():
        return DataSpec("captions", body, options)
    raise SpecError(
        f"data {text!r} is neither a known dataset ({', '.join(DATASETS.names())}) nor an existing path"
    )


@runtime_checkable
class DataSource(Protocol):
    spec: DataSpec
    kind: str  # what suites dispatch on, e.g. "scenes", "image-caption", "sugarcrepe"

    def fingerprint(self) -> str: ...


def fingerprint_of(*parts: object) -> str:
    """Stable hash of JSON-able parts (file hashes, options, seeds)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def open_data(text: str) -> DataSource:
    spec = parse_data_spec(text)
    return DATASETS.get(spec.name)(spec)
