"""Runs side by side on the items they share, with a paired bootstrap CI of each difference.

A side is a run directory, a unit directory, or one model of a run. Units of two sides meet
on (suite, data). A metric is paired when its per-item outcomes can be read from a sample table
(a numeric field whose mean over the table's rows is the stored value, `item_outcomes`) on both
sides: rows are matched by a stable item key (`item_key`), and the difference is resampled on
the shared items, the same draw for both sides, by image cluster where rows share an image.
Two models scored on the same items are positively correlated, so the paired interval is the
narrower, honest one. Any other metric gets the unpaired difference of the stored values and a
flag saying so.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vlmaudit.errors import DataError
from vlmaudit.metrics.bootstrap import _percentile, _resampled_means, bootstrap_ci
from vlmaudit.report.html import load_unit, unit_dirs
from vlmaudit.report.rundir import _read_json
from vlmaudit.results import metric_key

# Row fields that identify an item across runs (the image, the options it chose between).
KEY_FIELDS = ("item_id", "id", "qids", "image_key", "image", "images", "transform", "options", "captions",
              "texts", "caption")
CLUSTER_FIELDS = ("image_key", "image")
TOLERANCE = 1e-9  # a field reproduces a metric when its mean is the stored value to float precision


@dataclass
class Side:
    label: str
    units: dict[tuple[str, str], Path]  # (suite, data) -> unit directory


@dataclass
class Difference:
    metric: str
    suite: str
    data: str
    values: list[float]  # per side, on the shared items when paired (the stored values otherwise)
    diffs: list[float | None]  # side i minus side 0
    ci: list[tuple[float, float] | None]
    n: int  # shared items (paired) or the first side's n
    paired: bool
    winner: list[str]  # per side i > 0: its label, side 0's label, or "neither" (CI holds 0)
    higher_is_better: bool = True
    flags: list[str] = field(default_factory=list)


def sides_of(paths: list[str | Path]) -> list[Side]:
    """Sides from paths, each a run or a unit; a run of several models gives one side per model."""
    sides = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise DataError(f"{path} is not a run or unit directory")
        units = [path] if (path / "results.json").is_file() else unit_dirs(path)
        if not units:
            raise DataError(f"{path} holds no finished unit (no results.json under it)")
        by_model: dict[str, dict[tuple[str, str], Path]] = {}
        for unit in units:
            raw = _read_json(unit / "results.json")
            by_model.setdefault(raw["model"], {})[(raw["suite"], raw["data"])] = unit
        for model, found in by_model.items():
            label = f"{path.name}:{model}" if len(by_model) > 1 else path.name
            sides.append(Side(label, found))
    if len(sides) < 2:
        raise DataError("compare needs two or more sides (runs, units, or one run with two models)")
    counts = Counter(s.label for s in sides)
    for i, side in enumerate(sides):  # the same run given twice: still two named sides
        if counts[side.label] > 1:
            side.label = f"{side.label}#{i + 1}"
    return sides


def item_key(row: dict[str, Any]) -> str:
    return json.dumps([row.get(f) for f in KEY_FIELDS], default=str)


def keyed(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Rows by item key; the k-th repeat of a key is its own item (`key#k`), so matching stays one to one."""
    seen: Counter[str] = Counter()
    out = {}
    for row in rows:
        key = item_key(row)
        out[f"{key}#{seen[key]}"] = row
        seen[key] += 1
    return out


