"""The self-contained HTML report of a run: content, no network, size, and what a real browser shows."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from markupsafe import escape
from PIL import Image

import fake_suite
import vlmaudit
from vlmaudit.registry import DATASETS, MODEL_BACKENDS, SUITES
from vlmaudit.report.html import _Thumbnails, load_unit, render_report
from vlmaudit.report.html.section import generic_outcome
from vlmaudit.report.table import headline_rows

SMALL = {"transforms": {"n_images": 8, "n_boot": 20}, "composition": {"n_boot": 20},
         "spatial": {"n_sets": 3, "n_groups": 4, "n_pairs": 4, "n_boot": 20},
         "alignment": {"n_images": 3, "steps": 5, "sweep": [4.0], "sweep_steps": 3, "examples": 2,
                       "n_boot": 20},
         "linearity": {"n_images": 2, "samples": 16, "sigmas": [0.01], "k": 2, "attack_steps": 5,
                       "detector_copies": 2, "n_boot": 20}}
CHROMIUM = shutil.which("chromium-headless-shell") or "/usr/bin/chromium-headless-shell"
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(), reason="chromium-headless-shell is not installed (make setup installs it)")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "run"
    vlmaudit.run(["builtin:scenes"], data=["scenes?n=20"], options=SMALL, cache_dir=None, progress=False,
                 out=out)
    return out


def _units(run: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(run.rglob("results.json"))]


def _browser(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120, check=True)


def test_run_writes_a_report_with_no_network_reference(small_run):
    """Catches a report that is not written by `run`, or that loads a script, font or style from a URL
    (a CDN link works on the author's machine and leaves a blank page offline)."""
    text = (small_run / "report.html").read_text()
    for needle in ("http://", "https://", "//cdn"):
        assert needle not in text
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"(?!data:|#)", text)


def test_every_headline_value_and_flag_is_in_the_report(small_run):
    """Catches a summary table that drops a unit's headline metric, its CI or its flags."""
    text = (small_run / "report.html").read_text()
    units = _units(small_run)
    assert {u["suite"] for u in units} == {"alignment", "composition", "linearity", "spatial", "transforms"}
    for unit in units:
        for row in headline_rows(unit):
            assert f"<td>{row['metric']}</td><td class=\"num\">{row['value']}</td>" in text
            assert row["ci95"] in text
        for flag in unit["flags"]:
            assert str(escape(flag)) in text


def test_alignment_and_linearity_sections_show_their_own_numbers(small_run):
    """Catches the alignment section dropping its budget sweep or attack settings (numbers the
    metrics table does not hold), and a linearity browser whose nested rows show no details."""
    text = (small_run / "report.html").read_text()
    by_suite = {u["suite"]: u for u in _units(small_run)}
    align = by_suite["alignment"]
    for group, rows in align["extra"]["sweep"].items():
        assert f"{group}: systematic accuracy against the L-inf budget" in text
        for r in rows:
            assert f'<td class="num">{r["accuracy"]:.4g}</td>' in text
    for settings in align["extra"]["attack"].values():
        assert f'<td class="num">steps</td><td class="num">{settings["steps"]}</td>' in text
    lin = by_suite["linearity"]
    (unit,) = small_run.glob("*/linearity/*/results.json")
    result, samples = load_unit(unit.parent)
    section = SUITES.get("linearity").report_section(result, samples)
    details = section["tables"][0]["rows"][0]["detail"]
    sigma = lin["config"]["sigmas"][0]
    for key in (f"sigma_{sigma:g}.relative_error", f"aligned_detector.{sigma:g}.flip_rate"):
        assert isinstance(details[key], int | float) and not isinstance(details[key], bool), key
    mean_error = sum(r[f"sigma_{sigma:g}"]["relative_error"] for r in samples[next(iter(samples))]) / len(
        samples[next(iter(samples))])
    assert f'<td class="num">{mean_error:.4g}</td>' in text


def test_report_size_and_figures_embedded(small_run):
    """Catches a report that grows past its budget (the default audit's must stay under 5 MB; this
    small run is ~0.5 MB) or loses the run's figures."""
    path = small_run / "report.html"
    assert path.stat().st_size < 1_500_000
    figures = [p for p in small_run.rglob("figures/*.png")]
    assert figures and path.read_text().count("data:image/png;base64,") == len(figures)


def test_older_run_without_stored_figures_still_gets_them(small_run, tmp_path):
    """Catches a report that shows only PNGs on disk: a run whose figures were never written (an
    older vlmaudit) must get them drawn from its stored results and samples."""
    copy = tmp_path / "old"
    shutil.copytree(small_run, copy)
    for unit in copy.rglob("results.json"):
        raw = json.loads(unit.read_text())
        unit.write_text(json.dumps(raw | {"figures": []}))
        shutil.rmtree(unit.parent / "figures", ignore_errors=True)
    assert render_report(copy).count("data:image/png;base64,") >= 3


