"""Figures for the transforms suite: per-transform bars, the Exp 2 gap histogram, Exp 3 confusion.

`figures(result, samples)` draws them from a stored unit alone (results.json and its trial rows),
so a finished run can be re-rendered. Figures are built on `matplotlib.figure.Figure` (Agg
canvas), never through pyplot's global state, so suites running in threads or tests do not share
or leak figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

_PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")


PANELS = (  # bar panel title, metric group (per transform below it), metric name
    ("Exp 1: s(I',C') > s(I,C')", "exp1", "accuracy"),
    ("Exp 2: s(I',C') > s(I',C)", "exp2", "accuracy"),
    ("Control: Exp 2 against C'_wrong", "control/exp2_wrong", "accuracy"),
    ("Control: Exp 2 on the untransformed I", "control/exp2_untransformed", "accuracy"),
    ("Exp 3 top-1, bare descriptions", "exp3/bare", "top1"),
    ("Exp 3 top-1, caption + description", "exp3/captioned", "top1"),
    ("Control: linear probe on held-out images", "control/probe", "accuracy"),
)


def figures(result: dict[str, Any], samples: dict[str, list[dict[str, Any]]]) -> dict[str, Figure]:
    """The suite's figures from a results.json payload and its `trials` rows; file stem -> Figure."""
    names = [row["name"] for row in result["extra"]["transforms"]]
    categories = [row["category"] for row in result["extra"]["transforms"]]
    metrics = {(m["group"], m["name"]): m for m in result["metrics"] if not m.get("variant")}
    panels = {}
    for title, group, name in PANELS:
        per = [metrics.get((f"{group}/transform/{t}", name)) for t in names]
        if all(per):  # the probe panel is absent when the probe was skipped
            panels[title] = (np.array([m["value"] for m in per]), per[0]["chance"])
    trials = samples["trials"]
    gaps = {
        "Exp 2 gap on I'": np.array([r["s_IpCp"] - r["s_IpC"] for r in trials], dtype=np.float32),
        "same gap on untransformed I": np.array([r["s_ICp"] - r["s_IC"] for r in trials], dtype=np.float32),
    }
    confusion = {f"Exp 3, {v} options": np.asarray(result["extra"]["exp3_confusion"][v])
                 for v in ("bare", "captioned")}
    return {
        "per_transform_accuracy": per_transform_bars(panels, names, categories),
        "exp2_gap_histogram": gap_histogram(gaps),
        "exp3_confusion": confusion_matrices(confusion, names),
    }


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")  # laid out when drawn, not before
    FigureCanvasAgg(figure)
    return figure


def per_transform_bars(panels: dict[str, tuple[np.ndarray, float]], names: Sequence[str],
                       categories: Sequence[str]) -> Figure:
    """One bar panel per experiment: accuracy per transform, coloured by category, chance dashed."""
    colours = {c: _PALETTE[i % len(_PALETTE)] for i, c in enumerate(dict.fromkeys(categories))}
    figure = _figure(max(8.0, 0.38 * len(names)), 2.0 * len(panels) + 0.8)
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    x = np.arange(len(names))
    for ax, (title, (values, chance)) in zip(axes, panels.items(), strict=True):
        ax.bar(x, values, color=[colours[c] for c in categories])
        ax.axhline(chance, color="black", linestyle="--", linewidth=1)
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("accuracy")
        ax.set_title(f"{title} (dashed: chance {chance:.3g})", fontsize=9, loc="left")
    axes[-1].set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    handles = [Patch(color=colour, label=c) for c, colour in colours.items()]
    axes[0].legend(handles=handles, ncols=len(colours), fontsize=7, loc="lower right", bbox_to_anchor=(1, 1),
                   frameon=False)
    return figure


def gap_histogram(gaps: dict[str, np.ndarray]) -> Figure:
    """Overlaid histograms of similarity gaps (e.g. s(I',C')-s(I',C) and s(I,C')-s(I,C))."""
    figure = _figure(6.5, 3.8)
    ax = figure.subplots()
    everything = np.concatenate([g.ravel() for g in gaps.values()])
    bins = np.linspace(everything.min(), everything.max(), 60) if np.ptp(everything) > 0 else 10
    for label, values in gaps.items():
        ax.hist(values.ravel(), bins=bins, alpha=0.55, label=f"{label} (mean {values.mean():+.4f})")
    ax.axvline(0.0, color="black", linewidth=1)
    ax.set_xlabel("cosine similarity gap")
    ax.set_ylabel("trials")
    ax.legend(fontsize=8)
    return figure


def confusion_matrices(matrices: dict[str, np.ndarray], names: Sequence[str]) -> Figure:
    """Row-normalised K x K confusion matrices side by side (row = applied, column = predicted)."""
    size = max(5.0, 0.28 * len(names) + 2.0)
    figure = _figure(size * len(matrices), size)
    axes = figure.subplots(1, len(matrices), squeeze=False)[0]
    ticks = np.arange(len(names))
    for ax, (title, matrix) in zip(axes, matrices.items(), strict=True):
        rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        image = ax.imshow(rows, vmin=0, vmax=1, cmap="viridis")
        ax.set_title(title, fontsize=9)
        ax.set_xticks(ticks, names, rotation=90, fontsize=7)
        ax.set_yticks(ticks, names, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("applied")
        figure.colorbar(image, ax=ax, fraction=0.046)
    return figure