def item_outcomes(metric: dict[str, Any], samples: dict[str, list[dict]]) -> tuple[str, str] | None:
    """(table, field) whose per-row values average to the metric's stored value, or None.

    Where a sample table is named by the metric's group, only that table counts, with the field
    named by the metric (`accuracy`, `individual`) or that name with `_correct` (Winoground's
    `text_correct`, since `image` names the images). Otherwise (transforms' one `trials` table) a
    field named by the key's tail with `/` as `_`, a trailing `_accuracy` dropped: `exp1` for
    `exp1/accuracy`, `exp2_wrong` for `control/exp2_wrong/accuracy` — never the bare metric name,
    which many tables share. A field counts only when its n and mean are the stored ones; a metric
    with no such field is compared unpaired.
    """
    if metric.get("variant"):
        return None
    name = metric["name"]
    if metric["group"] in samples:
        candidates = [(metric["group"], column) for column in (name, f"{name}_correct")]
    else:
        parts = metric_key(metric["group"], name).split("/")
        flats = ["_".join(parts[i:]) for i in range(len(parts) - 1)]  # not the bare name
        fields = dict.fromkeys(f for flat in flats for f in (flat, flat.removesuffix(f"_{name}")))
        candidates = [(table, column) for table in samples for column in fields if column != name]
    for table, column in candidates:
        values = _column(samples[table], column)
        if values is not None and values.size == metric["n"] and \
                abs(float(values.mean()) - metric["value"]) <= TOLERANCE:
            return table, column
    return None


def _column(rows: list[dict[str, Any]], name: str) -> np.ndarray | None:
    """The field's non-null numeric values over the rows, or None when it is not such a field."""
    values = [row.get(name) for row in rows]
    numbers = [v for v in values if v is not None]
    if not numbers or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
        return None
    return np.asarray(numbers, dtype=np.float64)


def paired_difference(a: np.ndarray, b: np.ndarray, clusters: np.ndarray | None = None, n_boot: int = 1000,
                      seed: int = 0) -> tuple[float, tuple[float, float]]:
    """mean(b - a) and its percentile CI, resampling the same items (or clusters) for both sides."""
    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    return float(d.mean()), bootstrap_ci(d, clusters, n_boot=n_boot, seed=seed)


