"""hf: backend on tiny, seeded CLIP / SigLIP / SigLIP 2 directories built offline (model_fixtures)."""

from __future__ import annotations

import time

import pytest
import torch
from PIL import Image
from skimage import data
from transformers import AutoImageProcessor

from model_fixtures import (
    fake_hub_snapshot,
    make_hf_clip_b32,
    make_tiny_hf_clip,
    make_tiny_hf_siglip,
    make_tiny_hf_siglip2,
)
from vlmaudit.engine import Engine
from vlmaudit.models import load_model

CAPTIONS = ["a red cube left of a blue ball", "a photo of a cat", "two dogs."]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("hf")
    return {"clip": make_tiny_hf_clip(root / "clip"), "siglip": make_tiny_hf_siglip(root / "siglip"),
            "siglip2": make_tiny_hf_siglip2(root / "siglip2")}


@pytest.fixture(scope="module")
def models(dirs):
    """Each tiny model loaded once per module (the real CLIP BPE tokenizer takes ~1 s to parse)."""
    cache = {}

    def get(kind: str):
        if kind not in cache:
            cache[kind] = load_model(dirs[kind])
        return cache[kind]

    return get


@pytest.fixture(scope="module")
def clip(models):
    return models("clip")


@pytest.fixture(scope="module")
def siglip(models):
    return models("siglip")


def photos(square: bool = False) -> list[Image.Image]:
    """Real photographs at awkward sizes: odd crop margins and non-integer resize ratios."""
    astronaut, chelsea = Image.fromarray(data.astronaut()), Image.fromarray(data.chelsea())
    if square:
        return [astronaut, chelsea.resize((61, 61))]
    return [astronaut.resize((333, 250)), chelsea, astronaut.resize((45, 97))]


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=-1)


def test_clip_embeddings_shapes_and_scale(clip):
    images = clip.encode_images(clip.preprocess(photos()))
    texts = clip.encode_texts(CAPTIONS)
    assert images.shape == (3, 16) and texts.shape == (3, 16)
    assert torch.isfinite(images).all() and torch.isfinite(texts).all()
    assert clip.logit_scale == pytest.approx(clip.model.logit_scale.exp().item())
    assert clip.logit_bias is None
    assert clip.preprocessing.resize_mode == "shortest" and clip.preprocessing.image_size == 32


@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_pixel_path_equals_processor_path(dirs, models, kind):
    """[0,1] pixels + normalisation inside encode_images == HF image processor (PIL) + model."""
    model = models(kind)
    processor = AutoImageProcessor.from_pretrained(dirs[kind][3:], backend="pil")
    reference = processor(images=photos(), return_tensors="pt").pixel_values
    ours = model.preprocess(photos())
    assert torch.allclose(model.preprocessing.normalise(ours), reference, atol=1e-6)
    with torch.no_grad():
        expected = model.model.get_image_features(pixel_values=reference).pooler_output
        got = model.encode_images(ours)
    assert torch.allclose(got, expected, atol=1e-5)


def test_pixel_path_close_to_default_torchvision_processor(dirs, clip):
    """transformers 5 defaults to a torchvision backend whose bicubic differs by a few grey levels."""
    reference = AutoImageProcessor.from_pretrained(dirs["clip"][3:])(images=photos(), return_tensors="pt")
    with torch.no_grad():
        expected = clip.model.get_image_features(pixel_values=reference.pixel_values).pooler_output
        got = clip.encode_images(clip.preprocess(photos()))
    assert (cosine(got, expected) > 0.995).all()


@pytest.mark.parametrize("kind", ["clip", "siglip", "siglip2"])
def test_gradient_reaches_pixels(models, kind):
    model = models(kind)
    pixels = model.preprocess(photos(square=True)).requires_grad_(True)
    model.encode_images(pixels).pow(2).sum().backward()
    assert pixels.grad is not None and torch.isfinite(pixels.grad).all()
    assert pixels.grad.abs().sum() > 0


