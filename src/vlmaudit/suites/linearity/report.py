"""The linearity suite's part of the HTML report, from a stored unit alone.

Its sample rows nest per-sigma measurements; the browser gets them flattened (dotted keys) and
the section adds per-sigma means of what the metrics table reports as distributions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vlmaudit.report.html.section import default_section, flatten, panel


def section(result: dict[str, Any], samples: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    out = default_section(result, {name: [flatten(r) for r in rows] for name, rows in samples.items()})
    sigmas = result["config"]["sigmas"]
    out["notes"].append("Failure browser: one row per image, unscored (the suite makes no per-image "
                        "decision); details hold every per-sigma measurement of the image and its "
                        "aligned copy.")
    for name, rows in samples.items():
        key = name.removesuffix("/images")
        breaks = result.get("extra", {}).get("breaks_at_sigma", {}).get(key)
        table = []
        for sigma in sigmas:
            at = [r[f"sigma_{sigma:g}"] for r in rows]
            sides = [[r[f"{side}_detector"][f"{sigma:g}"] for r in rows] for side in ("clean", "aligned")]
            table.append([sigma, *(_mean(a[k] for a in at) for k in ("relative_error", "sampling_floor")),
                          _mean(float(a["joint_rejected"]) for a in at),
                          *(_mean(d[k] for d in side) for k in ("flip_rate", "shift") for side in sides)])
        out["panels"].append(panel(
            f"{key}: linearisation and detector by sigma (means over {len(rows)} images)",
            ["sigma", "cov rel. error", "sampling floor", "joint normality rejected", "flip rate clean",
             "flip rate aligned", "shift clean", "shift aligned"], table,
            note=f"most images reject joint normality from sigma = {breaks:g}" if breaks is not None
            else "joint normality is not rejected for most images at any sigma tried"))
    return out


def _mean(values: Any) -> float:
    return float(np.mean(list(values)))
