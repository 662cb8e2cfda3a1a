"""Figures for the linearity suite, from a stored unit alone: covariance error against sigma, a
Q-Q plot of the first principal direction per sigma, and the singular values of J at clean and
aligned images."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure
from scipy import stats


def figures(result: dict[str, Any], samples: dict[str, list[dict[str, Any]]]) -> dict[str, Figure]:
    sigmas = result.get("config", {}).get("sigmas", [])
    out: dict[str, Figure] = {}
    for table, rows in samples.items():
        if not rows or not sigmas:
            continue
        stem = table.replace("/", "_")
        fig = Figure(figsize=(5, 3.2))
        ax = fig.subplots()
        errors = [[r[f"sigma_{s:g}"]["relative_error"] for r in rows] for s in sigmas]
        ax.boxplot(errors, tick_labels=[f"{s:g}" for s in sigmas])
        ax.set_yscale("log")
        ax.set_xlabel("noise sigma")
        ax.set_ylabel("||C_emp - s^2 JJ^T||_F / ||s^2 JJ^T||_F")
        ax.set_title(table, fontsize=9)
        out[f"{stem}_covariance"] = fig

        fig = Figure(figsize=(3 * len(sigmas), 3))
        axes = fig.subplots(1, len(sigmas), squeeze=False)[0]
        for ax, sigma in zip(axes, sigmas, strict=True):
            values = np.asarray(rows[0][f"sigma_{sigma:g}"]["qq_first_pc"])
            theory = stats.norm.ppf((np.arange(len(values)) + 0.5) / len(values))
            ax.plot(theory, values, ".", markersize=3)
            ax.plot(theory, theory, "k-", linewidth=0.8)
            ax.set_title(f"sigma {sigma:g}: {rows[0]['item']}", fontsize=8)
            ax.set_xlabel("normal quantile")
        axes[0].set_ylabel("first PC, standardised")
        out[f"{stem}_qq"] = fig

        fig = Figure(figsize=(5, 3.2))
        ax = fig.subplots()
        for side, colour in (("clean", "tab:blue"), ("aligned", "tab:red")):
            for i, r in enumerate(rows):
                ax.plot(np.arange(1, len(r[f"{side}_singular_values"]) + 1), r[f"{side}_singular_values"],
                        color=colour, alpha=0.3, label=side if i == 0 else None)
        ax.set_yscale("log")
        ax.set_xlabel("index")
        ax.set_ylabel("singular value of J")
        ax.legend(fontsize=8)
        ax.set_title(table, fontsize=9)
        out[f"{stem}_spectrum"] = fig
    return out
