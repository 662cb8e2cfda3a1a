"""Summary tables of results payloads (results.json dicts), for the terminal and markdown."""

from __future__ import annotations

from typing import Any

from vlmaudit.results import metric_key


def _fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _key(m: dict[str, Any]) -> str:
    return metric_key(m["group"], m["name"], m.get("variant") or "")


def headline_rows(payload: dict[str, Any]) -> list[dict[str, str]]:
    """One row per headline metric of one results.json payload."""
    metrics = payload["metrics"]
    wanted = set(payload.get("headline") or [])
    chosen = [m for m in metrics if _key(m) in wanted] if wanted else []
    if not chosen:
        chosen = [m for m in metrics if not m["group"]] or metrics[:8]
    rows = []
    for m in chosen:
        ci = f"[{_fmt(m['ci_low'])}, {_fmt(m['ci_high'])}]" if m.get("ci_low") is not None else ""
        baselines = ", ".join(f"{k} {_fmt(v)}" for k, v in (m.get("baselines") or {}).items())
        ref = m.get("reference") or {}
        rows.append({
            "model": payload["model"], "suite": payload["suite"], "data": payload["data"],
            "metric": _key(m), "value": _fmt(m["value"]), "ci95": ci,
            "chance": _fmt(m.get("chance")), "ties": _fmt(m.get("tie_rate")), "n": str(m["n"]),
            "blind baselines": baselines,
            "paper": _fmt(ref.get("value")) if ref else "",
        })
    return rows


COLUMNS = (
    "model", "suite", "data", "metric", "value", "ci95", "chance", "ties", "n", "blind baselines", "paper",
)


def markdown_table(payloads: list[dict[str, Any]]) -> str:
    rows = [row for p in payloads for row in headline_rows(p)]
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row[c] for c in COLUMNS) + " |" for row in rows]
    comparison = models_table(payloads)
    if comparison:
        header = ["suite / data", "metric", "chance", *comparison["models"]]
        lines += ["", "Models side by side (value [95% CI]; same items for every model):", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join([row["unit"], row["metric"], row["chance"], *row["values"]]) + " |"
                  for row in comparison["rows"]]
    return "\n".join(lines) + "\n"


def models_table(payloads: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The headline metrics of every (suite, data) that two or more models ran, one column per model:
    the comparison the default audit prints (the built-in CLIP vs the generative model on the same
    tower vs its [CLS]-only ablation). None when fewer than two models ran a unit in common."""
    models = list(dict.fromkeys(p["model"] for p in payloads))
    units: dict[tuple[str, str], dict[str, dict]] = {}
    for p in payloads:
        units.setdefault((p["suite"], p["data"]), {})[p["model"]] = p
    shared = {unit: by_model for unit, by_model in units.items() if len(by_model) > 1}
    if len(models) < 2 or not shared:
        return None
    rows = []
    for (suite, data), by_model in shared.items():
        first = next(iter(by_model.values()))
        metrics = {model: {_key(m): m for m in p["metrics"]} for model, p in by_model.items()}
        for key in first.get("headline") or []:
            cells = []
            for model in models:
                m = metrics.get(model, {}).get(key)
                cells.append("" if m is None else
                             f"{_fmt(m['value'])} [{_fmt(m.get('ci_low'), 2)}, {_fmt(m.get('ci_high'), 2)}]")
            chance = next((m["chance"] for table in metrics.values() if (m := table.get(key))), None)
            rows.append({"unit": f"{suite} / {data}", "metric": key, "chance": _fmt(chance), "values": cells})
    return {"models": models, "rows": rows}


def strongest_blind(baselines: dict[str, float] | None) -> str:
    """The best image-blind scorer: the number a score must beat before it says anything visual."""
    scorers = {k: v for k, v in (baselines or {}).items() if k not in NOT_SCORERS and v is not None}
    if not scorers:
        return ""
    name, value = max(scorers.items(), key=lambda item: item[1])
    return f"{name} {_fmt(value)}"


# Fractions of items, not accuracies of a blind scorer: shown in their own column.
NOT_SCORERS = frozenset({"bow_equivalent"})
TERMINAL_COLUMNS = ("metric", "value", "ci95", "chance", "ties", "n", "best blind", "bow-tied", "paper")


def print_table(payloads: list[dict[str, Any]]) -> None:
    """One compact table per (model, suite, data); summary.md keeps every baseline."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # logs and CI: rich would fold everything to 80 columns
        console = Console(width=140)
    for payload in payloads:
        title = f"{payload['model']} / {payload['suite']} / {payload['data']}"
        table = Table(title=title, title_justify="left", show_lines=False)
        for column in TERMINAL_COLUMNS:
            table.add_column(column, overflow="fold", justify="left" if column == "metric" else "right",
                             no_wrap=column == "metric")
        chosen = {row["metric"]: row for row in headline_rows(payload)}
        baselines = {_key(m): m.get("baselines") for m in payload["metrics"]}
        for metric, row in chosen.items():
            extra = {"best blind": strongest_blind(baselines.get(metric)),
                     "bow-tied": _fmt((baselines.get(metric) or {}).get("bow_equivalent"))}
            table.add_row(*(extra[c] if c in extra else row[c] for c in TERMINAL_COLUMNS))
        console.print(table)
    comparison = models_table(payloads)
    if comparison:
        table = Table(title="models side by side (value [95% CI], the same items for every model)",
                      title_justify="left")
        for column in ("unit", "metric", "chance", *comparison["models"]):
            justify = "left" if column in ("unit", "metric") else "right"
            table.add_column(column, overflow="fold", justify=justify)
        for row in comparison["rows"]:
            table.add_row(row["unit"], row["metric"], row["chance"], *row["values"])
        console.print(table)
    flags = sorted({f for p in payloads for f in p.get("flags", [])})
    for flag in flags:
        # a flag of some units only names them: "squashes to a square" of one model is not every model's
        owners = [f"{p['model']} / {p['suite']} / {p['data']}" for p in payloads
                  if flag in p.get("flags", [])]
        where = f" [{'; '.join(owners)}]" if len(owners) < len(payloads) else ""
        console.print(f"[yellow]flag:[/yellow] {escape(flag + where)}", soft_wrap=True)
