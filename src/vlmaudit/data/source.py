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
    """What every reader returns. Suites read it only through `items`, by item type."""

    spec: DataSpec
    kind: str  # the format, for messages and provenance ("scenes", "image-caption", "sugarcrepe", ...)

    @property
    def item_types(self) -> frozenset[type]:
        """The item types (`vlmaudit.data.items`) this source can yield."""
        ...

    def items_of(self, kind: type, *, seed: int = 0, count: int | None = None) -> dict[str, list]:
        """Subset key -> items of type `kind`. Keys name the benchmark and subset the results are
        grouped by ("sugarcrepe/swap_att", "whatsup/A", "scenes/relation_swap", ...). `seed` and
        `count` only matter for generated items (the scene world); file sources ignore them."""
        ...

    def fingerprint(self) -> str: ...


def check_item_type(source: DataSource, kind: type) -> None:
    if kind not in source.item_types:
        have = ", ".join(sorted(t.__name__ for t in source.item_types)) or "none"
        raise SpecError(f"data {source.spec.name!r} ({source.kind}) has no {kind.__name__} items "
                        f"(it has: {have})")


def fingerprint_of(*parts: object) -> str:
    """Stable hash of JSON-able parts (file hashes, options, seeds)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def open_data(text: str) -> DataSource:
    spec = parse_data_spec(text)
    return DATASETS.get(spec.name)(spec)
