"""results.json carries a schema version and reads back through one loader, old files included."""

from __future__ import annotations

import json

import pytest

from vlmaudit.atomic import json_default
from vlmaudit.errors import DataError
from vlmaudit.report.rundir import RunDirectory, read_results
from vlmaudit.results import SCHEMA_VERSION, Metric, SuiteResult

RESULT = SuiteResult(
    suite="spatial", model="toy:16", data="scenes", config={"n_sets": 3, "benchmarks": ("a", "b")},
    metrics=[Metric("pair", 0.5, 10, chance=0.25, ci_low=0.2, ci_high=0.8, group="mmvp-vlm",
                    baselines={"text_prior": 0.5}, reference={"value": 0.4, "source": "paper"}),
             Metric("pair", 0.6, 10, chance=0.25, group="mmvp-vlm", variant="legacy")],
    samples={"mmvp": [{"i": 0, "correct": 1.0}]}, flags=["reconstructed: x"], extra={"table": [[1, 2]]},
    data_fingerprint="f" * 32, seconds=1.25, headline=["mmvp-vlm/pair"],
)


def _version_1(payload: dict) -> dict:
    """What vlmaudit wrote before the schema had a version: the variant spelt in the metric name."""
    old = {k: v for k, v in payload.items() if k != "schema_version"}
    old["metrics"] = [{k: v for k, v in m.items() if k != "variant"} | {
        "name": m["name"] + (f"@{m['variant']}" if m["variant"] else "")} for m in payload["metrics"]]
    return old


def test_every_results_json_names_its_schema_version():
    """Catches results written without a version, which a later reader could not tell apart."""
    assert RESULT.to_json()["schema_version"] == SCHEMA_VERSION


def test_a_result_reads_back_equal_to_what_was_written():
    """Catches a loader that drops or renames a field (CI, baselines, reference, variant, headline)."""
    stored = json.loads(json.dumps(RESULT.to_json(), default=json_default))
    back = SuiteResult.from_json(stored, samples=RESULT.samples)
    assert back.metrics == RESULT.metrics
    assert back.to_json() == stored


def test_a_version_1_result_maps_the_legacy_suffix_to_the_variant_field():
    """Catches old results whose `pair@legacy` stays a metric name, so it no longer pairs with the
    new `pair` + variant="legacy" in tables and comparisons across runs."""
    old = _version_1(json.loads(json.dumps(RESULT.to_json(), default=json_default)))
    assert [m["name"] for m in old["metrics"]] == ["pair", "pair@legacy"]
    back = SuiteResult.from_json(old)
    assert [(m.name, m.variant) for m in back.metrics] == [("pair", ""), ("pair", "legacy")]
    assert back.metrics == RESULT.metrics


def test_a_newer_or_malformed_result_is_one_line_naming_the_file(tmp_path):
    """Catches a results.json from a newer vlmaudit read as if it were ours, and a KeyError
    traceback for a truncated one."""
    unit = RunDirectory(tmp_path / "run", resume=False).write_unit(RESULT, {})
    path = unit / "results.json"
    payload = json.loads(path.read_text())
    path.write_text(json.dumps(payload | {"schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(DataError, match=f"{path}.*schema_version {SCHEMA_VERSION + 1}"):
        read_results(unit)
    path.write_text(json.dumps({k: v for k, v in payload.items() if k != "metrics"}))
    with pytest.raises(DataError, match=f"{path}.*lacks 'metrics'"):
        read_results(unit)


def test_the_run_directory_loads_old_results_in_the_current_schema(tmp_path):
    """Catches a resumed run (which loads finished units) mixing old-style and new-style metrics."""
    rundir = RunDirectory(tmp_path / "run", resume=False)
    unit = rundir.write_unit(RESULT, {"finished": "then"})
    path = unit / "results.json"
    path.write_text(json.dumps(_version_1(json.loads(path.read_text()))))
    loaded = rundir.load("toy:16", "spatial", "scenes")
    assert loaded["schema_version"] == SCHEMA_VERSION
    assert [(m["name"], m["variant"]) for m in loaded["metrics"]] == [("pair", ""), ("pair", "legacy")]
    assert loaded["provenance"] == {"finished": "then"}
    assert loaded["samples"] == {"mmvp": "samples/mmvp.jsonl"}
