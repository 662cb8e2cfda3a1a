"""The runner end to end with a fake suite: files, provenance, atomicity, resume."""

from __future__ import annotations

import json

import pytest

import fake_suite
from vlmaudit.errors import SpecError, VlmauditError
from vlmaudit.runner import run


@pytest.fixture(autouse=True)
def _fakes(fakes_registered):
    """Every test here runs with the toy backend and the fake suite registered."""


def test_run_writes_results_samples_figures_and_provenance(tmp_path):
    summary = run(["toy:16"], ["fake"], out=tmp_path / "run", cache_dir=None, progress=False)
    unit = tmp_path / "run" / "toy-16" / "fake" / "fake"
    payload = json.loads((unit / "results.json").read_text())
    assert payload["metrics"][0]["name"] == "accuracy"
    assert payload["metrics"][0]["chance"] == pytest.approx(0.25)
    prov = payload["provenance"]
    assert prov["model"]["spec"] == "toy:bow-16-0"
    assert prov["data"]["fingerprint"]
    assert prov["libraries"]["torch"]
    assert (unit / payload["samples"]["trials"]).read_text().count("\n") == 4
    assert (unit / payload["figures"][0]).stat().st_size > 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["complete"] is True
    assert len(summary.units) == 1


def test_crash_leaves_no_complete_looking_result(tmp_path):
    with pytest.raises(RuntimeError, match="half-way"):
        run(["toy:16"], ["fake"], out=tmp_path / "run", cache_dir=None, progress=False,
            options={"fake": {"fail": "true"}})
    assert not list((tmp_path / "run").rglob("results.json"))
    assert not (tmp_path / "run" / "summary.json").exists()
    assert not [p for p in (tmp_path / "run").rglob("*") if ".tmp" in p.name]


def test_resume_skips_finished_units_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "run"
    run(["toy:16"], ["fake"], out=out, cache_dir=None, progress=False)
    with pytest.raises(VlmauditError, match="not empty"):
        run(["toy:16"], ["fake"], out=out, cache_dir=None, progress=False)
    summary = run(["toy:16", "toy:8"], ["fake"], out=out, cache_dir=None, progress=False, resume=True)
    assert fake_suite.CALLS == ["fake", "fake"]  # first run, then only the new model
    assert [u["model"] for u in summary.units] == ["toy:16", "toy:8"]


def test_unknown_suite_option_and_spec_errors(tmp_path):
    with pytest.raises(SpecError, match=r"unknown option\(s\) \['nope'\] for suite fake"):
        run(["toy:16"], ["fake"], out=tmp_path / "a", cache_dir=None, options={"fake": {"nope": "1"}})
    with pytest.raises(SpecError, match="unknown suites"):
        run(["toy:16"], ["nope"], out=tmp_path / "b", cache_dir=None)
    with pytest.raises(SpecError, match="BACKEND:NAME"):
        run(["just-a-name"], ["fake"], out=tmp_path / "c", cache_dir=None)


def test_one_dataset_spelt_twice_is_one_unit(tmp_path):
    summary = run(["toy:16"], ["fake"], ["fake?a=1&b=2", "fake?b=2&a=1", "fake?a=2&b=2"],
                  out=tmp_path / "run", cache_dir=None, progress=False)
    assert [u["data"] for u in summary.units] == ["fake?a=1&b=2", "fake?a=2&b=2"]


