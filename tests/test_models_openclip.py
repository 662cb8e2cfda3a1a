"""openclip: backend on a tiny registered architecture and on real ViT-B-32(-quickgelu) random weights."""

from __future__ import annotations

import shutil
import time
import warnings
import zipfile

import open_clip
import pytest
import torch
from open_clip.transform import PreprocessCfg, image_transform_v2
from PIL import Image
from skimage import data

from model_fixtures import fake_hub_snapshot, make_tiny_openclip
from vlmaudit.errors import ModelLoadError
from vlmaudit.models import load_model
from vlmaudit.models._openclip_source import _arch_preprocess, _is_openai_checkpoint

CAPTIONS = ["a red cube left of a blue ball", "a photo of a cat", "two dogs."]


@pytest.fixture(scope="module")
def tiny_spec(tmp_path_factory) -> str:
    return make_tiny_openclip(tmp_path_factory.mktemp("openclip"))


@pytest.fixture(scope="module")
def tiny(tiny_spec):
    return load_model(tiny_spec)


def photos() -> list[Image.Image]:
    astronaut, chelsea = Image.fromarray(data.astronaut()), Image.fromarray(data.chelsea())
    return [astronaut.resize((333, 250)), chelsea, astronaut.resize((45, 97))]


def reference_image_features(model, images: list[Image.Image]) -> torch.Tensor:
    """open_clip's own eval transform + encode_image: what open_clip users get."""
    transform = image_transform_v2(PreprocessCfg(**model.model.visual.preprocess_cfg), is_train=False)
    with torch.no_grad():
        return model.model.encode_image(torch.stack([transform(im) for im in images]))


def test_tiny_shapes_scale_and_reference_equivalence(tiny):
    pixels = tiny.preprocess(photos())
    with torch.no_grad():
        images, texts = tiny.encode_images(pixels), tiny.encode_texts(CAPTIONS)
        text_ref = tiny.model.encode_text(open_clip.get_tokenizer(tiny.source.arch)(CAPTIONS))
    assert images.shape == (3, 16) and texts.shape == (3, 16)
    assert torch.allclose(images, reference_image_features(tiny, photos()), atol=1e-5)
    assert torch.allclose(texts, text_ref, atol=1e-6)
    assert tiny.logit_scale == pytest.approx(tiny.model.logit_scale.exp().item())
    assert tiny.logit_bias is None
    assert tiny.fingerprint_extra()["quick_gelu"] is False


def test_gradient_reaches_pixels(tiny):
    pixels = tiny.preprocess(photos()).requires_grad_(True)
    tiny.encode_images(pixels).pow(2).sum().backward()
    assert torch.isfinite(pixels.grad).all() and pixels.grad.abs().sum() > 0


def test_dense_outputs(tiny):
    assert tiny.image_tokens(tiny.preprocess(photos())).shape == (3, 16, 16)
    tokens = tiny.text_tokens(CAPTIONS)
    eot = open_clip.get_tokenizer(tiny.source.arch)(CAPTIONS).argmax(1)  # open_clip pools at the EOT (max id)
    assert tokens.shape == (3, 77, 16)
    assert torch.allclose(tokens[torch.arange(3), eot], tiny.encode_texts(CAPTIONS), atol=1e-5)


def test_safetensors_checkpoint_matches_pt(tmp_path, tiny):
    spec = make_tiny_openclip(tmp_path, filename="tiny.safetensors")
    other = load_model(spec)
    assert other.weights_hash == tiny.weights_hash
    pixels = tiny.preprocess(photos())
    assert torch.equal(other.encode_images(pixels), tiny.encode_images(pixels))


def test_random_init_is_reproducible_and_announced(tiny):
    with pytest.warns(UserWarning, match="random weights"):
        first = load_model(f"openclip:{tiny.source.arch}")
    with pytest.warns(UserWarning, match="random weights"):
        second = load_model(f"openclip:{tiny.source.arch}")
    assert first.weights_hash == second.weights_hash


def test_bf16(tiny_spec, tiny):
    model = load_model(tiny_spec, dtype="bf16")
    pixels = tiny.preprocess(photos())
    low, full = model.encode_images(pixels).float(), tiny.encode_images(pixels)
    cos = torch.nn.functional.cosine_similarity(low, full)
    assert next(model.model.parameters()).dtype == torch.bfloat16 and (cos > 0.98).all()


def test_quickgelu_guard_switches_openai_weights(tmp_path, tiny_spec, tiny):
    """Same weights named as OpenAI's: built with QuickGELU, warned about, recorded; never silent."""
    arch, path = tiny_spec.split(":", 2)[1:]
    openai_path = tmp_path / "openai-tiny.pt"
    shutil.copy(path, openai_path)
    with pytest.warns(UserWarning, match="QuickGELU"):
        switched = load_model(f"openclip:{arch}:{openai_path}")
    extra = switched.fingerprint_extra()
    assert extra["quick_gelu"] is True and extra["quick_gelu_forced"] is True
    assert switched.fingerprint != tiny.fingerprint
    reference = open_clip.create_model(arch, pretrained=None, force_quick_gelu=True)
    open_clip.load_checkpoint(reference, str(openai_path))
    pixels = tiny.preprocess(photos())
    with torch.no_grad():
        expected = reference.eval().encode_image(tiny.preprocessing.normalise(pixels))
        got, gelu = switched.encode_images(pixels), tiny.encode_images(pixels)
    assert torch.allclose(got, expected, atol=1e-6)
    assert not torch.allclose(got, gelu, atol=1e-4)


