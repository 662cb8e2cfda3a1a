"""The markdown table every benchmark script prints (run them as `python benchmarks/<name>.py`)."""

from __future__ import annotations


def print_table(rows: list[tuple[str, ...]]) -> None:
    """Rows of strings, the first the header, as a markdown table with aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