def test_a_bad_suite_option_stops_the_run_before_its_directory_exists(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(SpecError, match="n must be >= 1"):
        run(["toy:16"], ["fake"], out=out, cache_dir=None, options={"fake": {"n": "0"}})
    assert not out.exists()
    run(["toy:16"], ["fake"], out=out, cache_dir=None, progress=False)  # the same --out, corrected
    assert fake_suite.CALLS == ["fake"]


@pytest.mark.parametrize("suite, option", [
    ("transforms", {"tie_policy": "nope"}),
    ("transforms", {"template": "{caption} only"}),
    ("composition", {"benchmarks": "nope"}),
    ("composition", {"tie_policy": "nope"}),
    ("spatial", {"score_dtype": "fp8"}),
    ("spatial", {"n_sets": "-1"}),
])
def test_builtin_suites_check_their_options_before_any_file_is_written(tmp_path, suite, option):
    out = tmp_path / "run"
    (key,) = option
    with pytest.raises(SpecError, match=key):  # the error names the option at fault
        run(["toy:16"], [suite], out=out, cache_dir=None, options={suite: option})
    assert not out.exists()


def test_cli_takes_suites_positionally_and_writes_summary(tmp_path):
    from click.testing import CliRunner

    from vlmaudit.cli import cli

    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", "--model", "toy:16", "--suite", "fake", "fake",
                                       "--out", str(out), "--cache-dir", "none", "--quiet"])
    assert result.exit_code == 0, result.output
    assert fake_suite.CALLS == ["fake"]  # named twice, run once
    assert "toy:bow-16-0 / fake" in result.output or "toy:16 / fake" in result.output
    summary = (out / "summary.md").read_text()
    assert summary.count("| toy:16 | fake |") == 1
    assert json.loads((out / "summary.json").read_text())["complete"] is True


def test_best_blind_ignores_item_fractions():
    from vlmaudit.report.table import strongest_blind

    scores = {"length_shorter": 0.3, "bow_equivalent": 1.0, "text_prior": 0.6}
    assert strongest_blind(scores) == "text_prior 0.600"
    assert strongest_blind({"bow_equivalent": 1.0}) == ""
    assert strongest_blind(None) == ""


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path):
    from vlmaudit.atomic import atomic_path, write_json_atomic

    target = tmp_path / "results.json"
    write_json_atomic(target, {"complete": True})
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text('{"compl')
        raise KeyboardInterrupt
    assert json.loads(target.read_text()) == {"complete": True}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_unit_folder_names_never_collide_for_long_specs():
    from vlmaudit.report.rundir import slug

    base = "sugarcrepe:/" + "very/long/path/" * 8 + "?images=/x&subsets="
    names = {slug(base + s) for s in ("swap_att", "swap_obj")}
    assert len(names) == 2 and all(len(n) <= 80 for n in names)
    assert slug("hf:openai/clip") == "hf-openai-clip"  # short names stay readable and unhashed