def test_clip_text_matches_tokenizer_path_and_is_batch_invariant(clip):
    batch = clip.tokenizer(CAPTIONS, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = clip.model.get_text_features(**batch).pooler_output
        got = clip.encode_texts(CAPTIONS)
        alone = clip.encode_texts(CAPTIONS[1:2])
    assert torch.allclose(got, expected, atol=1e-6)
    assert torch.allclose(alone[0], got[1], atol=1e-5)


@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_engine_text_rows_do_not_depend_on_the_captions_sharing_a_batch(models, kind):
    """Bug caught: CLIP pads a batch to its longest caption, so a caption batched with a long one
    runs at another sequence length and its embedding moves in the last bits."""
    model = models(kind)
    caption, long = "a red cube", "a red cube left of a big blue ball under a green cylinder"
    alone = Engine(model, batch_size=4, cache_dir=None).texts([caption])[0]
    mixed = Engine(model, batch_size=4, cache_dir=None).texts([long, caption, "x"])[1]
    assert torch.equal(alone, mixed)
    assert model.text_lengths([caption, long]) == ([5, 15] if kind == "clip" else [0, 0])


def test_siglip_pads_to_max_length(siglip):
    """SigLIP pools the last position: max_length padding is part of the model, dynamic padding is wrong."""
    tok = siglip.tokenizer
    short, long = "a cube", "a small red cube to the left of a large blue ball on grass"
    with torch.no_grad():
        got = siglip.encode_texts([short, long])
        fixed = siglip.model.get_text_features(
            **tok([short, long], padding="max_length", max_length=64, return_tensors="pt")).pooler_output
        dynamic = siglip.model.get_text_features(
            **tok([short, long], padding=True, return_tensors="pt")).pooler_output
        alone = siglip.encode_texts([short])
    assert siglip.text.padding == "max_length" and siglip.text.max_length == 64
    assert torch.allclose(got, fixed, atol=1e-6)
    assert cosine(got, dynamic).max() < 0.999  # the tiny model is not padding invariant
    assert torch.allclose(alone[0], got[0], atol=1e-5)  # so batch composition must not matter
    assert siglip.logit_bias == pytest.approx(siglip.model.logit_bias.item())
    assert siglip.logit_scale == pytest.approx(siglip.model.logit_scale.exp().item())
    assert siglip.preprocessing.resize_mode == "squash" and siglip.preprocessing.mean == (0.5, 0.5, 0.5)


@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_long_captions_truncate_to_text_positions(models, kind):
    model = models(kind)
    words = " ".join(["word"] * 200)
    with torch.no_grad():
        a, b = model.encode_texts([words, words + " and a different ending"])
    assert torch.isfinite(a).all()
    assert torch.allclose(a, b, atol=1e-6)  # everything past the limit is cut, so the tails cannot matter


def test_siglip2_naflex_matches_processor(dirs, models):
    model = models("siglip2")
    processor = AutoImageProcessor.from_pretrained(dirs["siglip2"][3:], backend="pil")
    inputs = processor(images=photos(square=True), return_tensors="pt")
    with torch.no_grad():
        expected = model.model.get_image_features(**inputs).pooler_output
        got = model.encode_images(model.preprocess(photos(square=True)))
    assert model.preprocessing.image_size == 32 and model.text.padding == "max_length"
    assert torch.allclose(got, expected, atol=1e-5)


def test_dense_outputs(clip, siglip):
    pixels = clip.preprocess(photos())
    assert clip.image_tokens(pixels).shape == (3, 16, 16)  # (32/8)^2 patches, CLS dropped
    tokens = clip.text_tokens(CAPTIONS)
    ids = clip.tokenizer(CAPTIONS, padding="max_length", max_length=77, return_tensors="pt").input_ids
    eos = (ids == clip.tokenizer.eos_token_id).int().argmax(1)
    pooled = clip.encode_texts(CAPTIONS)
    assert tokens.shape == (3, 77, 16)
    assert torch.allclose(tokens[torch.arange(3), eos], pooled, atol=1e-5)
    assert torch.allclose(siglip.text_tokens(CAPTIONS)[:, -1], siglip.encode_texts(CAPTIONS), atol=1e-5)
    with pytest.raises(NotImplementedError):
        siglip.image_tokens(siglip.preprocess(photos()))


def test_bf16_load(dirs, clip):
    model = load_model(dirs["clip"], dtype="bf16")
    assert next(model.model.parameters()).dtype == torch.bfloat16
    pixels = clip.preprocess(photos())
    assert (cosine(model.encode_images(pixels), clip.encode_images(pixels)) > 0.98).all()
    assert (cosine(model.encode_texts(CAPTIONS), clip.encode_texts(CAPTIONS)) > 0.98).all()
    assert model.fingerprint != clip.fingerprint


def test_weights_hash_tracks_weights(tmp_path, dirs, clip):
    again = load_model(dirs["clip"])
    assert again.weights_hash == clip.weights_hash and again.fingerprint == clip.fingerprint
    other = load_model(make_tiny_hf_clip(tmp_path / "other", seed=1))
    assert other.weights_hash != clip.weights_hash and other.fingerprint != clip.fingerprint


def test_hub_name_loads_from_local_cache(tmp_path, monkeypatch, clip):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    make_tiny_hf_clip(fake_hub_snapshot(tmp_path / "hub", "vlmaudit-test/tiny-clip"))
    cached = load_model("hf:vlmaudit-test/tiny-clip")
    assert cached.spec == "hf:vlmaudit-test/tiny-clip"
    assert cached.weights_hash == clip.weights_hash
    assert torch.equal(cached.encode_texts(CAPTIONS), clip.encode_texts(CAPTIONS))


def test_generic_automodel_dual_encoder(tmp_path):
    """A family we do not special-case (MetaCLIP 2) goes through AutoModel + get_*_features."""
    from transformers import CLIPImageProcessor, MetaClip2Config, MetaClip2Model

    from model_fixtures import clip_tokenizer

    text = {"vocab_size": 49408, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
            "num_attention_heads": 2, "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 49407}
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
              "image_size": 32, "patch_size": 8}
    config = MetaClip2Config(text_config=text, vision_config=vision, projection_dim=8)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        MetaClip2Model(config).save_pretrained(tmp_path)
    square = {"height": 32, "width": 32}
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=square).save_pretrained(tmp_path)
    clip_tokenizer().save_pretrained(tmp_path)
    model = load_model(f"hf:{tmp_path}")
    assert model.architecture == "auto" and model.family == "dual" and model.text.padding == "longest"
    processor = AutoImageProcessor.from_pretrained(tmp_path, backend="pil")
    tokens = model.tokenizer(CAPTIONS, padding=True, return_tensors="pt")
    pixel_values = processor(images=photos(), return_tensors="pt").pixel_values
    with torch.no_grad():
        expected = model.model.get_image_features(pixel_values=pixel_values).pooler_output
        text_ref = model.model.get_text_features(**tokens).pooler_output
        got, texts = model.encode_images(model.preprocess(photos())), model.encode_texts(CAPTIONS)
    assert got.shape == (3, 8) and torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(texts, text_ref, atol=1e-6)
    with pytest.raises(NotImplementedError):
        model.text_tokens(CAPTIONS)


