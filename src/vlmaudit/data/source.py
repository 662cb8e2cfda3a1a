"""`--data` strings resolve to data sources through the dataset registry.

Grammar: `NAME`, `NAME:PATH`, `NAME?k=v&k=v`, `NAME:PATH?k=v`, or a bare existing PATH (read as
`captions:PATH`). Suites dispatch on a source's `kind`. Each reader declares its options as a
pydantic model (a `DataOptions` subclass) and reads them with `DataSpec.parse`, so a mistyped key
or value is a one-line SpecError instead of being silently ignored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar, runtime_checkable

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError

from vlmaudit.data.images import Alpha
from vlmaudit.errors import SpecError
from vlmaudit.registry import DATASETS


class DataOptions(BaseModel):
    """Base of every reader's `?key=value` options: unknown keys and mistyped values are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _comma_list(value: Any) -> Any:
    return tuple(part for part in value.split(",") if part) if isinstance(value, str) else value


CommaList = Annotated[tuple[str, ...], BeforeValidator(_comma_list)]  # `subsets=a,b` -> ("a", "b")
UserPath = Annotated[Path, AfterValidator(Path.expanduser)]  # `images=~/coco` works as in a shell


class ImageOptions(DataOptions):
    """Options shared by readers of image files: how transparency becomes RGB (see data.images)."""

    alpha: Alpha = "drop"


Options = TypeVar("Options", bound=DataOptions)
# pydantic error type -> what the value must be, in the project's wording
_MUST_BE = {"int_parsing": "is not an integer", "int_from_float": "is not an integer",
            "float_parsing": "is not a number", "bool_parsing": "is not a boolean (true or false)"}
_BOUNDS = {"greater_than_equal": ("ge", ">="), "greater_than": ("gt", ">"), "less_than_equal": ("le", "<="),
           "less_than": ("lt", "<")}


@dataclass(frozen=True)
class DataSpec:
    name: str
    path: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    def parse(self, model: type[Options]) -> Options:
        """The options validated against a reader's model; every problem found, on one SpecError line."""
        try:
            return model.model_validate(self.options)
        except ValidationError as err:
            errors = err.errors()
        unknown = [repr(str(e["loc"][0])) for e in errors if e["type"] == "extra_forbidden"]
        problems = [self._bad_value(e) for e in errors if e["type"] != "extra_forbidden"]
        if unknown:
            known = ", ".join(sorted(model.model_fields)) or "none"
            keys = f"option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
            problems.insert(0, f"unknown data {keys} for {self.name} (known: {known})")
        raise SpecError("; ".join(dict.fromkeys(problems)))

    def _bad_value(self, error: Any) -> str:
        """`NAME: data option KEY=VALUE <what it must be>` for one pydantic error."""
        key = str(error["loc"][0]) if error["loc"] else "?"
        where = f"{self.name}: data option {key}={self.options.get(key)!r}"
        if error["type"] in _MUST_BE:
            return f"{where} {_MUST_BE[error['type']]}"
        if error["type"] == "literal_error":
            return f"{where} must be {error['ctx']['expected']}"
        if error["type"] in _BOUNDS:
            bound, sign = _BOUNDS[error["type"]]
            return f"{where} must be {sign} {error['ctx'][bound]}"
        message = error["msg"].removeprefix("Value error, ")
        return f"{where}: {message[:1].lower()}{message[1:]}"


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