def test_bare_resume_continues_the_run_as_configured(tmp_path):
    from click.testing import CliRunner

    from vlmaudit.cli import cli

    out = tmp_path / "run"
    first = CliRunner().invoke(cli, ["run", "fake", "--model", "toy:16", "--model", "toy:8",
                                     "--out", str(out), "--option", "fake.n=3", "--dtype", "bf16",
                                     "--seed", "5", "--cache-dir", "none", "--quiet"])
    assert first.exit_code == 0, first.output
    (out / "toy-8" / "fake" / "fake" / "results.json").unlink()  # as if interrupted before the 2nd unit
    fake_suite.CALLS.clear()
    resumed = CliRunner().invoke(cli, ["run", "--out", str(out), "--resume", "--cache-dir", "none",
                                       "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    assert fake_suite.CALLS == ["fake"]  # only the missing unit, not every suite on default data
    config = json.loads((out / "config.json").read_text())
    assert (config["models"], config["dtype"], config["seed"]) == (["toy:16", "toy:8"], "bf16", 5)
    assert config["suite_configs"]["fake"]["n"] == 3
    assert len(json.loads((out / "summary.json").read_text())["units"]) == 2


def test_resume_with_a_new_model_extends_the_run_and_keeps_its_settings(tmp_path):
    out = tmp_path / "run"
    run(["toy:16"], ["fake"], out=out, cache_dir=None, progress=False, options={"fake": {"n": "3"}})
    fake_suite.CALLS.clear()
    summary = run(["toy:8"], out=out, cache_dir=None, progress=False, resume=True)
    assert fake_suite.CALLS == ["fake"]  # only the new model's unit, with the stored n=3
    assert [u["model"] for u in summary.units] == ["toy:16", "toy:8"]
    assert summary.units[1]["config"]["n"] == 3
    config = json.loads((out / "config.json").read_text())
    assert config["models"] == ["toy:16", "toy:8"] and config["suites"] == ["fake"]
    assert len(json.loads((out / "summary.json").read_text())["units"]) == 2


def test_resume_with_other_settings_is_refused_not_mixed(tmp_path):
    out = tmp_path / "run"
    run(["toy:16"], ["fake"], out=out, cache_dir=None, progress=False, options={"fake": {"n": "3"}})
    with pytest.raises(SpecError, match=r"fake.n 3 -> 4"):
        run(["toy:16"], ["fake"], out=out, cache_dir=None, progress=False, resume=True,
            options={"fake": {"n": "4"}})
    with pytest.raises(SpecError, match="dtype 'fp32' -> 'bf16'"):
        run(["toy:16"], ["fake"], out=out, cache_dir=None, progress=False, resume=True, dtype="bf16",
            options={"fake": {"n": "3"}})


@pytest.mark.parametrize(("args", "message"), [
    (["--out", "{file}"], "is a file"),
    (["--cache-dir", "{file}"], "cache dir"),
    (["--batch-size", "0"], "--batch-size"),
])
def test_unusable_out_cache_dir_or_batch_size_is_one_line(tmp_path, args, message):
    from click.testing import CliRunner

    from vlmaudit.cli import cli

    afile = tmp_path / "afile"
    afile.write_text("")
    args = [a.replace("{file}", str(afile)) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "run")]
    result = CliRunner().invoke(cli, ["run", "fake", "--model", "toy:16", "--quiet", *args])
    shown = result.output + (str(result.exception) if isinstance(result.exception, VlmauditError) else "")
    assert result.exit_code != 0 and message in shown, (result.output, result.exception)


def test_suites_the_data_does_not_fit_are_reported_as_skipped(tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from vlmaudit.cli import cli

    for k, colour in enumerate(["red", "blue"]):
        Image.new("RGB", (16, 16), colour).save(tmp_path / f"{k}.png")
    (tmp_path / "m.csv").write_text("image,caption\n0.png,a red square\n1.png,a blue square\n")
    # no suite named, so every suite: the ones a caption manifest does not fit are skipped, visibly
    result = CliRunner().invoke(cli, ["run", "--data", str(tmp_path / "m.csv"), "--out", str(tmp_path / "b"),
                                      "--option", "transforms.n_boot=10", "--cache-dir", "none", "--quiet"])
    assert result.exit_code == 0, result.output
    skipped = ["composition", "spatial", "alignment", "linearity"]  # choices / pairs / labelled images
    assert all(f"skipped: {name}" in result.output for name in skipped)
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["skipped_suites"] == skipped
    # named suites that do not fit are an error, not a skip (fake data has labelled images only)
    with pytest.raises(SpecError, match="needs CaptionChoice items, but the data given is fake"):
        run(["toy:16"], ["composition"], ["fake"], out=tmp_path / "c", cache_dir=None, progress=False)
    assert not (tmp_path / "c").exists()


def test_printed_flags_name_their_units_when_not_shared(capsys):
    from vlmaudit.report.table import print_table

    def payload(model: str, flags: list[str]) -> dict:
        return {"model": model, "suite": "transforms", "data": "scenes", "metrics": [], "flags": flags}

    print_table([payload("hf:a", ["shared", "squashes [stretch]"]), payload("hf:b", ["shared"])])
    out = capsys.readouterr().out
    assert "flag: shared\n" in out
    assert "flag: squashes [stretch] [hf:a / transforms / scenes]" in out  # brackets kept, owner named


def test_a_run_that_failed_before_any_unit_resumes_with_corrected_options(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="half-way"):
        run(["toy:16"], ["fake"], out=out, cache_dir=None, progress=False, options={"fake": {"fail": "true"}})
    summary = run(["toy:16"], ["fake"], out=out, cache_dir=None, progress=False, resume=True)
    assert len(summary.units) == 1


def test_an_unwritable_output_path_is_one_line_with_exit_code_2(tmp_path):
    import subprocess
    import sys

    blocker = tmp_path / "file"
    blocker.write_text("")
    done = subprocess.run([sys.executable, "-c", "from vlmaudit.cli import main; main()", "data", "export",
                           "scenes", "--n", "1", "--out", str(blocker / "sub")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and str(blocker) in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr


def test_the_python_api_and_the_cli_resume_the_same_run_alike(tmp_path):
    """Catches `vlmaudit.run(out=..., resume=True)` refusing a resume the CLI accepts: the API filled
    dtype/seed it was not given with the defaults (fp32, 0), not the stored run's, and then refused
    that 'change'; only the CLI read them from config.json."""
    from click.testing import CliRunner

    from vlmaudit.cli import cli

    configs = {}
    for via in ("api", "cli"):
        out = tmp_path / via
        run(["toy:16", "toy:8"], ["fake"], out=out, cache_dir=None, progress=False, dtype="bf16", seed=5,
            batch_size=7, options={"fake": {"n": "3"}})
        (out / "toy-8" / "fake" / "fake" / "results.json").unlink()  # interrupted before the 2nd unit
        fake_suite.CALLS.clear()
        if via == "api":
            run(out=out, resume=True, cache_dir=None, progress=False)
        else:
            args = ["run", "--out", str(out), "--resume", "--cache-dir", "none", "--quiet"]
            done = CliRunner().invoke(cli, args)
            assert done.exit_code == 0, done.output
        assert fake_suite.CALLS == ["fake"], via  # only the missing unit
        configs[via] = json.loads((out / "config.json").read_text())
    assert configs["api"] == configs["cli"]
    assert (configs["api"]["dtype"], configs["api"]["seed"], configs["api"]["batch_size"]) == ("bf16", 5, 7)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"seed": 6}, "seed 5 -> 6"),
    ({"options": {"fake": {"seed": "6"}}}, "fake.seed 5 -> 6"),
])
def test_resume_with_a_changed_seed_is_refused(tmp_path, kwargs, message):
    """Catches a resume that accepts another seed: finished units (bootstrap CIs, sampled items)
    would be kept beside new ones drawn from a different seed, in one run that claims one seed."""
    out = tmp_path / "run"
    run(["toy:16"], ["fake"], out=out, cache_dir=None, progress=False, seed=5)
    with pytest.raises(SpecError, match=message):
        run(["toy:8"], out=out, cache_dir=None, progress=False, resume=True, **kwargs)
    assert fake_suite.CALLS == ["fake"]


