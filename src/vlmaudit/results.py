"""One typed result structure for every suite.

A metric always travels with its chance level, a 95% CI, its sample count and tie rate, the
blind baselines a reader must see beside it, and the published number when one exists.

`SCHEMA_VERSION` is written into every results.json and `from_json` reads every version back:
version 1 (no `schema_version` key) spelt a metric's tie-rule variant as a name suffix
(`pair@legacy`), version 2 has `Metric.variant`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from vlmaudit.errors import DataError

SCHEMA_VERSION = 2


@dataclass
class Metric:
    name: str
    value: float
    n: int
    chance: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    tie_rate: float | None = None
    higher_is_better: bool = True
    group: str = ""  # e.g. "exp1", "sugarcrepe/replace_att", "per_transform/rot90"
    baselines: dict[str, float] = field(default_factory=dict)  # blind scorers on the same items
    reference: dict[str, Any] | None = None  # published number: {"value", "source", "model", ...}
    notes: str = ""
    variant: str = ""  # tie-rule variant beside the configured one, e.g. "legacy" (the benchmark's own)

    def __post_init__(self) -> None:
        if self.value is not None and not math.isfinite(float(self.value)):
            raise ValueError(f"metric {self.key} is not finite: {self.value}")

    @property
    def key(self) -> str:
        """How tables, headlines and flags name the metric: group/name, or group/name@variant."""
        return metric_key(self.group, self.name, self.variant)

    @classmethod
    def from_json(cls, payload: dict[str, Any], version: int = SCHEMA_VERSION) -> Metric:
        """A metric as results.json of schema `version` stores it; version 1's `name@variant` is split."""
        values = dict(payload)
        if version < 2 and "@" in values.get("name", ""):
            values["name"], values["variant"] = values["name"].split("@", 1)
        where = f"metric {values.get('group', '')}/{values.get('name')}"
        if unknown := sorted(set(values) - {f.name for f in fields(cls)}):
            raise DataError(f"{where}: unknown field(s) {unknown}")
        try:
            return cls(**values)
        except (TypeError, ValueError) as err:
            raise DataError(f"{where}: {err}") from None


def metric_key(group: str, name: str, variant: str = "") -> str:
    """`group/name@variant` (no `/` without a group, no `@` without a variant)."""
    key = f"{group}/{name}" if group else name
    return f"{key}@{variant}" if variant else key


@dataclass
class SuiteResult:
    """What a suite returns. It never writes files; the run directory does."""

    suite: str
    model: str
    data: str
    metrics: list[Metric]
    config: dict[str, Any]
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # table name -> rows
    flags: list[str] = field(default_factory=list)  # e.g. "reconstructed: transform list (2503.09837)"
    extra: dict[str, Any] = field(default_factory=dict)  # JSON-able tables (confusion matrix, ...)
    data_fingerprint: str = ""
    seconds: float = 0.0
    headline: list[str] = field(default_factory=list)  # Metric.key of each metric in the summary table

    def metric(self, name: str, group: str = "", variant: str = "") -> Metric:
        key = metric_key(group, name, variant)
        for metric in self.metrics:
            if metric.key == key:
                return metric
        raise KeyError(f"{self.suite}: no metric {key}")

    def headline_metrics(self) -> list[Metric]:
        """The metrics a summary table shows: the declared headline, else the top-level ones."""
        if self.headline:
            wanted = set(self.headline)
            return [m for m in self.metrics if m.key in wanted]
        return [m for m in self.metrics if not m.group] or self.metrics[:8]

    @classmethod
    def from_json(cls, payload: dict[str, Any], samples: dict[str, list[dict[str, Any]]] | None = None,
                  ) -> SuiteResult:
        """Read a results.json payload back (any schema version up to ours); `samples` are the rows."""
        version = payload.get("schema_version", 1)
        if not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
            raise DataError(f"results schema_version {version!r} is not one this vlmaudit reads "
                            f"(1 .. {SCHEMA_VERSION}); upgrade vlmaudit")
        try:
            return cls(
                suite=payload["suite"], model=payload["model"], data=payload["data"],
                metrics=[Metric.from_json(m, version) for m in payload["metrics"]],
                config=payload["config"], samples=samples or {}, flags=payload.get("flags", []),
                extra=payload.get("extra", {}), data_fingerprint=payload.get("data_fingerprint", ""),
                seconds=payload.get("seconds", 0.0), headline=payload.get("headline", []),
            )
        except KeyError as err:
            raise DataError(f"results payload lacks {err}") from None

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "suite": self.suite,
            "model": self.model,
            "data": self.data,
            "data_fingerprint": self.data_fingerprint,
            "seconds": round(self.seconds, 3),
            "headline": self.headline,
            "flags": self.flags,
            "config": self.config,
            "metrics": [asdict(m) for m in self.metrics],
            "extra": self.extra,
        }
