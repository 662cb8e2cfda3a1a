"""A suite's part of the report, built from one stored unit: summary rows and failure-browser tables.

`Suite.report_section` calls `default_section`; a suite whose sample rows need another outcome
rule passes its own `outcome` function, and one that wants more passes extra keys through.
Everything here reads the stored payload and rows only, so a finished (or older) run renders.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from vlmaudit.report.table import _fmt, _key, headline_rows, strongest_blind

# Row fields the failure browser filters on ("the group" of a row), in order of preference.
GROUP_FIELDS = ("group", "relation", "transform", "category", "tag", "key")
# Row fields that hold the options an item chose between, and the item's identity.
OPTION_FIELDS = ("options", "captions", "texts")
ID_FIELDS = ("item_id", "id", "qids", "image_key")
OUTCOMES = ("correct", "tied", "wrong", "unscored")

Outcome = Callable[[dict[str, Any]], str]


def generic_outcome(row: dict[str, Any]) -> str:
    """correct / tied / wrong / unscored of one sample row, from what the row itself stores.

    - a per-item outcome the suite stored: the first `X` (or `X_correct`) with an `X_tied` flag
      beside it (composition's `accuracy`/`aug_accuracy`, transforms' `exp1`, What'sUp's
      `individual`, Winoground's `group_correct`, MMVP's `pair`): tied when flagged, else correct
      when it is 1;
    - else `gold` (int) and `scores` (one per option): correct when gold alone has the top score,
      tied when it shares it (the strict tie policy counts that wrong), else wrong;
    - else `gold` (one int per row of a 2-D `scores`, e.g. MMVP's statements x images): correct when
      every row is correct, tied when none is wrong but one ties.
    """
    for key, value in row.items():
        tied = row.get(f"{key.removesuffix('_correct')}_tied")
        if isinstance(tied, bool) and isinstance(value, int | float) and not isinstance(value, bool):
            return "tied" if tied else "correct" if value >= 1 else "wrong"
    gold, scores = row.get("gold"), row.get("scores")
    if isinstance(gold, int) and isinstance(scores, list) and scores and not isinstance(scores[0], list):
        return _top(scores, gold)
    if isinstance(gold, list) and isinstance(scores, list) and len(gold) == len(scores) and gold:
        parts = [_top(s, g) for s, g in zip(scores, gold, strict=True) if isinstance(s, list)]
        if len(parts) == len(gold):
            return "wrong" if "wrong" in parts else "tied" if "tied" in parts else "correct"
    return "unscored"


def _top(scores: list[float], gold: int) -> str:
    best = max(scores)
    if not 0 <= gold < len(scores) or scores[gold] < best:
        return "wrong"
    return "tied" if scores.count(best) > 1 else "correct"


def summary_rows(result: dict[str, Any]) -> list[dict[str, str]]:
    """The headline rows of `report.table` with what the page adds: strongest blind scorer, flags, notes."""
    metrics = {_key(m): m for m in result["metrics"]}
    hackable = {f.split(" ")[1] for f in result.get("flags", []) if f.startswith("hackable: ")}
    rows = []
    for row in headline_rows(result):
        m = metrics[row["metric"]]
        ref = m.get("reference") or {}
        marks = [name for name, on in (("hackable", row["metric"] in hackable),
                                       ("reconstructed", "reconstructed" in (m.get("notes") or ""))) if on]
        rows.append(row | {
            "blind": strongest_blind(m.get("baselines")),
            "bow_tied": _fmt((m.get("baselines") or {}).get("bow_equivalent")),
            "paper": f"{row['paper']} ({ref.get('source', '')})" if row["paper"] else "",
            "flags": " ".join(marks), "notes": m.get("notes") or "",
        })
    return rows


def browser_table(name: str, rows: list[dict[str, Any]], outcome: Outcome) -> dict[str, Any]:
    """One sample table as the failure browser shows it: compact rows, their groups, outcome counts."""
    shown = []
    for row in rows:
        options = next((row[f] for f in OPTION_FIELDS if isinstance(row.get(f), list)), None)
        if options is None and "caption" in row:
            options = [row["caption"]]
        shown.append({
            "id": _text(next((row[f] for f in ID_FIELDS if f in row), "")),
            "group": " / ".join(str(row[f]) for f in GROUP_FIELDS if row.get(f) not in (None, "")),
            "image": _image_label(row),
            "options": [str(o) for o in options or []],
            "scores": _round(row.get("scores")), "gold": row.get("gold"),
            "outcome": outcome(row),
            "detail": {k: _round(v) for k, v in row.items() if _is_detail(k, v)},
        })
    counts = {o: sum(r["outcome"] == o for r in shown) for o in OUTCOMES}
    return {"name": name, "rows": shown, "n": len(shown), "counts": counts,
            "groups": sorted({r["group"] for r in shown if r["group"]})}


def default_section(result: dict[str, Any], samples: dict[str, list[dict[str, Any]]],
                    outcome: Outcome = generic_outcome) -> dict[str, Any]:
    """{"summary": rows, "tables": failure-browser tables, "notes": lines, "panels": []}; the
    renderer adds figures. A suite appends `panel(...)`s for numbers the metrics table does not hold."""
    return {"summary": summary_rows(result),
            "tables": [browser_table(name, rows, outcome) for name, rows in samples.items()],
            "notes": [], "panels": []}


def panel(title: str, columns: list[str], rows: list[list[Any]], note: str = "") -> dict[str, Any]:
    """A small table of a suite's own (a budget sweep, a per-sigma summary), values formatted once."""
    return {"title": title, "columns": columns, "note": note,
            "rows": [[_cell(v) for v in row] for row in rows]}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested sample fields as dotted scalar keys ({"sigma_0.01": {"relative_error": x}} ->
    "sigma_0.01.relative_error"), so the browser's details show them; lists stay as they are."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out |= flatten(value, f"{name}.")
        else:
            out[name] = value
    return out


def _image_label(row: dict[str, Any]) -> str:
    if isinstance(row.get("image"), str):
        return row["image"]
    images = row.get("images")
    return " | ".join(str(i) for i in images) if isinstance(images, list) else ""


def _is_detail(key: str, value: Any) -> bool:
    """Scalar fields beyond the browser's own columns (per-trial scores and decisions)."""
    own = {"scores", "gold", "image", "images", "caption", *OPTION_FIELDS, *ID_FIELDS, *GROUP_FIELDS}
    return key not in own and (value is None or isinstance(value, bool | int | float | str))


def _round(value: Any) -> Any:
    """Scores at 4 decimals, whole numbers as ints: the page is for reading; results.json keeps every bit."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = round(value, 4)
        return int(value) if value.is_integer() else value
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)