def test_openai_checkpoint_detection(tmp_path):
    script = tmp_path / "ViT-B-32.pt"
    with zipfile.ZipFile(script, "w") as archive:  # TorchScript layout: <name>/code/...
        archive.writestr("ViT-B-32/code/__torch__/model.py", "")
        archive.writestr("ViT-B-32/data.pkl", "")
    plain = tmp_path / "laion.pt"
    torch.save({"w": torch.zeros(1)}, plain)
    assert _is_openai_checkpoint(script) and not _is_openai_checkpoint(plain)
    assert _is_openai_checkpoint(tmp_path / "models--timm--vit_base_patch32_clip_224.openai" / "x.bin")
    assert _is_openai_checkpoint(tmp_path / "clip-openai-b32.pt")
    assert "openai" in str(plain)  # this test's own folder: user folders must not trigger the guard


def test_checkpoint_path_gets_architecture_preprocessing():
    """A bare checkpoint on a SigLIP arch must not fall back to OpenAI mean/std + centre crop."""
    assert _arch_preprocess("ViT-B-16-SigLIP") == {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                                                   "interpolation": "bicubic", "resize_mode": "squash"}
    assert _arch_preprocess("ViT-B-32")["resize_mode"] == "shortest"


def test_uncached_tag_never_downloads(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ModelLoadError, match=r"openclip:ViT-B-32:laion2b_s34b_b79k.*local cache"):
        load_model("openclip:ViT-B-32:laion2b_s34b_b79k")


@pytest.mark.slow
def test_vit_b32_quickgelu_checkpoint_and_openai_tag(tmp_path, monkeypatch):
    """Real ViT-B-32-quickgelu random weights; as a checkpoint, and as the cached `openai` tag."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    start = time.perf_counter()
    repo = "timm/vit_base_patch32_clip_224.openai"  # where open_clip's `openai` tag lives on the hub
    target = fake_hub_snapshot(tmp_path / "hub", repo) / "open_clip_pytorch_model.bin"
    spec = make_tiny_openclip(target.parent, arch="ViT-B-32-quickgelu", filename=target.name)
    built = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the -quickgelu arch is already right: no warning
        explicit = load_model(spec)
    loaded = time.perf_counter()
    with pytest.warns(UserWarning, match="QuickGELU"):
        tagged = load_model("openclip:ViT-B-32:openai")
    pixels = explicit.preprocess(photos()[:2])
    with torch.no_grad():
        a, b = explicit.encode_images(pixels), tagged.encode_images(pixels)
        texts = explicit.encode_texts(CAPTIONS)
    assert a.shape == (2, 512) and texts.shape == (3, 512) and torch.isfinite(a).all()
    assert torch.allclose(a, b, atol=1e-6)
    assert tagged.weights_hash == explicit.weights_hash
    assert tagged.fingerprint_extra()["quick_gelu_forced"] is True
    assert explicit.fingerprint_extra()["quick_gelu_forced"] is False
    assert explicit.preprocessing.image_size == 224 and explicit.preprocessing.resize_mode == "shortest"
    print(f"ViT-B-32-quickgelu open_clip: build+save {built - start:.1f}s, load+hash {loaded - built:.1f}s")


def test_a_caption_past_the_context_is_truncated_as_open_clip_does_and_recorded(tiny_spec):
    """Bug: a 10,000-word caption was cut silently (its description suffix lost, Exp 2 tied) and no
    record of it reached the run. CLIP and open_clip truncate to the context, keeping the end token;
    the model must do exactly that and say so in its provenance."""
    model = load_model(tiny_spec)  # fresh: the truncation record belongs to one loaded model
    fits, cut = "word " * 75, "word " * 10_000  # "word" is one BPE token: 75 + start + end = 77
    with torch.no_grad(), pytest.warns(UserWarning, match="longer than the 77-token context are truncated"):
        ours = model.encode_texts([fits, cut, "a cat"])
    with torch.no_grad():
        theirs = model.model.encode_text(open_clip.get_tokenizer(model.source.arch)([fits, cut, "a cat"]))
    assert torch.equal(ours, theirs)  # the backend's own truncation, bit for bit
    assert torch.equal(ours[0], ours[1])  # the long caption reads as its first 75 words
    assert "text_truncation" not in load_model(tiny_spec).describe()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with torch.no_grad():
            model.encode_texts(["word " * 76, cut])
    assert [str(w.message) for w in caught if "truncated" in str(w.message)] == []  # warned once, before
    record = model.describe()["text_truncation"]
    assert record == {"context_length": 77, "texts_truncated": 2, "first": cut[:200]}


def test_a_run_with_a_long_caption_records_the_truncation(tmp_path, tiny_spec):
    """Through the CLI: the run finishes and its provenance says how many texts were cut."""
    import json

    from click.testing import CliRunner

    from vlmaudit.cli import cli

    Image.new("RGB", (32, 32), (200, 30, 30)).save(tmp_path / "a.png")
    Image.new("RGB", (32, 32), (30, 30, 200)).save(tmp_path / "b.png")
    (tmp_path / "m.csv").write_text("image,caption\na.png," + "word " * 10_000 + "\nb.png,a blue square\n")
    out = tmp_path / "run"
    with pytest.warns(UserWarning, match="truncated"):
        result = CliRunner().invoke(cli, [
            "run", "--model", tiny_spec, "--suite", "transforms", "--data", f"captions:{tmp_path / 'm.csv'}",
            "--out", str(out), "--cache-dir", "none", "--quiet",
            "--option", "transforms.transforms=rotate_90,hflip,vflip", "--option", "transforms.n_boot=20"])
    assert result.exit_code == 0, result.output
    (payload,) = [json.loads(p.read_text()) for p in out.glob("*/*/*/results.json")]
    record = payload["provenance"]["model"]["text_truncation"]
    assert record["context_length"] == 77 and record["texts_truncated"] >= 1
    assert record["first"].startswith("word word")
