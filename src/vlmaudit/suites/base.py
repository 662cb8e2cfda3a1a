"""The suite contract.

A suite is a name, a config dataclass, `check(config)` and `run(ctx, data, config) ->
list[SuiteResult]` (one result per data source it ran on). The runner calls `check` on every
suite before it creates the run directory, so a bad option never leaves a run behind. A suite
gets embeddings only through `ctx.engine`, so caching, dtype and distributed sharding apply
everywhere, and it never writes files.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from vlmaudit.data.source import DataSource
from vlmaudit.errors import SpecError
from vlmaudit.results import SuiteResult


@dataclass
class RunContext:
    model: Any  # ImageTextModel
    engine: Any  # vlmaudit.engine.Engine
    scorer: Any = None  # vlmaudit.scoring.Scorer: the model's scores on the seam (cosine for dual encoders)
    seed: int = 0
    progress: bool = True
    options: dict[str, Any] = field(default_factory=dict)  # free-form per-run extras

    def __post_init__(self) -> None:
        if self.scorer is None and self.engine is not None:  # a dual encoder: cosine of its embeddings
            from vlmaudit.scoring.cosine import CosineScorer

            self.scorer = CosineScorer(self.engine)


class Suite(Protocol):
    name: str
    Config: type
    default_data: tuple[str, ...]  # data specs used when the user gives none
    accepts: tuple[type, ...]  # item types (vlmaudit.data.items) it consumes; a source yielding any fits

    def check(self, config: Any) -> None:
        """Raise SpecError for option values no data could make valid."""

    def run(self, ctx: RunContext, data: DataSource, config: Any) -> list[SuiteResult]: ...


def build_config(config_cls: type, overrides: dict[str, Any], label: str = "") -> Any:
    """Config dataclass from `key=value` overrides, cast to each field's default's type.

    label names the owner in errors ("suite transforms"): every suite's class is called Config.
    """
    known = {f.name: f for f in fields(config_cls)}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        owner = label or config_cls.__name__
        raise SpecError(f"unknown option(s) {unknown} for {owner} (known: {sorted(known)})")
    base = config_cls()
    values = {}
    for key, raw in overrides.items():
        current = getattr(base, key)
        values[key] = _cast(raw, current, key)
    return config_cls(**values)


def _cast(raw: Any, current: Any, key: str) -> Any:
    if isinstance(raw, list) and isinstance(current, tuple):  # a tuple field read back from config.json
        return tuple(raw)
    if not isinstance(raw, str):
        return raw
    try:
        if isinstance(current, bool):
            if raw.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                raise ValueError(raw)
            return raw.lower() in {"1", "true", "yes"}
        if isinstance(current, int):
            return int(raw)
        if isinstance(current, float):
            return float(raw)
        if isinstance(current, tuple):
            return tuple(part for part in raw.split(",") if part)
    except ValueError:
        raise SpecError(f"option {key}={raw!r} does not match type {type(current).__name__}") from None
    return raw