@pytest.mark.slow
def test_vit_b32_sized_clip_with_real_bpe(tmp_path):
    """Default CLIPConfig (ViT-B/32 dims), random weights, CLIP BPE rebuilt from open_clip's vocab."""
    import open_clip

    start = time.perf_counter()
    spec = make_hf_clip_b32(tmp_path / "b32")
    built = time.perf_counter()
    model = load_model(spec)
    loaded = time.perf_counter()
    captions = ["a photo of a cat.", "The dog's ball, isn't it RED?", "héllo wörld 123 :)", "an astronaut"]
    ours = model.tokenizer(captions, padding="max_length", max_length=77, return_tensors="pt").input_ids
    reference = open_clip.get_tokenizer("ViT-B-32")(captions)
    lengths = (reference != 0).sum(1)
    for row, n in enumerate(lengths.tolist()):
        assert ours[row, :n].tolist() == reference[row, :n].tolist()
    with torch.no_grad():
        images = model.encode_images(model.preprocess(photos()[:2]))
        texts = model.encode_texts(captions)
    assert images.shape == (2, 512) and texts.shape == (4, 512)
    assert torch.isfinite(images).all() and torch.isfinite(texts).all()
    assert model.preprocessing.image_size == 224
    print(f"ViT-B/32 HF: build+save {built - start:.1f}s, load+hash {loaded - built:.1f}s, "
          f"encode {time.perf_counter() - loaded:.1f}s")