def test_resume_on_data_that_changed_since_its_units_finished_is_refused(tmp_path, monkeypatch):
    """Catches a resume that keeps units computed on other data under the same --data text (files
    edited, a new scene generator): the fingerprint stored with each finished unit must still match."""
    out = tmp_path / "run"
    run(["toy:16"], ["fake"], out=out, cache_dir=None, progress=False)
    monkeypatch.setattr(fake_suite.FakeSource, "fingerprint", lambda self: "0" * 32)
    with pytest.raises(SpecError, match=r"data 'fake' fingerprint \w{8} -> 00000000"):
        run(["toy:8"], out=out, cache_dir=None, progress=False, resume=True)


def test_a_full_disk_during_a_run_is_one_line_naming_the_file_and_leaves_no_unit(tmp_path, monkeypatch,
                                                                                  capsys):
    """Catches the OSError traceback a full disk gave from the samples writer (write() names no
    file), and a half-written unit left behind that a resume would take as done."""
    from pathlib import Path

    from vlmaudit.cli import main

    real_open = Path.open

    def full_disk(self, mode="r", *args, **kwargs):
        handle = real_open(self, mode, *args, **kwargs)
        if "w" in mode and self.suffix == ".jsonl":
            def write(_text):
                raise OSError(28, "No space left on device")
            handle.write = write
        return handle

    monkeypatch.setattr(Path, "open", full_disk)
    monkeypatch.setattr("sys.argv", ["vlmaudit", "run", "fake", "--model", "toy:8", "--data", "fake",
                                     "--out", str(tmp_path / "run"), "--cache-dir", "none", "--quiet"])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: No space left on device: ") and err[-1].endswith("trials.jsonl")
    assert "Traceback" not in "\n".join(err)
    assert not list((tmp_path / "run").rglob("results.json"))


def test_run_files_are_readable_like_any_file_the_user_writes(tmp_path):
    """Catches results written 0600 (mkstemp's mode), which a colleague or a web server cannot read."""
    import os
    import stat

    run(["toy:8"], ["fake"], out=tmp_path / "run", cache_dir=None, progress=False)
    mask = os.umask(0)
    os.umask(mask)
    for name in ("config.json", "summary.json", "summary.md"):
        mode = stat.S_IMODE((tmp_path / "run" / name).stat().st_mode)
        assert mode == 0o666 & ~mask, (name, oct(mode))
