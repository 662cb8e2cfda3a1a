"""The schema of benchmark metadata and published references (package data, checked on load).

A benchmark entry says what its number is (main score, chance, aggregation, the official tie rule)
and where its data comes from (citation, licence, file format), so a result can be read without
the paper. A reference is one published number with the conditions it was computed under: model
(label and spec patterns), source, the rule of the paper's code, precision and activation, because
ARO's 0.59 (fp16, ties counted wrong) and the ~0.66 of an fp32 rerun are the same model.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from vlmaudit.metrics.selection import TIE_POLICIES

RULES = (*TIE_POLICIES, "softmax")  # tie policies, plus MMVP's softmax threshold


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Benchmark(_Data):
    name: str  # result group prefix (e.g. "aro/vg_relation"), or the protocol's id ("whatsup/two-way")
    suite: Literal["composition", "spatial", "transforms"]
    title: str
    citation: str
    license: str
    expected_format: str
    main_score: str  # metric name the summary shows first
    chance: dict[str, float]  # metric name -> chance level (the main score's is required)
    aggregation: Literal["micro", "macro", "subsets", "units"]  # of the main score; units: all-correct groups
    official_tie_policy: str  # the rule of the benchmark's own code, on its own option order
    tie_policy_note: str = ""
    rule: Literal["choice", "triplet", "grid"] = "choice"  # triplet: (c, c_p, c_n) hard positives
    min_count: int = 1  # macro: drop groups with fewer items (ARO VG-A: 25)
    exclude_list: str = ""  # macro: package data file of excluded groups (ARO VG-R)
    sizes: dict[str, int | None] = {}
    reconstructed: str = ""  # where this is our construction, not the paper's

    @model_validator(mode="after")
    def _consistent(self) -> Benchmark:
        if self.main_score not in self.chance:
            raise ValueError(f"{self.name}: no chance level for its main score {self.main_score!r}")
        if self.official_tie_policy not in RULES:
            raise ValueError(f"{self.name}: official_tie_policy {self.official_tie_policy!r} not in {RULES}")
        if not all(0.0 <= c <= 1.0 for c in self.chance.values()):
            raise ValueError(f"{self.name}: chance levels must lie in [0, 1]")
        if self.min_count < 1:
            raise ValueError(f"{self.name}: min_count must be >= 1")
        return self


class BenchmarkFile(_Data):
    about: str
    benchmarks: list[Benchmark]

    @model_validator(mode="after")
    def _unique(self) -> BenchmarkFile:
        names = [b.name for b in self.benchmarks]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"duplicate benchmark names {dupes}")
        return self


class _Conditions(_Data):
    """What a published number was computed with; a number's own fields override its model's."""

    rule: str | None = None  # attach only to a metric computed with this rule (None: any)
    precision: str = ""
    activation: str = ""
    tie_policy: str = ""  # the rule in the paper's words, e.g. "argmax-first on [false, true]"
    evidence: str = ""
    protocol: str = ""
    where: str = ""
    notes: str = ""

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, rule: str | None) -> str | None:
        if rule is not None and rule not in RULES:
            raise ValueError(f"rule {rule!r} not in {RULES}")
        return rule


class Source(_Conditions):
    citation: str


class Number(_Conditions):
    group: str
    metric: str  # Metric.name (the variant is chosen by `rule`)
    value: float  # a fraction, like the metrics
    source: str | None = None  # key into the file's sources; default: the model entry's

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("value must be finite")
        return value


class ModelEntry(_Conditions):
    label: str
    match: list[str]  # regexes, searched in the lower-cased model spec
    source: str | None = None
    numbers: list[Number]

    @field_validator("match")
    @classmethod
    def _regexes(cls, patterns: list[str]) -> list[str]:
        if not patterns:
            raise ValueError("a model entry needs at least one match pattern")
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"match pattern {pattern!r}: {err}") from None
        return patterns


class Reference(_Conditions):
    """One published number, flattened: its model entry's and source's conditions filled in."""

    group: str
    metric: str
    value: float
    model: str
    match: tuple[str, ...]
    source: str  # the citation

    def matches(self, model_spec: str) -> bool:
        spec = model_spec.lower()
        return any(re.search(pattern, spec) for pattern in self.match)

    def attached(self) -> dict[str, Any]:
        """Metric.reference: the number and every condition that is known."""
        fields = ("value", "model", "source", "rule", "precision", "activation", "tie_policy", "evidence",
                  "protocol", "where", "notes")
        return {f: getattr(self, f) for f in fields if getattr(self, f) not in (None, "")}


class ReferenceFile(_Data):
    suite: Literal["composition", "spatial", "transforms"]
    about: str
    notes: list[str] = []
    sources: dict[str, Source]
    models: list[ModelEntry]
    unattached: list[dict[str, str]] = []  # numbers seen but not attached, and why
    extra: dict[str, Any] = {}  # suite-specific context (e.g. a range the paper gives only as a figure)

    @model_validator(mode="after")
    def _sources_exist(self) -> ReferenceFile:
        for model in self.models:
            for number in model.numbers:
                key = number.source or model.source
                if key not in self.sources:
                    raise ValueError(f"{model.label} {number.group}/{number.metric}: unknown source {key!r}")
        return self

    def flat(self) -> tuple[Reference, ...]:
        """Every number with its conditions resolved: number, then model entry, then source."""
        out = []
        for model in self.models:
            for number in model.numbers:
                source = self.sources[number.source or model.source or ""]
                conditions = {
                    f: next((getattr(layer, f) for layer in (number, model, source)
                             if getattr(layer, f) not in (None, "")), getattr(number, f))
                    for f in _Conditions.model_fields
                }
                out.append(Reference(group=number.group, metric=number.metric, value=number.value,
                                     model=model.label, match=tuple(model.match), source=source.citation,
                                     **conditions))
        return tuple(out)
