"""The alignment suite's part of the HTML report, from a stored unit alone.

Beyond the default summary and browser: the budget sweep as numbers (the figure draws the same
rows) and every attack setting the unit ran with, since the "same" attack differs by library.
"""

from __future__ import annotations

from typing import Any

from vlmaudit.report.html.section import default_section, panel


def section(result: dict[str, Any], samples: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    out = default_section(result, samples)
    extra = result.get("extra", {})
    out["notes"].append("Failure browser: one row per aligned image; outcome correct = the aligned image "
                        "kept its own label (the attack failed), wrong = it did not. Example triplets "
                        "(original, aligned, |delta| magnified) are in the figures.")
    for group, rows in extra.get("sweep", {}).items():
        out["panels"].append(panel(
            f"{group}: systematic accuracy against the L-inf budget",
            ["budget (/255)", "systematic accuracy", "mean PSNR (dB)", "mean cosine to target"],
            [[r["radius_255"], r["accuracy"], r["psnr"], r["cos_target"]] for r in rows],
            note="CIs per budget are in the metrics (group .../sweep)."))
    for group, settings in extra.get("attack", {}).items():
        out["panels"].append(panel(f"{group}: attack settings", ["setting", "value"],
                                   [[k, v] for k, v in settings.items()]))
    return out
