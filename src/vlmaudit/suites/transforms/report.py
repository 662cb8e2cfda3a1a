"""Metrics, breakdowns and paper references for the transforms suite.

Every image gets every selected transform, so trials form an N x K table with equal-sized
clusters per image. A bootstrap clustered by image is then exactly a bootstrap over per-image
means, which is what `trial_metric` does (vectorised, instead of concatenating clusters).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from vlmaudit.metrics.selection import Selection
from vlmaudit.metrics.summary import mean_metric
from vlmaudit.results import Metric


@cache
def paper_table() -> dict[str, Any]:
    text = resources.files("vlmaudit").joinpath("references", "transforms.json").read_text(encoding="utf-8")
    return json.loads(text)


def paper_model(spec: str) -> dict[str, Any] | None:
    """The paper's row for a model spec (HF id, open_clip name + 'openai', or a local dir named so)."""
    spec = spec.lower()
    for row in paper_table()["models"]:
        if any(re.search(pattern, spec) for pattern in row["match"]):
            return row
    return None


def reference(row: dict[str, Any] | None, key: str, note: str = "") -> dict[str, Any] | None:
    """Metric.reference for one paper number, as a fraction like our metrics."""
    if row is None:
        return None
    table = paper_table()
    ref = {"value": row[key] / 100.0, "model": row["label"], "source": f"{table['paper']}; {table['source']}",
           "provenance": "R"}
    return ref | ({"note": note} if note else {})


def trial_metric(name: str, group: str, values: np.ndarray, *, tied: np.ndarray | None = None,
                 chance: float | None = None, seed: int = 0, n_boot: int = 1000, **kwargs) -> Metric:
    """Mean over an [N, m] table of trials (rows = images) with an image-clustered 95% CI."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    tie_rate = float(np.mean(tied)) if tied is not None else None
    metric = mean_metric(name, values.mean(axis=1), group=group, chance=chance, tie_rate=tie_rate,
                         seed=seed, n_boot=n_boot, **kwargs)
    return replace(metric, value=float(values.mean()), n=int(values.size))


def breakdown(name: str, group: str, values: np.ndarray, tied: np.ndarray | None, names: Sequence[str],
              categories: Sequence[str], *, chance: float | None = None, seed: int = 0,
              n_boot: int = 1000, higher_is_better: bool = True) -> list[Metric]:
    """Per-transform (`group/transform/NAME`) and per-category (`group/category/CAT`) metrics."""
    out = []
    common = {"chance": chance, "seed": seed, "n_boot": n_boot, "higher_is_better": higher_is_better}
    for j, transform in enumerate(names):
        out.append(trial_metric(name, f"{group}/transform/{transform}", values[:, j],
                                tied=None if tied is None else tied[:, j], **common))
    for category in dict.fromkeys(categories):
        cols = [j for j, c in enumerate(categories) if c == category]
        out.append(trial_metric(name, f"{group}/category/{category}", values[:, cols],
                                tied=None if tied is None else tied[:, cols], **common))
    return out


def selection_metrics(name: str, group: str, sel: Selection, names: Sequence[str], categories: Sequence[str],
                      *, chance: float, seed: int, n_boot: int, baselines: dict[str, float] | None = None,
                      ref: dict[str, Any] | None = None, notes: str = "") -> list[Metric]:
    """The overall metric for a Selection over [N, K] trials, then its breakdowns."""
    overall = trial_metric(name, group, sel.correct, tied=sel.tied, chance=chance, seed=seed, n_boot=n_boot,
                           baselines=baselines, reference=ref, notes=notes)
    return [overall, *breakdown(name, group, sel.correct, sel.tied, names, categories, chance=chance,
                                seed=seed, n_boot=n_boot)]


def gap_metrics(group: str, gaps: np.ndarray, names: Sequence[str], categories: Sequence[str], *,
                seed: int, n_boot: int, notes: str = "") -> list[Metric]:
    """Mean similarity gap with CIs (chance 0: no preference), overall and broken down."""
    overall = trial_metric("gap_mean", group, gaps, chance=0.0, seed=seed, n_boot=n_boot, notes=notes)
    return [overall, *breakdown("gap_mean", group, gaps, None, names, categories, chance=0.0, seed=seed,
                                n_boot=n_boot)]