def test_generic_outcome_rule():
    """Catches a failure browser that calls a tie correct, or misreads per-statement gold (MMVP)."""
    assert generic_outcome({"gold": 0, "scores": [0.9, 0.1]}) == "correct"
    assert generic_outcome({"gold": 0, "scores": [0.5, 0.5]}) == "tied"
    assert generic_outcome({"gold": 1, "scores": [0.9, 0.1]}) == "wrong"
    assert generic_outcome({"gold": [0, 1], "scores": [[0.9, 0.1], [0.2, 0.8]]}) == "correct"
    assert generic_outcome({"gold": [0, 1], "scores": [[0.9, 0.1], [0.8, 0.2]]}) == "wrong"
    assert generic_outcome({"exp1": 1.0, "exp1_tied": False}) == "correct"
    assert generic_outcome({"exp1": 0.0, "exp1_tied": True}) == "tied"
    assert generic_outcome({"options": ["a", "b"], "scores": [1, 2]}) == "unscored"


def test_thumbnails_only_for_readable_image_files(tmp_path):
    """Catches thumbnails tried on scene labels (not paths) or made past their cap."""
    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.new("RGB", (300, 200), (40 * i, 90, 200)).save(paths[-1])
    thumbs = _Thumbnails(cap=2)
    assert thumbs.add("scene(seed=1, index=0)") is None
    assert [thumbs.add(p) for p in paths] == [paths[0], paths[1], None]
    assert all(uri.startswith("data:image/jpeg;base64,") for uri in thumbs.made.values())


def test_a_failing_report_costs_one_line_not_the_run(tmp_path, monkeypatch, capsys):
    """Catches a report error that loses the results (or crashes the run): results come first."""
    MODEL_BACKENDS.register("toy", "toy:load")
    SUITES.register("fake", "fake_suite:SUITE")
    DATASETS.register("fake", "fake_suite:open_source")
    fake_suite.CALLS.clear()

    def broken(run_dir, out=None):
        raise RuntimeError("template exploded")

    monkeypatch.setattr("vlmaudit.report.html.write_report", broken)
    summary = vlmaudit.run(["toy:16"], ["fake"], out=tmp_path / "run", cache_dir=None, progress=False)
    assert (summary.out / "toy-16" / "fake" / "fake" / "results.json").is_file()
    assert (summary.out / "summary.json").is_file() and not (summary.out / "report.html").exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "template exploded" in err[0]


@needs_chromium
def test_browser_renders_numbers_screenshot_and_filter(small_run, tmp_path):
    """In headless Chromium: catches a page whose script fails (no rows drawn), a blank render, golden
    numbers missing from the DOM, and a failure-browser filter (from the URL hash) that shows the
    same rows as no filter."""
    report = small_run / "report.html"
    url = report.resolve().as_uri()
    dom = _browser("--dump-dom", url, tmp_path=tmp_path).stdout
    composition = next(u for u in _units(small_run) if u["suite"] == "composition")
    for row in headline_rows(composition):
        assert row["value"] in dom
    everything = re.findall(r'class="outcome (correct|tied|wrong|unscored)"', dom)
    assert "correct" in everything and "wrong" in everything  # rows were drawn by the script
    wrong_dom = _browser("--dump-dom", url + "#filter=outcome:wrong", tmp_path=tmp_path).stdout
    wrong = re.findall(r'class="outcome (correct|tied|wrong|unscored)"', wrong_dom)
    assert wrong and set(wrong) == {"wrong"} and len(wrong) < len(everything)

    shot = tmp_path / "shot.png"
    _browser(f"--screenshot={shot}", "--window-size=1200,900", "--hide-scrollbars", url, tmp_path=tmp_path)
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 900)
    assert len(image.getcolors(maxcolors=1 << 20)) > 50  # text, table borders, flag badges: not blank


def test_report_command_writes_the_named_file(small_run, tmp_path):
    """Catches `vlmaudit report -o` writing somewhere else or not at all."""
    from click.testing import CliRunner

    from vlmaudit.cli import cli

    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", str(small_run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"report: {out}" in result.output and "Failure browser" in out.read_text()


def test_every_stored_spatial_and_composition_row_gets_an_outcome(small_run):
    """Catches What'sUp and Winoground rows shown as "unscored" (their rows stored no outcome), and a
    browser outcome that disagrees with the suite's own per-item outcome."""
    for unit in small_run.rglob("results.json"):
        payload = json.loads(unit.read_text())
        if payload["suite"] == "linearity":  # per-image measurements, no decision: unscored by design
            continue
        for table, rel in payload["samples"].items():
            rows = [json.loads(line) for line in (unit.parent / rel).read_text().splitlines()]
            outcomes = [generic_outcome(row) for row in rows]
            assert "unscored" not in outcomes, (payload["suite"], table)
            for row, outcome in zip(rows, outcomes, strict=True):
                for field in ("individual", "group_correct", "pair", "accuracy", "aug_accuracy"):
                    if field in row and isinstance(row[field], float) and not row.get("tied"):
                        assert (outcome == "correct") == (row[field] == 1.0), (table, field)
                        break
