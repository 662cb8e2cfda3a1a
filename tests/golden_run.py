"""Golden runs: every metric's value, CI, tie rate, chance, n and blind baselines of an audit,
stored and compared exactly (open_clip's regression-test style).

The stored files were last rewritten at one thread when alignment and linearity joined the
default audit (commit bc411d3); a refactor that moves code must leave them unchanged. Regenerate
only for a change that is meant to move a number, and say which numbers moved and why in the
commit:

    VLMAUDIT_UPDATE_GOLDEN=1 OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_golden.py

At one intra-op thread, as `make test` runs: a float reduction's last bits can depend on the
thread count (alignment and linearity iterate on gradients, so one ulp early can move a step).
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

GOLDEN_DIR = Path(__file__).parent / "golden"
# metrics that time the run (alignment's seconds per image): real numbers, but not reproducible ones
WALL_CLOCK = {"seconds"}
FIELDS = ("value", "n", "chance", "ci_low", "ci_high", "tie_rate", "baselines")

# A small audit: the default suites on few scenes, sizes set explicitly so that the items stay the
# same whatever the suites derive from the source's n.
SMALL_AUDIT: dict[str, Any] = {
    "models": ["builtin:scenes"],
    "data": ["scenes?n=40"],
    "options": {
        "transforms": {"n_images": 40, "n_boot": 200},
        "composition": {"n_boot": 200},
        "spatial": {"n_sets": 10, "n_groups": 16, "n_pairs": 16, "n_prior": 16, "n_boot": 200},
        "alignment": {"n_images": 6, "steps": 20, "sweep": [2.0, 8.0], "sweep_steps": 10, "n_boot": 200},
        "linearity": {"n_images": 4, "samples": 40, "sigmas": [0.01, 0.1], "k": 4, "attack_steps": 20,
                      "detector_copies": 4, "n_boot": 200},
    },
}


# The generative models on the suites that audit them: few images for transforms (K x K options per
# image, each a decoder pass), both likelihood normalisations and the [CLS]-only ablation.
SMALL_GENERATIVE: dict[str, Any] = {
    "models": ["builtin:scenes-gen", "builtin:scenes-gen?normalize=mean", "builtin:scenes-gen-cls"],
    "suites": ["composition", "spatial", "transforms"],
    "data": ["scenes?n=40"],
    "options": {
        "transforms": {"n_images": 8, "n_boot": 200},
        "composition": {"n_boot": 200},
        "spatial": {"n_sets": 10, "n_groups": 16, "n_pairs": 16, "n_prior": 16, "n_boot": 200},
    },
}


def metric_key(metric: dict[str, Any]) -> str:
    """group/name, plus the tie-policy variant when the result names it as a field."""
    variant = metric.get("variant") or ""
    suffix = f"@{variant}" if variant and not metric["name"].endswith(f"@{variant}") else ""
    return f"{metric['group']}/{metric['name']}{suffix}"


def digest(units: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """unit "model|suite|data" -> metric key -> the fields a number's reader sees."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for unit in units:
        table = out.setdefault(f"{unit['model']}|{unit['suite']}|{unit['data']}", {})
        for metric in unit["metrics"]:
            if metric["name"].split("/")[-1] in WALL_CLOCK:
                continue
            key = metric_key(metric)
            assert key not in table, f"duplicate metric {key} in {unit['suite']}"
            table[key] = {f: metric.get(f) for f in FIELDS}
    return out


def compare(name: str, units: list[dict[str, Any]], suite: str | None = None) -> None:
    """Exact comparison with the stored golden file (or rewrite it when asked).

    With `suite`, only that suite's units are compared (and rewritten): the default audit's
    units are independent, so one test per suite checks the same numbers without one long pole.
    """
    path = GOLDEN_DIR / f"{name}.json"
    got = json.loads(json.dumps(digest(units)))  # the JSON round trip the results go through
    mine = (lambda unit: unit.split("|")[1] == suite) if suite else (lambda unit: True)
    if os.environ.get("VLMAUDIT_UPDATE_GOLDEN") == "1":
        lock = os.open(GOLDEN_DIR, os.O_RDONLY)  # xdist workers merge into one file, one at a time
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            stored = json.loads(path.read_text()) if path.is_file() else {}
            merged = {k: v for k, v in stored.items() if not mine(k)} | got
            path.write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n")
        finally:
            os.close(lock)
        return
    stored = json.loads(path.read_text())
    want = {k: v for k, v in stored.items() if mine(k)}
    assert sorted(got) == sorted(want), f"units differ: {sorted(got)} vs {sorted(want)}"
    problems = []
    for unit, metrics in want.items():
        missing = sorted(set(metrics) - set(got[unit]))
        extra = sorted(set(got[unit]) - set(metrics))
        if missing or extra:
            problems.append(f"{unit}: missing {missing[:5]} extra {extra[:5]}")
        for key in sorted(set(metrics) & set(got[unit])):
            for field, value in metrics[key].items():
                if got[unit][key][field] != value:
                    problems.append(f"{unit} {key}.{field}: golden {value!r}, now {got[unit][key][field]!r}")
    assert not problems, f"{len(problems)} differences from {path.name}:\n" + "\n".join(problems[:40])
