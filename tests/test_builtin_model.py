"""The `builtin` backend: shipped weights load and still pass a small held-out bar; file checks."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image

from vlmaudit.errors import ModelLoadError
from vlmaudit.models import load_model
from vlmaudit.models.base import hash_state_dict
from vlmaudit.models.builtin import WEIGHTS_DIR, load, save_module
from vlmaudit.train.builtin_recipe import BuiltinRecipe, build_model
from vlmaudit.train.evaluate import evaluate_builtin


@pytest.fixture(scope="module")
def shipped():
    return load_model("builtin:scenes")


def test_shipped_weights_pass_a_small_held_out_bar(shipped) -> None:
    metrics = evaluate_builtin(shipped, n=300, compositional=False)  # 300 single + 3 pools of 100 pairs
    assert metrics["shape"] >= 0.90
    assert metrics["colour"] >= 0.90
    assert metrics["context"] >= 0.85
    assert metrics["i2t_r1"] >= 0.6 and metrics["t2i_r1"] >= 0.6


def test_shipped_model_describes_itself(shipped) -> None:
    record = json.loads((WEIGHTS_DIR / "scenes.json").read_text())
    assert shipped.weights_hash == record["weights_hash"] == hash_state_dict(shipped.module.state_dict())
    assert shipped.preprocessing.resize_mode == "squash" and shipped.preprocessing.image_size == 64
    assert 1.0 < shipped.logit_scale <= 100.0
    assert shipped.describe()["spec"] == "builtin:scenes"


def test_pixels_path_is_differentiable_and_any_aspect_ratio_works(shipped) -> None:
    wide = Image.new("RGB", (200, 50), (200, 30, 30))
    pixels = shipped.preprocess([wide]).requires_grad_(True)
    assert pixels.shape == (1, 3, 64, 64)
    emb = shipped.encode_images(pixels)
    emb.norm().backward()
    assert emb.shape == (1, 128) and pixels.grad is not None and pixels.grad.abs().sum() > 0
    assert shipped.image_tokens(pixels.detach()).shape == (1, 64, 128)
    assert shipped.encode_texts(["a Magenta blob!!", ""]).shape == (2, 128)  # unknown words do not crash


def test_bf16_load_agrees_with_fp32(shipped) -> None:
    half = load_model("builtin:scenes", dtype="bf16")
    texts = ["a small red circle on sand", "a blue star left of a large white cross on snow"]
    cos = torch.nn.functional.cosine_similarity(shipped.encode_texts(texts), half.encode_texts(texts).float())
    assert cos.min() > 0.98


def test_save_then_load_round_trips_a_trained_run(tmp_path) -> None:
    model = build_model(BuiltinRecipe(preset="tiny", steps=1, batch_size=8))
    digest = save_module(model.eval(), tmp_path / "model.safetensors", {"note": "test"})
    loaded = load(str(tmp_path))  # a run directory works as the spec's name
    assert loaded.weights_hash == digest and loaded.spec == f"builtin:{tmp_path}"
    pixels = torch.rand(2, 3, 64, 64)
    assert torch.equal(loaded.encode_images(pixels), model.encode_images(pixels).detach())


def test_tampered_or_missing_weights_fail_with_one_line(tmp_path) -> None:
    with pytest.raises(ModelLoadError, match=r"shipped: .*scenes"):
        load("no-such-model")
    shutil.copyfile(WEIGHTS_DIR / "scenes.safetensors", tmp_path / "model.safetensors")
    record = json.loads((WEIGHTS_DIR / "scenes.json").read_text())
    record["weights_hash"] = "0" * 32
    (tmp_path / "model.json").write_text(json.dumps(record))
    with pytest.raises(ModelLoadError, match="weights hash"):
        load(str(tmp_path))


def test_one_string_is_one_text_as_in_the_other_backends(shipped) -> None:
    one = shipped.encode_texts("a red circle")
    assert one.shape[0] == 1  # not one row per character
    torch.testing.assert_close(one, shipped.encode_texts(["a red circle"]))
