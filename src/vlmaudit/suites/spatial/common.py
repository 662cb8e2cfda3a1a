"""Shared plumbing of the spatial suite: scoring through the engine, handing outcomes to the metric kit.

Score tables come from the run's scorer (`vlmaudit.scoring`); `score_dtype="fp16"` asks a cosine
scorer for the legacy fp16 dot product of the What'sUp/ARO code.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vlmaudit.metrics.grouped import Grouped
from vlmaudit.metrics.kit import Kit
from vlmaudit.metrics.selection import Selection
from vlmaudit.results import Metric

Result = Selection | Grouped
Block = dict[tuple[str, str], tuple[Result, float]]  # (group suffix, metric) -> (result, chance)


def emit(kit: Kit, group: str, score: Callable[[np.ndarray], Block], table: np.ndarray,
         blind: dict[str, np.ndarray], variant: str, policy: str, extra: dict[str, float],
         infix: str = "", notes: str = "") -> list[Metric]:
    """Metrics of one score table, each with the same metric computed on every blind table.

    Grouped units keyed (group, a, b) are bootstrapped clustered by group; a unit set that misses
    images keeps the paper's denominator.
    """
    main = score(table)
    base = {name: score(t) for name, t in blind.items()}
    out = []
    for (sub, metric), (result, chance) in main.items():
        baselines = {name: value(b[(sub, metric)][0]) for name, b in base.items()} | extra
        common = dict(group=group + sub, variant=variant, rule=policy, chance=chance, baselines=baselines,
                      notes=notes)
        if isinstance(result, Selection):
            out.append(kit.metric(metric + infix, result.correct, tied=result.tied, **common))
        else:
            by_group = bool(result.keys) and isinstance(result.keys[0], tuple)  # (group, a, b) units
            clusters = [key[0] for key in result.keys] if by_group else None
            out.append(kit.metric(metric + infix, result.outcomes, tied=result.tied, clusters=clusters,
                                  denominator=result.denominator, **common))
    return out


def share(sel: Selection, mask: np.ndarray, denominator: float | None) -> Grouped:
    """Per-image outcomes of the masked items over the paper's denominator (None: their count)."""
    idx = np.flatnonzero(mask)
    return Grouped(sel.correct[idx], sel.tied[idx], tuple(idx.tolist()),
                   float(idx.size if denominator is None else denominator))


def value(result: Result) -> float:
    return result.accuracy if isinstance(result, Selection) else result.value


def variants(main: str, legacy: str | None, with_legacy: bool) -> list[tuple[str, str]]:
    """(variant, policy) pairs: the configured policy, plus the benchmark's own rule if it differs."""
    out = [("", main)]
    if with_legacy and legacy is not None and legacy != main:
        out.append(("legacy", legacy))
    return out
