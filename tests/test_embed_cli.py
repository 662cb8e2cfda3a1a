"""`vlmaudit embed` on tiny local HF and open_clip models: contents, cache identity, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from safetensors.numpy import load_file, safe_open

from model_fixtures import make_tiny_hf_clip, make_tiny_openclip
from vlmaudit.cli import cli
from vlmaudit.errors import ImageError
from vlmaudit.models import load_model

TEXTS = ["a red cube", "a ball left of a cube", "a red cube"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    """A tiny HF CLIP dir, three images (one of them RGBA) and a texts file; built once."""
    root = tmp_path_factory.mktemp("embed")
    rng = np.random.default_rng(0)
    (root / "imgs" / "sub").mkdir(parents=True)
    for i, name in enumerate(["b.png", "a.jpg", "sub/c.png"]):
        mode_shape = (20 + i, 30, 4 if name == "b.png" else 3)
        Image.fromarray(rng.integers(0, 256, mode_shape, dtype=np.uint8)).save(root / "imgs" / name)
    (root / "imgs" / "notes.txt").write_text("not an image, skipped by suffix")
    (root / "texts.txt").write_text("\n".join(TEXTS[:2]) + "\n\n")
    return {"root": root, "hf": make_tiny_hf_clip(root / "hf")}


def text_args(texts: list[str]) -> list[str]:
    return [arg for text in texts for arg in ("--texts", text)]


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, ["embed", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_hf_export_holds_keys_model_block_and_the_models_embeddings(world, tmp_path):
    root = world["root"]
    out = tmp_path / "e.npz"
    invoke("--model", world["hf"], "--images", str(root / "imgs"), "--texts", str(root / "texts.txt"),
           "--texts", TEXTS[2], "--out", str(out), "--cache-dir", str(tmp_path / "cache"))
    data = np.load(out)
    files = [root / "imgs" / n for n in ["a.jpg", "b.png", "sub/c.png"]]
    assert list(data["image_keys"]) == [str(f) for f in files]
    assert list(data["texts"]) == TEXTS
    model_block = json.loads(str(data["model"]))
    model = load_model(world["hf"])
    assert model_block["fingerprint"] == model.fingerprint and model_block["dtype"] == "float32"
    assert data["image_embeddings"].dtype == np.float32 and data["image_embeddings"].shape == (3, 16)
    from vlmaudit.data.images import file_image

    with torch.no_grad():
        images = [file_image(f).load() for f in files]
        expected = torch.nn.functional.normalize(model.encode_images(model.preprocess(images)), dim=-1)
        texts = torch.nn.functional.normalize(model.encode_texts(TEXTS), dim=-1)
    np.testing.assert_allclose(data["image_embeddings"], expected.numpy(), atol=1e-5)
    np.testing.assert_allclose(data["text_embeddings"], texts.numpy(), atol=1e-5)


def test_second_run_through_the_cache_is_bit_identical_in_both_formats(world, tmp_path):
    args = ["--model", world["hf"], "--images", str(world["root"] / "imgs"), *text_args(TEXTS[:1]),
            "--cache-dir", str(tmp_path / "cache")]
    invoke(*args, "--out", str(tmp_path / "first.npz"))
    summary = invoke(*args, "--out", str(tmp_path / "second.safetensors"))
    assert "computed 0, from cache 4" in summary
    first, second = np.load(tmp_path / "first.npz"), load_file(tmp_path / "second.safetensors")
    for name in ("image_embeddings", "text_embeddings"):
        np.testing.assert_array_equal(first[name], second[name])
    with safe_open(tmp_path / "second.safetensors", "np") as handle:
        meta = handle.metadata()
    assert json.loads(meta["image_keys"]) == list(first["image_keys"])
    assert json.loads(meta["model"])["normalized"] is True


def test_no_cache_and_raw(world, tmp_path, monkeypatch):
    monkeypatch.setenv("VLMAUDIT_CACHE", str(tmp_path / "env-cache"))
    out = tmp_path / "raw.npz"
    invoke("--model", world["hf"], *text_args(TEXTS), "--out", str(out), "--no-cache", "--raw", "--quiet")
    assert not (tmp_path / "env-cache").exists()
    raw = np.load(out)["text_embeddings"]
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)


def test_openclip_and_bf16(world, tmp_path):
    spec = make_tiny_openclip(tmp_path / "oc")
    out = tmp_path / "oc.npz"
    invoke("--model", spec, "--images", str(world["root"] / "imgs"), *text_args(TEXTS),
           "--out", str(out), "--no-cache")
    invoke("--model", spec, "--images", str(world["root"] / "imgs"), *text_args(TEXTS),
           "--out", str(tmp_path / "bf16.npz"), "--no-cache", "--dtype", "bf16")
    full, half = np.load(out), np.load(tmp_path / "bf16.npz")
    assert full["image_embeddings"].shape == (3, 16)
    assert json.loads(str(half["model"]))["dtype"] == "bfloat16"
    for name in ("image_embeddings", "text_embeddings"):
        assert half[name].dtype == np.float32
        assert (full[name] * half[name]).sum(axis=1).min() > 0.99


def test_bad_image_fails_naming_it_and_writes_nothing(world, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    out = tmp_path / "x.npz"
    with pytest.raises(ImageError, match="broken"):
        CliRunner().invoke(cli, ["embed", "--model", world["hf"], "--images", str(broken), "--out", str(out),
                                 "--no-cache"], catch_exceptions=False)
    assert list(tmp_path.iterdir()) == [broken]  # no output, no temp file left behind


def test_user_errors_are_one_line_with_exit_code_2(tmp_path):
    empty = tmp_path / "blank.txt"
    empty.write_text("\n\n")
    for args, message in [
        (["--model", "hf:x", "--texts", "a", "--out", str(tmp_path / "e.txt")], "must end in"),
        (["--model", "hf:x", "--out", str(tmp_path / "e.npz")], "nothing to embed"),
        (["--model", "hf:x", "--images", str(tmp_path / "missing.png"), "--out", str(tmp_path / "e.npz")],
         "missing.png"),
        (["--model", "hf:x", "--texts", str(tmp_path / "captoins.txt"), "--out", str(tmp_path / "e.npz")],
         "captoins.txt: no such file"),
        (["--model", "hf:x", "--texts", str(empty), "--out", str(tmp_path / "e.npz")], "holds no non-empty"),
    ]:
        done = subprocess.run([sys.executable, "-c", "from vlmaudit.cli import main; main()", "embed", *args],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and message in done.stderr
        assert done.stderr.count("\n") == 1, done.stderr
    assert list(tmp_path.iterdir()) == [empty]  # no output written