def unpaired_difference(a: np.ndarray, b: np.ndarray, n_boot: int = 1000,
                        seed: int = 0) -> tuple[float, tuple[float, float]]:
    """mean(b) - mean(a) and its CI from independent resamples of each side (items not matched)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws_a = _resampled_means(a, np.ones(a.size, dtype=np.int64), n_boot, rng)
    draws_b = _resampled_means(b, np.ones(b.size, dtype=np.int64), n_boot, rng)
    return float(b.mean() - a.mean()), _percentile(draws_b - draws_a, 0.95)


def compare(sides: list[Side], n_boot: int = 1000, seed: int = 0, headline_only: bool = False,
            ) -> list[Difference]:
    """Every metric (or headline metric) of every (suite, data) the sides share: side i against side 0."""
    shared = [k for k in sides[0].units if all(k in s.units for s in sides[1:])]
    if not shared:
        raise DataError("the sides share no (suite, data) unit: nothing to compare")
    out = []
    for suite, data in shared:
        loaded = [load_unit(s.units[(suite, data)]) for s in sides]
        metrics = [{metric_key(m["group"], m["name"], m.get("variant") or ""): m for m in r["metrics"]}
                   for r, _ in loaded]
        headline = loaded[0][0].get("headline") or []
        order = [k for k in headline if k in metrics[0]]
        order += [] if headline_only and order else [k for k in metrics[0] if k not in headline]
        for key in order:
            if all(key in m for m in metrics[1:]):
                out.append(_difference(key, suite, data, [m[key] for m in metrics],
                                       [s for _, s in loaded], [s.label for s in sides], n_boot, seed))
    return out


def _difference(key: str, suite: str, data: str, metrics: list[dict], samples: list[dict], labels: list[str],
                n_boot: int, seed: int) -> Difference:
    sources = [item_outcomes(m, s) for m, s in zip(metrics, samples, strict=True)]
    higher = metrics[0].get("higher_is_better", True)
    values = [float(m["value"]) for m in metrics]
    if not all(src is not None and src == sources[0] for src in sources):
        why = "unpaired: this metric's per-item outcomes are not in the samples; no CI of the difference"
        return Difference(key, suite, data, values, [None] + [v - values[0] for v in values[1:]],
                          [None] * len(values), int(metrics[0]["n"]), False,
                          ["unknown"] * (len(values) - 1), higher, [why])
    table, name = sources[0]
    tables = [keyed([r for r in s[table] if r.get(name) is not None]) for s in samples]
    common = [k for k in tables[0] if all(k in t for t in tables[1:])]
    diffs: list[float | None] = [None]
    cis: list[tuple[float, float] | None] = [None]
    if not common:  # the same metric on different items: independent resamples of each side
        cols = [np.array([r[name] for r in t.values()], dtype=np.float64) for t in tables]
        for col in cols[1:]:
            d, ci = unpaired_difference(cols[0], col, n_boot, seed)
            diffs.append(d)
            cis.append(ci)
        return Difference(key, suite, data, values, diffs, cis, int(metrics[0]["n"]), False,
                          _winners(diffs, cis, labels, higher), higher,
                          ["unpaired: the sides share no item; CI from independent resamples"])
    cols = [np.array([t[k][name] for k in common], dtype=np.float64) for t in tables]
    clusters = _clusters([tables[0][k] for k in common])
    for col in cols[1:]:
        d, ci = paired_difference(cols[0], col, clusters, n_boot, seed)
        diffs.append(d)
        cis.append(ci)
    flags = []
    if len(common) < len(tables[0]):
        flags.append(f"paired on the {len(common)} of {len(tables[0])} items both sides have")
    if clusters is not None:
        flags.append("clustered by image")
    return Difference(key, suite, data, [float(c.mean()) for c in cols], diffs, cis, len(common), True,
                      _winners(diffs, cis, labels, higher), higher, flags)


def _clusters(rows: list[dict[str, Any]]) -> np.ndarray | None:
    """Image keys when rows share images (trials of one image are not independent), else None."""
    for name in CLUSTER_FIELDS:
        keys = [json.dumps(r.get(name), default=str) for r in rows]
        distinct = len(set(keys))
        if all(name in r for r in rows) and 1 < distinct < len(keys):
            return np.asarray(keys)
    return None


def _winners(diffs: list[float | None], cis: list, labels: list[str], higher: bool) -> list[str]:
    """Per side i > 0: who is better where the CI of the difference excludes 0, else "neither"."""
    out = []
    for label, d, ci in zip(labels[1:], diffs[1:], cis[1:], strict=True):
        if ci is None or d is None or ci[0] <= 0 <= ci[1]:
            out.append("neither")
        else:
            out.append(label if (d > 0) == higher else labels[0])
    return out


def _fmt_ci(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


def rows_of(sides: list[Side], differences: list[Difference]) -> list[dict[str, Any]]:
    """Display rows: one per (metric, side i > 0), values of both sides, difference, CI, winner."""
    rows = []
    for d in differences:
        for i in range(1, len(sides)):
            rows.append({
                "unit": f"{d.suite} / {d.data}", "metric": d.metric, "a": sides[0].label, "b": sides[i].label,
                "value_a": f"{d.values[0]:.3f}", "value_b": f"{d.values[i]:.3f}",
                "diff": "" if d.diffs[i] is None else f"{d.diffs[i]:+.3f}", "ci": _fmt_ci(d.ci[i]),
                "n": str(d.n), "paired": "paired" if d.paired else "unpaired", "winner": d.winner[i - 1],
                "flags": "; ".join(d.flags),
            })
    return rows


COLUMNS = ("unit", "metric", "value_a", "value_b", "diff", "ci", "n", "paired", "winner")


def print_differences(sides: list[Side], differences: list[Difference]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    others = ", ".join(s.label for s in sides[1:])
    title = f"b - a, 95% bootstrap CI; a = {sides[0].label}; b = {others}"
    table = Table(title=title, title_justify="left")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("unit", "metric", "winner") else "right")
    for row in rows_of(sides, differences):
        table.add_row(*(row[c] for c in COLUMNS))
    console.print(table)


def render_compare_html(sides: list[Side], differences: list[Difference]) -> str:
    from vlmaudit.report.html import FLAG_KINDS, _environment
    from vlmaudit.report.provenance import now

    return _environment().get_template("compare.html.j2").render(
        sides=sides, rows=rows_of(sides, differences), generated=now(), flag_kinds=FLAG_KINDS)


def write_compare_html(sides: list[Side], differences: list[Difference], out: str | Path) -> Path:
    from vlmaudit.atomic import write_text_atomic

    write_text_atomic(Path(out), render_compare_html(sides, differences))
    return Path(out)
