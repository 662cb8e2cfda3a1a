"""Shared plumbing of the spatial suite: scoring through the engine, metric building, references.

Score tables come from the run's scorer (`vlmaudit.scoring`); `score_dtype="fp16"` asks a cosine
scorer for the legacy fp16 dot product of the What'sUp/ARO code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from vlmaudit.metrics.grouped import Grouped
from vlmaudit.metrics.selection import Selection
from vlmaudit.metrics.summary import mean_metric
from vlmaudit.results import Metric

Result = Selection | Grouped
Block = dict[tuple[str, str], tuple[Result, float]]  # (group suffix, metric) -> (result, chance)


@dataclass
class MetricKit:
    """Builds Metrics with the run's seed/n_boot and attaches matching published numbers."""

    seed: int = 0
    n_boot: int = 1000
    references: dict[str, dict[str, Any]] = field(default_factory=dict)

    def reference(self, group: str, name: str, policy: str) -> dict[str, Any] | None:
        """The published number, only on the variant computed with the paper's own rule."""
        ref = self.references.get(f"{group}:{name.split('@')[0]}")
        return ref if ref is not None and ref["rule"] == policy else None

    def selection(self, name: str, group: str, sel: Selection, policy: str, *, chance: float | None,
                  clusters: Sequence[Hashable] | None = None, baselines: dict[str, float] | None = None,
                  notes: str = "") -> Metric:
        return mean_metric(
            name, sel.correct, group=group, chance=chance, tie_rate=sel.tie_rate, seed=self.seed,
            n_boot=self.n_boot, clusters=_clusters(clusters), baselines=baselines,
            reference=self.reference(group, name, policy), notes=notes,
        )

    def grouped(self, name: str, group: str, result: Grouped, policy: str, *, chance: float | None,
                clusters: Sequence[Hashable] | None = None, baselines: dict[str, float] | None = None,
                notes: str = "") -> Metric:
        """Unit-level bootstrap; value and n follow the paper's denominator when units are incomplete."""
        metric = mean_metric(
            name, result.outcomes, group=group, chance=chance, tie_rate=result.tie_rate, seed=self.seed,
            n_boot=self.n_boot, clusters=_clusters(clusters), baselines=baselines,
            reference=self.reference(group, name, policy), notes=notes,
        )
        if result.complete:
            return metric
        note = (f"{len(result.outcomes)} units but the paper divides by {result.denominator:g}; "
                "value uses the paper's denominator, CI is over units")
        return replace(metric, value=result.value, n=round(result.denominator),
                       notes="; ".join(filter(None, [notes, note])))


def emit(kit: MetricKit, group: str, score: Callable[[np.ndarray], Block], table: np.ndarray,
         blind: dict[str, np.ndarray], suffix: str, policy: str, extra: dict[str, float],
         infix: str = "", notes: str = "") -> list[Metric]:
    """Metrics of one score table, each with the same metric computed on every blind table."""
    main = score(table)
    base = {name: score(t) for name, t in blind.items()}
    out = []
    for (sub, metric), (result, chance) in main.items():
        baselines = {name: value(b[(sub, metric)][0]) for name, b in base.items()} | extra
        name = f"{metric}{infix}{suffix}"
        if isinstance(result, Selection):
            out.append(kit.selection(name, group + sub, result, policy, chance=chance, baselines=baselines,
                                     notes=notes))
        else:
            by_group = bool(result.keys) and isinstance(result.keys[0], tuple)  # (group, a, b) units
            clusters = [key[0] for key in result.keys] if by_group else None
            out.append(kit.grouped(name, group + sub, result, policy, chance=chance, clusters=clusters,
                                   baselines=baselines, notes=notes))
    return out


def share(sel: Selection, mask: np.ndarray, denominator: float | None) -> Grouped:
    """Per-image outcomes of the masked items over the paper's denominator (None: their count)."""
    idx = np.flatnonzero(mask)
    return Grouped(sel.correct[idx], sel.tied[idx], tuple(idx.tolist()),
                   float(idx.size if denominator is None else denominator))


def value(result: Result) -> float:
    return result.accuracy if isinstance(result, Selection) else result.value


def _clusters(keys: Sequence[Hashable] | None) -> np.ndarray | None:
    return None if keys is None else np.asarray([str(k) for k in keys])



def variants(main: str, legacy: str | None, with_legacy: bool) -> list[tuple[str, str]]:
    """(suffix, policy) pairs: the configured policy, plus the benchmark's own rule if it differs."""
    out = [("", main)]
    if with_legacy and legacy is not None and legacy != main:
        out.append(("@legacy", legacy))
    return out


# ------------------------------------------------------------------------------------ references


@cache
def _reference_table() -> dict[str, Any]:
    text = resources.files("vlmaudit").joinpath("references", "spatial.json").read_text(encoding="utf-8")
    return json.loads(text)


def references_for(model_spec: str) -> dict[str, dict[str, Any]]:
    """`group:name` -> Metric.reference for every published number whose model pattern matches.

    Each reference carries `rule`, the tie rule (or MMVP's "softmax") of the paper's code; the kit
    attaches it only to the metric variant computed with that rule.
    """
    spec = model_spec.lower()
    table = _reference_table()
    out: dict[str, dict[str, Any]] = {}
    for block in table["blocks"]:
        if not any(re.search(pattern, spec) for pattern in block["match"]):
            continue
        source = table["sources"][block["source"]]
        for key, value in block["numbers"].items():
            out[key] = {
                "value": value / 100.0,
                "model": block["model"],
                "source": source["citation"],
                "where": block.get("where", ""),
                "evidence": block.get("evidence", source.get("evidence", "")),
                "precision": block.get("precision", source.get("precision", "")),
                "activation": block.get("activation", source.get("activation", "")),
                "protocol": source.get("protocol", ""),
                "rule": block.get("rule", source["rule"]),
            }
    return out
