"""Figures for the alignment suite, from a stored unit alone: example triplets (original, aligned,
|delta| magnified), systematic accuracy against the L-inf budget, and the PSNR histogram."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from PIL import Image


def _image(data: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))


def figures(result: dict[str, Any], samples: dict[str, list[dict[str, Any]]]) -> dict[str, Figure]:
    extra = result.get("extra", {})
    out: dict[str, Figure] = {}
    for group, examples in extra.get("examples", {}).items():
        if not examples:
            continue
        fig = Figure(figsize=(6, 2 * len(examples)))
        axes = fig.subplots(len(examples), 3, squeeze=False)
        for row, ex in zip(axes, examples, strict=True):
            for ax, key, title in zip(row, ("original", "aligned", "delta"),
                                      (f"{ex['label']}", f"-> {ex['prediction']}",
                                       f"|delta| x{ex['magnified']:.0f}"), strict=True):
                ax.imshow(_image(ex[key]), interpolation="nearest")
                ax.set_title(title, fontsize=8)
                ax.axis("off")
        out[f"{_stem(group)}_examples"] = fig
    for group, rows in extra.get("sweep", {}).items():
        if not rows:
            continue
        fig = Figure(figsize=(5, 3.2))
        ax = fig.subplots()
        ax.plot([r["radius_255"] for r in rows], [r["accuracy"] for r in rows], marker="o")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("L-inf budget (/255)")
        ax.set_ylabel("systematic accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(group, fontsize=9)
        out[f"{_stem(group)}_budget"] = fig
    for table, rows in samples.items():
        psnr = [r["psnr"] for r in rows if "psnr" in r and np.isfinite(r["psnr"])]
        if psnr:
            fig = Figure(figsize=(5, 3.2))
            ax = fig.subplots()
            ax.hist(psnr, bins=20)
            ax.set_xlabel("PSNR (dB)")
            ax.set_ylabel("aligned images")
            ax.set_title(table, fontsize=9)
            out[f"{_stem(table)}_psnr"] = fig
    return out


def _stem(group: str) -> str:
    return group.replace("/", "_")
