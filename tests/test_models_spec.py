"""Bad model specs fail with one line that names what the user typed, for every backend."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from model_fixtures import make_tiny_hf_clip, make_tiny_openclip
from vlmaudit.errors import ModelLoadError, SpecError, VlmauditError
from vlmaudit.models import load_model


@pytest.fixture(scope="module")
def tiny_hf(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "clip"
    make_tiny_hf_clip(path)
    return path


@pytest.fixture(scope="module")
def tiny_openclip(tmp_path_factory) -> str:
    return make_tiny_openclip(tmp_path_factory.mktemp("spec_openclip"))


def fails(spec: str, error: type[VlmauditError], *needles: str, dtype: str = "fp32") -> str:
    with pytest.raises(error) as info:
        load_model(spec, dtype=dtype)
    message = str(info.value)
    assert "\n" not in message
    for needle in needles or (spec,):
        assert needle in message
    return message


def broken_copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("spec", ["nope:whatever", "hf", "hf:", "openclip", "ViT-B-32"])
def test_unknown_backend_or_malformed(spec):
    message = fails(spec, SpecError)
    assert "hf" in message and "openclip" in message  # the error lists the backends that exist


def test_unknown_dtype(tiny_hf):
    fails(f"hf:{tiny_hf}", SpecError, "fp8", dtype="fp8")


def test_hf_missing_directory(tmp_path):
    fails(f"hf:{tmp_path / 'absent'}", ModelLoadError)


def test_hf_hub_name_not_cached():
    message = fails("hf:nobody-here/no-such-model", ModelLoadError)
    assert "nothing is downloaded" in message


def test_hf_corrupt_weights(tiny_hf, tmp_path):
    path = broken_copy(tiny_hf, tmp_path / "corrupt")
    (path / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    fails(f"hf:{path}", ModelLoadError)


def test_hf_missing_weights_file(tiny_hf, tmp_path):
    path = broken_copy(tiny_hf, tmp_path / "noweights")
    (path / "model.safetensors").unlink()
    fails(f"hf:{path}", ModelLoadError)


def test_hf_checkpoint_missing_layers_is_refused(tiny_hf, tmp_path):
    """transformers would randomly initialise the missing layer and only log it."""
    path = broken_copy(tiny_hf, tmp_path / "deeper")
    config = json.loads((path / "config.json").read_text())
    config["vision_config"]["num_hidden_layers"] = 3
    (path / "config.json").write_text(json.dumps(config))
    fails(f"hf:{path}", ModelLoadError, f"hf:{path}", "lacks")


def test_hf_missing_tokenizer(tiny_hf, tmp_path):
    path = broken_copy(tiny_hf, tmp_path / "notok")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (path / name).unlink()
    fails(f"hf:{path}", ModelLoadError)


def test_hf_unsupported_preprocessing(tiny_hf, tmp_path):
    path = broken_copy(tiny_hf, tmp_path / "crop")
    processor = json.loads((path / "preprocessor_config.json").read_text())
    processor["size"] = {"shortest_edge": 40}  # resize 40 then crop 32: not representable, refused
    (path / "preprocessor_config.json").write_text(json.dumps(processor))
    fails(f"hf:{path}", ModelLoadError, f"hf:{path}", "crops to")


def test_hf_not_a_dual_encoder(tmp_path):
    from transformers import BertConfig, BertModel

    BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                         vocab_size=100)).save_pretrained(tmp_path / "bert")
    fails(f"hf:{tmp_path / 'bert'}", ModelLoadError, "BertModel")


def test_openclip_unknown_arch():
    message = fails("openclip:ViT-B-33:openai", SpecError, "openclip:ViT-B-33:openai", "ViT-B-33")
    assert "ViT-B-32" in message  # close matches are suggested


def test_openclip_empty_arch():
    fails("openclip::openai", SpecError)


def test_openclip_unknown_tag():
    fails("openclip:ViT-B-32:no_such_tag", SpecError, "no_such_tag", "laion2b_s34b_b79k")


def test_openclip_missing_checkpoint(tmp_path):
    fails(f"openclip:ViT-B-32:{tmp_path / 'absent.pt'}", ModelLoadError)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_openclip_corrupt_checkpoint(tmp_path, tiny_openclip, suffix):
    arch = tiny_openclip.split(":")[1]
    path = tmp_path / f"corrupt{suffix}"
    path.write_bytes(b"\x00not a checkpoint" * 64)
    fails(f"openclip:{arch}:{path}", ModelLoadError)


def test_openclip_checkpoint_of_another_architecture(tmp_path, tiny_openclip):
    bad = tmp_path / "wrong.pt"
    torch.save({"state_dict": {"visual.proj": torch.zeros(3, 3)}}, bad)
    arch, path = tiny_openclip.split(":", 2)[1:]
    fails(f"openclip:{arch}:{bad}", ModelLoadError)
    assert Path(path).is_file()


def test_an_unusable_device_is_a_one_line_error_before_any_file_is_written(tmp_path, monkeypatch):
    import torch
    from click.testing import CliRunner

    from vlmaudit.cli import cli
    from vlmaudit.models import parse_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SpecError, match="CUDA is not available"):
        parse_device("cuda")
    with pytest.raises(SpecError, match="unknown device 'gpu'"):
        parse_device("gpu")
    assert parse_device("cpu") == torch.device("cpu")
    result = CliRunner().invoke(cli, ["run", "--device", "cuda", "--data", "scenes?n=2",
                                      "--out", str(tmp_path / "run"), "--quiet"])
    assert isinstance(result.exception, SpecError) and "CUDA is not available" in str(result.exception)
    assert not (tmp_path / "run").exists()
