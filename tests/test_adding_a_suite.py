"""docs/adding_a_suite.md, followed: a suite in its own folder is discovered and runs end to end.

Catches: a registry that needs a hand-kept list (the example package is found by the scan alone),
a summary or default-audit rank read wrong from `__init__`, a base class that drops the model,
data, fingerprint or hackable flags from the result, and a runner that plans by format strings
instead of item types.
"""

from __future__ import annotations

import json

import pytest

import vlmaudit
from vlmaudit.registry import DATASETS, SUITES, Registry, discover_suites


def test_the_example_folder_is_discovered_with_its_summary_and_rank():
    registry = Registry("suites")
    discover_suites(registry, "example_suites")
    (entry,) = registry.entries()
    assert entry.name == "colour_names" and entry.target == "example_suites.colour_names.suite:SUITE"
    assert entry.summary.startswith("Colour names: can the model name")
    assert entry.default_rank == 9
    assert registry.get("colour_names").name == "colour_names"


def test_the_example_suite_runs_end_to_end(tmp_path, monkeypatch):
    discover_suites(SUITES, "example_suites")
    DATASETS.register("fake", "fake_suite:open_source")
    from vlmaudit.registry import MODEL_BACKENDS

    MODEL_BACKENDS.register("toy", "toy:load")
    summary = vlmaudit.run(["toy:32"], ["colour_names"], out=tmp_path / "run", cache_dir=None, progress=False)
    (unit,) = summary.units
    assert unit["suite"] == "colour_names" and unit["model"] == "toy:32" and unit["data"] == "fake"
    assert unit["data_fingerprint"] and unit["seconds"] > 0
    (metric,) = unit["metrics"]
    assert metric["chance"] == pytest.approx(1 / 4) and metric["n"] == 4
    assert set(metric["baselines"]) == {"length_shorter", "length_longer", "text_prior"}
    stored = json.loads(next((tmp_path / "run").rglob("results.json")).read_text())
    assert stored["headline"] == ["fake/accuracy"] and stored["config"]["tie_policy"] == "strict"
