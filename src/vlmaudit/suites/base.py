"""The suite contract.

A suite is a name, a `SuiteConfig` model, `check(config)` and `run(ctx, data, config) ->
list[SuiteResult]` (one result per data source it ran on). The runner calls `check` on every
suite before it creates the run directory, so a bad option never leaves a run behind. A suite
gets embeddings only through `ctx.engine`, so caching, dtype and distributed sharding apply
everywhere, and it never writes files. A suite with plots also has `figures(result, samples) ->
{stem: Figure}`, a function of a stored unit (results.json payload, samples rows) that the run
directory calls after writing the unit and again to re-render a finished run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

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


class SuiteConfig(BaseModel):
    """Base of every suite's Config: unknown keys and mistyped values are refused, values are frozen.

    A config is valid by construction (field constraints and validators), so the same checks apply
    to `--option` strings, Python values and a resumed run's config.json (lists for tuples).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


def _split_commas(value: Any) -> Any:
    """`--option suite.key=a,b` arrives as one string; a tuple field reads it as a comma list."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


Names = Annotated[tuple[str, ...], BeforeValidator(_split_commas)]  # tuple field settable from the CLI


def build_config(config_cls: type[SuiteConfig], overrides: dict[str, Any], suite: str = "") -> SuiteConfig:
    """The suite's Config from overrides (CLI strings or JSON values); errors are one line."""
    owner = f"suite {suite}" if suite else config_cls.__name__
    known = sorted(config_cls.model_fields)
    if unknown := sorted(set(overrides) - set(known)):
        raise SpecError(f"unknown option(s) {unknown} for {owner} (known: {known})")
    try:
        return config_cls.model_validate(overrides)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(part) for part in first["loc"][:1])
        reason = str(first.get("ctx", {}).get("error", "")) or first["msg"][:1].lower() + first["msg"][1:]
        where = f"{suite}.{key}" if suite else key
        raise SpecError(f"option {where}={overrides.get(key)!r}: {reason}") from None
