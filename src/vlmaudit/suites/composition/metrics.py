"""Which metrics a composition benchmark reports, and their outcomes handed to the metric kit.

A `Pool` is one or more scored subsets seen as one item list, so a subset's own numbers, the
SugarCrepe micro overall and the Hard-Positive REPLACE mean over subsets share one code path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from vlmaudit.benchmarks import Benchmark, exclusion_list
from vlmaudit.metrics.aggregate import macro
from vlmaudit.metrics.kit import Kit
from vlmaudit.results import Metric
from vlmaudit.suites.composition.score import Evaluated

Aggregation = Literal["micro", "macro", "subsets"]  # over items / item groups / subsets of the pool


@dataclass(frozen=True)
class MetricSpec:
    name: str  # reported name
    source: str  # outcome key it aggregates
    chance: float
    aggregation: Aggregation = "micro"
    higher_is_better: bool = True
    min_count: int = 1
    exclude: frozenset[str] = frozenset()


def metric_specs(bench: Benchmark, *, grouped: bool) -> list[MetricSpec]:
    """The metrics a benchmark reports; `grouped` adds the macro mean over item groups."""
    chance = bench.chance
    if bench.rule == "triplet":
        return [
            MetricSpec("orig_accuracy", "orig_accuracy", chance["orig_accuracy"]),
            MetricSpec("aug_accuracy", "aug_accuracy", chance["aug_accuracy"]),
            MetricSpec("brittleness", "brittleness", chance["brittleness"], higher_is_better=False),
        ]
    if bench.main_score == "precision@1":
        return [MetricSpec("precision@1", "precision@1", chance["precision@1"])]
    specs = [MetricSpec("accuracy", "accuracy", chance["accuracy"])]
    if grouped or bench.main_score == "macro_accuracy":
        macro_chance = chance.get("macro_accuracy", chance["accuracy"])
        specs.append(MetricSpec("macro_accuracy", "accuracy", macro_chance, "macro", True, bench.min_count,
                                exclusion_list(bench.exclude_list)))
    return specs


def computable(spec: MetricSpec, pool: Pool) -> bool:
    """False for a macro mean with no group left after min_count and the exclusion list.

    A small VG-Attribution (`limit=`, a fixture) has no attribute pair seen 25 times: its macro
    accuracy is undefined, and the run reports the micro accuracy instead of failing.
    """
    if spec.aggregation != "macro":
        return True
    counts = Counter(pool.keys("macro"))
    return any(n >= spec.min_count and key not in spec.exclude for key, n in counts.items())


def outcome_key(bench: Benchmark) -> str:
    """The per-item value behind the benchmark's main score."""
    if bench.rule == "triplet":
        return "aug_accuracy"
    return "precision@1" if bench.main_score == "precision@1" else "accuracy"


@dataclass
class Pool:
    parts: list[Evaluated]

    def values(self, scorer: str, key: str) -> np.ndarray:
        return np.concatenate([p.outcomes[scorer].values[key] for p in self.parts])

    @property
    def tied(self) -> np.ndarray:
        return np.concatenate([p.outcomes["model"].tied for p in self.parts])

    @property
    def bow(self) -> np.ndarray:
        return np.concatenate([p.bow for p in self.parts]).astype(np.float64)

    @property
    def clusters(self) -> np.ndarray | None:
        """Image keys for a clustered bootstrap; None when no two items share an image."""
        keys = np.concatenate([p.clusters for p in self.parts])
        return None if len(np.unique(keys)) == len(keys) else keys

    def keys(self, aggregation: Aggregation) -> list[str]:
        if aggregation == "subsets":
            return [p.group for p in self.parts for _ in p.items]
        return [g for p in self.parts for g in p.groups]


def aggregator(spec: MetricSpec, pool: Pool) -> Callable[[np.ndarray], float]:
    """values -> the spec's aggregate (the kit's rule), for the tie-policy sweep."""
    if spec.aggregation == "micro":
        return lambda v: float(np.mean(v))
    keys = pool.keys(spec.aggregation)

    def aggregate(values: np.ndarray) -> float:
        return macro(values, keys, min_count=spec.min_count, exclude=spec.exclude).value

    return aggregate


def build_metrics(
    pool: Pool,
    specs: list[MetricSpec],
    group: str,
    kit: Kit,
    *,
    rule: str | None = None,
    notes: str = "",
) -> tuple[list[Metric], dict]:
    """Metrics (with baselines and reference) and, for macro ones, the per-group table.

    `rule`: the tie policy the outcomes were computed with (None for combined pools).
    """
    metrics, tables = [], {}
    for spec in specs:
        blind = pool.parts[0].tables.blind
        baselines = {scorer: pool.values(scorer, spec.source) for scorer in blind}
        baselines["bow_equivalent"] = pool.bow
        common = dict(group=group, rule=rule, chance=spec.chance, tied=pool.tied, baselines=baselines,
                      higher_is_better=spec.higher_is_better, notes=notes)
        values = pool.values("model", spec.source)
        if spec.aggregation == "micro":
            metric = kit.metric(spec.name, values, clusters=pool.clusters, **common)
        else:
            metric, result = kit.macro(spec.name, values, pool.keys(spec.aggregation),
                                       min_count=spec.min_count, exclude=spec.exclude, **common)
            tables[spec.name] = {
                "per_group": {k: {"value": v, "n": n} for k, (v, n) in result.per_group.items()},
                "dropped": result.dropped,
            }
        metrics.append(metric)
    return metrics, tables
