"""`vlmaudit train builtin` on the tiny preset: reproducible hash, resume, refusals, metrics file."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from vlmaudit.cli import cli
from vlmaudit.errors import SpecError
from vlmaudit.train.checkpoint import latest_checkpoint

TINY = ["train", "builtin", "--preset", "tiny", "--steps", "20", "--batch-size", "16", "--threads", "1",
        "--checkpoint-every", "10", "--no-progress"]


def _run(*args: str):
    result = CliRunner().invoke(cli, [*TINY, *args], catch_exceptions=True)
    return result


def _hash(output: str) -> str:
    match = re.search(r"weights hash: ([0-9a-f]{32})", output)
    assert match, output
    return match.group(1)


@pytest.mark.slow
def test_same_seed_gives_the_same_weights_hash_and_resume_is_a_no_op_when_done(tmp_path) -> None:
    first = _run("--out", str(tmp_path / "a"), "--eval-n", "100")
    assert first.exit_code == 0, first.output
    second = _run("--out", str(tmp_path / "b"), "--eval-n", "0")
    assert second.exit_code == 0, second.output
    assert _hash(first.output) == _hash(second.output)

    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert {"shape", "colour", "context", "i2t_r1", "t2i_r1", "relation_swap", "binding_and"} <= set(metrics)
    assert all(0.0 <= metrics[k] <= 1.0 for k in ("shape", "i2t_r1", "relation_swap"))
    record = json.loads((tmp_path / "a" / "model.json").read_text())
    assert record["weights_hash"] == _hash(first.output)
    assert record["provenance"]["command"].startswith("vlmaudit train builtin --steps 20 --seed 0")

    # interrupted run: keep only the step-10 checkpoint, resume, get the uninterrupted weights
    (tmp_path / "b" / "ckpt-0000020.safetensors").unlink()
    assert latest_checkpoint(tmp_path / "b").name == "ckpt-0000010.safetensors"
    resumed = _run("--out", str(tmp_path / "b"), "--eval-n", "0", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert _hash(resumed.output) == _hash(first.output)


def test_refuses_to_overwrite_a_run_and_the_held_out_seed(tmp_path) -> None:
    (tmp_path / "ckpt-0000010.safetensors").write_bytes(b"x")
    result = _run("--out", str(tmp_path), "--eval-n", "0")
    assert isinstance(result.exception, SpecError) and "--resume" in str(result.exception)
    result = _run("--out", str(tmp_path / "new"), "--seed", "1234")
    assert isinstance(result.exception, SpecError) and "held-out" in str(result.exception)
