"""The suite contract (walk-through: docs/adding_a_suite.md).

A suite is a `Suite` subclass in its own package `suites/<name>/`: a name, a `SuiteConfig` model,
the item types it `accepts`, `check(config)` and `evaluate(ctx, data, config) -> Evaluation`. The
runner calls `check` on every suite before it creates the run directory, so a bad option never
leaves a run behind. A suite gets scores only through `ctx.scorer` (and embeddings through
`ctx.engine`), so caching, dtype, dedup and distributed sharding apply everywhere, and it never
writes files. A suite with plots also has `figures(result, samples) -> {stem: Figure}`, a function
of a stored unit (results.json payload, samples rows) that the run directory calls after writing
the unit and again to re-render a finished run; `report_section(result, samples)` is its part of
the HTML report (a generic default).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError

from vlmaudit.data.source import DataSource
from vlmaudit.errors import SpecError
from vlmaudit.metrics.baselines import hackable_flags
from vlmaudit.metrics.selection import check_tie_policy
from vlmaudit.results import Metric, SuiteResult


@dataclass
class RunContext:
    model: Any  # ImageTextModel or GenerativeModel
    engine: Any  # vlmaudit.engine.Engine
    scorer: Any = None  # vlmaudit.scoring.Scorer: the model's scores on the seam (`scoring.scorer_for`)
    seed: int = 0
    progress: bool = True
    options: dict[str, Any] = field(default_factory=dict)  # free-form per-run extras

    def __post_init__(self) -> None:
        if self.scorer is None and self.engine is not None:
            from vlmaudit.scoring import scorer_for

            self.scorer = scorer_for(self.model, self.engine)


@dataclass
class Evaluation:
    """What a suite's `evaluate` hands back; `Suite.run` turns it into the unit's SuiteResult."""

    metrics: list[Metric]
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # table -> per-item rows
    flags: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # JSON-able tables the figures and report read
    headline: list[str] = field(default_factory=list)  # metric keys the summary table shows


class Suite(ABC):
    """A suite: items of the types it `accepts` in, an `Evaluation` out (`docs/adding_a_suite.md`).

    The base class assembles the result (model, data, config, flags, fingerprint, seconds) and adds
    the hackable flags every suite reports, so a suite's own code is its trials and rules.
    """

    name: str
    Config: type[SuiteConfig]
    default_data: tuple[str, ...] = ("scenes",)  # data specs used when the user gives none
    accepts: tuple[type, ...] = ()  # item types (vlmaudit.data.items); a source yielding any fits
    # model families it can audit: "dual" (embeddings, gradients) and/or "generative" (scores on the seam)
    families: tuple[str, ...] = ("dual",)
    # data on which the default audit compares the model families (every model, the same items)
    comparison_data: tuple[str, ...] = ()

    def check(self, config: Any) -> None:  # noqa: B027 (optional hook; most Configs validate themselves)
        """Raise SpecError for what a Config's own validation cannot express, before any file is written."""

    @abstractmethod
    def evaluate(self, ctx: RunContext, data: DataSource, config: Any) -> Evaluation:
        """Score the source's items: through `ctx.scorer` and `ctx.engine` only, writing no file."""

    def figures(self, result: dict[str, Any], samples: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        """{stem: matplotlib Figure} drawn from a stored unit alone (default: none)."""
        return {}

    def report_section(self, result: dict[str, Any],
                       samples: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        """This unit's part of the HTML report, from the stored unit alone (`vlmaudit.report.html`).

        Default: the headline summary table and a failure browser over every sample table, with
        the generic outcome rule; a suite overrides it to pass its own `outcome` or add keys.
        """
        from vlmaudit.report.html.section import default_section

        return default_section(result, samples)

    def run(self, ctx: RunContext, data: DataSource, config: Any) -> list[SuiteResult]:
        started = time.perf_counter()
        self.check(config)
        out = self.evaluate(ctx, data, config)
        flags = list(dict.fromkeys([*out.flags, *hackable_flags(out.metrics)]))
        return [SuiteResult(
            suite=self.name, model=ctx.model.spec, data=data.spec.name, metrics=out.metrics,
            config=config.model_dump(), samples=out.samples, flags=flags, extra=out.extra,
            data_fingerprint=data.fingerprint(), seconds=time.perf_counter() - started, headline=out.headline,
        )]


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
Numbers = Annotated[tuple[float, ...], BeforeValidator(_split_commas)]  # "0.5,1,2" from the CLI
# a K-way rule's tie policy (strict | lenient | argmax-first | half | random); OfficialTiePolicy adds
# "official", each benchmark's own rule
TiePolicy = Annotated[str, AfterValidator(check_tie_policy)]
OfficialTiePolicy = Annotated[str, AfterValidator(lambda rule: check_tie_policy(rule, extra=("official",)))]


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
