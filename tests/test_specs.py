"""Model specs are parsed and resolved before the run directory exists."""

from __future__ import annotations

import json
import sys

import pytest

import fake_suite
from vlmaudit.cli import main
from vlmaudit.errors import ModelLoadError, SpecError
from vlmaudit.specs import ModelSpec


@pytest.fixture(autouse=True)
def _fakes(fakes_registered):
    """Every test here runs with the toy backend and the fake suite registered."""


def _cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """`vlmaudit ARGS` in-process, through the entry point that maps errors to exit codes."""
    monkeypatch.setattr(sys, "argv", ["vlmaudit", *args])
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


BAD = [
    ("just-a-name", "BACKEND:NAME"),
    ("nope:x", "unknown backends 'nope'"),
    ("hf:/no/such/dir", "no such model directory"),
    ("hf:{empty}", "has no config.json"),
    ("hf:nobody-here/no-such-model", "nothing is downloaded"),
    ("openclip:NoSuchArch", "unknown open_clip architecture"),
    ("openclip:ViT-B-32:nosuchtag", "neither a pretrained tag"),
    ("openclip:ViT-B-32:/no/such/weights.pt", "checkpoint file not found"),
    ("builtin:nosuch", "builtin model 'nosuch'"),
]


@pytest.mark.parametrize(("spec", "message"), BAD)
def test_a_bad_model_spec_leaves_no_run_directory(tmp_path, monkeypatch, capsys, spec, message):
    """Catches `vlmaudit run --model hf:/no/such/dir` writing config.json before the model fails to
    load, which left a run directory that only `--resume` or a new --out gets past."""
    (tmp_path / "empty").mkdir()
    spec = spec.replace("{empty}", str(tmp_path / "empty"))
    out = tmp_path / "run"
    code, err = _cli(monkeypatch, capsys, "run", "fake", "--model", "toy:16", "--model", spec,
                     "--out", str(out), "--cache-dir", "none", "--quiet")
    assert code == 2 and err.startswith("error: ") and message in err, err
    assert err.count("\n") == 1, err
    assert not out.exists()
    assert fake_suite.CALLS == []  # not even the good model's units ran


def test_a_bad_model_added_on_resume_leaves_the_run_unchanged(tmp_path, monkeypatch, capsys):
    """Catches a refused resume rewriting the finished run's config.json with the bad model in it."""
    out = tmp_path / "run"
    assert _cli(monkeypatch, capsys, "run", "fake", "--model", "toy:16", "--out", str(out),
                "--cache-dir", "none", "--quiet")[0] == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code, err = _cli(monkeypatch, capsys, "run", "--resume", "--model", "hf:/no/such/dir", "--out", str(out),
                     "--cache-dir", "none", "--quiet")
    assert code == 2 and "no such model directory" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_parse_keeps_the_text_and_splits_backend_and_rest():
    """Catches a spec rewritten on parse, which would rename the run's unit folders."""
    spec = ModelSpec.parse("builtin:scenes")
    assert (spec.text, spec.backend, spec.rest) == ("builtin:scenes", "builtin", "scenes")
    assert str(spec) == "builtin:scenes"
    with pytest.raises(ModelLoadError):
        ModelSpec.parse("builtin:absent")
    with pytest.raises(SpecError):
        ModelSpec.parse("hf:")


def test_load_model_goes_through_the_same_parse(tmp_path):
    """Catches load_model and the runner disagreeing on what a valid spec is."""
    from vlmaudit.models import load_model

    (tmp_path / "m").mkdir()
    with pytest.raises(ModelLoadError, match=r"has no config\.json"):
        load_model(f"hf:{tmp_path / 'm'}")
    assert json.loads(json.dumps(load_model(ModelSpec.parse("toy:8")).spec)) == "toy:bow-8-0"
