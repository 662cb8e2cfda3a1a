"""Summary tables of results payloads (results.json dicts), for the terminal and markdown."""

from __future__ import annotations

from typing import Any


def _fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def headline_rows(payload: dict[str, Any]) -> list[dict[str, str]]:
    """One row per headline metric of one results.json payload."""
    metrics = payload["metrics"]
    wanted = set(payload.get("headline") or [])
    chosen = [m for m in metrics if f"{m['group']}/{m['name']}" in wanted] if wanted else []
    if not chosen:
        chosen = [m for m in metrics if not m["group"]] or metrics[:8]
    rows = []
    for m in chosen:
        ci = f"[{_fmt(m['ci_low'])}, {_fmt(m['ci_high'])}]" if m.get("ci_low") is not None else ""
        baselines = ", ".join(f"{k} {_fmt(v)}" for k, v in (m.get("baselines") or {}).items())
        ref = m.get("reference") or {}
        rows.append({
            "model": payload["model"], "suite": payload["suite"], "data": payload["data"],
            "metric": f"{m['group']}/{m['name']}".strip("/"), "value": _fmt(m["value"]), "ci95": ci,
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
    return "\n".join(lines) + "\n"


def print_table(payloads: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="vlmaudit summary", show_lines=False)
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for payload in payloads:
        for row in headline_rows(payload):
            table.add_row(*(row[c] for c in COLUMNS))
    Console(width=200).print(table)
    flags = sorted({f for p in payloads for f in p.get("flags", [])})
    for flag in flags:
        Console().print(f"[yellow]flag:[/yellow] {flag}")
