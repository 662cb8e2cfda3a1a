"""Fingerprints change with every input that changes an answer.

The model fingerprint keys the embedding cache and names the model in provenance; the data
fingerprint is stored with every unit and checked on resume. If an input changes the numbers but
not the fingerprint, a cache serves another model's embeddings, or a resume keeps units computed on
other data, silently. Each test changes one input under the same spec text, checks that the answer
really changes, and that the fingerprint changes with it.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model_fixtures import make_tiny_hf_clip, make_tiny_hf_siglip, make_tiny_openclip
from test_readers_spatial import PREPS_A, _controlled, _winoground
from vlmaudit.data.images import memory_image
from vlmaudit.data.source import open_data
from vlmaudit.engine import Engine
from vlmaudit.models import load_model

CAPTIONS = ["a red cube left of a blue ball", "a photo of a cat", "two dogs."]


def _texts(model) -> torch.Tensor:
    with torch.no_grad():
        return model.encode_texts(CAPTIONS).float()


def _images(model) -> torch.Tensor:
    pixels = model.preprocess([Image.new("RGB", (40, 30), (200, 30, 30)), Image.new("RGB", (30, 30), "blue")])
    with torch.no_grad():
        return model.encode_images(pixels).float()


def _answers_and_fingerprints_differ(a, b) -> None:
    assert a.spec == b.spec  # the same spec text: only the fingerprint can tell them apart
    assert not (torch.equal(_texts(a), _texts(b)) and torch.equal(_images(a), _images(b)))
    assert a.fingerprint != b.fingerprint


# ------------------------------------------------------------------------------------ hf


@pytest.fixture
def clip_dir(tmp_path):
    return make_tiny_hf_clip(tmp_path / "clip").removeprefix("hf:")


def _edit_json(path, edit) -> None:
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))


def test_hf_siglip_text_padding_is_in_the_fingerprint(tmp_path):
    """Catches SigLIP's padding="max_length" (its text tower pools the last position) left out of
    the fingerprint: a SigLIP padded to the longest caption would share the cache of a correct one."""
    siglip = load_model(make_tiny_hf_siglip(tmp_path / "siglip"))
    assert siglip.text.padding == "max_length"
    longest = copy.copy(siglip)
    longest.text = dataclasses.replace(siglip.text, padding="longest")
    _answers_and_fingerprints_differ(siglip, longest)


def test_hf_activation_in_config_json_is_in_the_fingerprint(clip_dir):
    """Catches an HF config edit that changes outputs but no weight (hidden_act quick_gelu -> gelu,
    the HF twin of open_clip's QuickGELU mismatch) reusing the old model's cached embeddings."""
    before = load_model(f"hf:{clip_dir}")
    for tower in ("text_config", "vision_config"):
        _edit_json(Path(clip_dir) / "config.json", lambda d, t=tower: d[t].update(hidden_act="gelu"))
    after = load_model(f"hf:{clip_dir}")
    assert after.weights_hash == before.weights_hash
    _answers_and_fingerprints_differ(before, after)


def test_hf_tokenizer_is_in_the_fingerprint(clip_dir):
    """Catches a changed tokenizer (vocabulary, normaliser) under the same directory and weights
    serving the old tokenizer's cached text embeddings."""
    before = load_model(f"hf:{clip_dir}")

    def swap(document: dict) -> None:
        vocab = document["model"]["vocab"]
        vocab["red</w>"], vocab["blue</w>"] = vocab["blue</w>"], vocab["red</w>"]

    _edit_json(Path(clip_dir) / "tokenizer.json", swap)
    after = load_model(f"hf:{clip_dir}")
    assert after.weights_hash == before.weights_hash
    _answers_and_fingerprints_differ(before, after)


def test_hf_preprocessing_weights_and_dtype_are_in_the_fingerprint(clip_dir):
    """Catches image mean/std, retrained weights or the dtype changing outputs under one spec."""
    before = load_model(f"hf:{clip_dir}")
    _edit_json(Path(clip_dir) / "preprocessor_config.json", lambda d: d.update(image_mean=[0.5] * 3))
    _answers_and_fingerprints_differ(before, load_model(f"hf:{clip_dir}"))
    make_tiny_hf_clip(clip_dir, seed=1)
    _answers_and_fingerprints_differ(before, load_model(f"hf:{clip_dir}"))
    assert load_model(f"hf:{clip_dir}", dtype="bf16").fingerprint != load_model(f"hf:{clip_dir}").fingerprint


# ------------------------------------------------------------------------------------ open_clip


@pytest.fixture(scope="module")
def tiny_openclip(tmp_path_factory):
    return load_model(make_tiny_openclip(tmp_path_factory.mktemp("openclip")))


def test_openclip_quickgelu_is_in_the_fingerprint(tiny_openclip):
    """Catches the activation actually built (QuickGELU for OpenAI-trained weights) left out of the
    fingerprint: the same spec and weights run with GELU and QuickGELU give different embeddings."""
    import open_clip

    from vlmaudit.models.openclip import OpenClipModel

    tiny = tiny_openclip
    module = open_clip.create_model(tiny.source.arch, pretrained=None, force_quick_gelu=True)
    module.load_state_dict(tiny.model.state_dict())
    quick = OpenClipModel(tiny.spec, module.eval(), tiny.tokenizer, tiny.source, True, True, tiny.device,
                          tiny.dtype)
    assert quick.weights_hash == tiny.weights_hash
    _answers_and_fingerprints_differ(tiny, quick)


def test_openclip_architecture_config_is_in_the_fingerprint(tiny_openclip, monkeypatch):
    """Catches an architecture re-registered under the same name with a setting that holds no weight
    (text pooling: EOT token vs last position) sharing the old model's cache."""
    from open_clip import factory

    tiny = tiny_openclip
    changed = copy.deepcopy(factory._MODEL_CONFIGS[tiny.source.arch])
    changed["text_cfg"]["pool_type"] = "last"
    monkeypatch.setitem(factory._MODEL_CONFIGS, tiny.source.arch, changed)
    other = load_model(tiny.spec)
    assert other.weights_hash == tiny.weights_hash
    _answers_and_fingerprints_differ(tiny, other)


def test_openclip_dtype_and_weights_are_in_the_fingerprint(tiny_openclip, tmp_path):
    """Catches bf16 or retrained weights under one spec reusing fp32 / old embeddings."""
    assert load_model(tiny_openclip.spec, dtype="bf16").fingerprint != tiny_openclip.fingerprint
    spec = make_tiny_openclip(tmp_path, seed=0)
    first = load_model(spec)
    make_tiny_openclip(tmp_path, seed=1)
    _answers_and_fingerprints_differ(first, load_model(spec))


# ------------------------------------------------------------------------------------ builtin


def test_builtin_weights_preprocessing_and_dtype_are_in_the_fingerprint():
    """Catches a retrained or re-configured built-in model (other weights, other mean/std) or another
    dtype reusing the shipped model's cached embeddings."""
    from vlmaudit.models.builtin import BuiltinModel, load_module

    module, record = load_module("scenes")
    shipped = BuiltinModel(module, "builtin:scenes", record["weights_hash"])
    assert BuiltinModel(module, "builtin:scenes", record["weights_hash"], dtype=torch.bfloat16).fingerprint \
        != shipped.fingerprint
    shifted = copy.deepcopy(module)
    shifted.config = dataclasses.replace(module.config, mean=(0.5, 0.5, 0.5))
    _answers_and_fingerprints_differ(shipped, BuiltinModel(shifted, "builtin:scenes", record["weights_hash"]))
    retrained = copy.deepcopy(module)
    with torch.no_grad():
        next(retrained.parameters()).add_(0.5)
    from vlmaudit.models.base import hash_state_dict

    _answers_and_fingerprints_differ(shipped, BuiltinModel(retrained, "builtin:scenes",
                                                           hash_state_dict(retrained.state_dict())))


# ------------------------------------------------------------------------------------ engine cache


def test_the_engine_cache_never_serves_another_models_embeddings(tmp_path):
    """Catches the cache key missing a model input: a SigLIP padded to the longest caption, run after
    the correct one with the same cache directory, must get its own embeddings, not the cached ones."""
    siglip = load_model(make_tiny_hf_siglip(tmp_path / "siglip"))
    longest = copy.copy(siglip)
    longest.text = dataclasses.replace(siglip.text, padding="longest")
    Engine(siglip, cache_dir=tmp_path / "cache", progress=False).texts(CAPTIONS)
    engine = Engine(longest, cache_dir=tmp_path / "cache", progress=False)
    got = engine.texts(CAPTIONS)
    assert engine.stats.texts.cache_hits == 0
    # the engine batches captions by padded length, so each gets the forward it would get alone
    with torch.no_grad():
        alone = torch.cat([longest.encode_texts([caption]).float() for caption in CAPTIONS])
    torch.testing.assert_close(got, torch.nn.functional.normalize(alone, dim=-1), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(got, Engine(siglip, cache_dir=None, progress=False).texts(CAPTIONS), atol=1e-3)


def test_the_engine_cache_keys_images_on_the_transform_parameters(tmp_path, toy_model):
    """Catches a transform keyed by name only: the same name with other parameters (a user's
    transforms file) would get the cached pixels' embedding of the first."""
    from vlmaudit.perturb.image_transforms import load_catalogue

    blur = next(t for t in load_catalogue() if t.op == "blur" or t.name == "blur")
    stronger = dataclasses.replace(blur, params={k: v * 3 for k, v in blur.params.items()})
    arr = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    ref = memory_image(Image.fromarray(arr))
    first = Engine(toy_model, cache_dir=tmp_path, progress=False).images([ref], blur)
    engine = Engine(toy_model, cache_dir=tmp_path, progress=False)
    second = engine.images([ref], stronger)
    assert engine.stats.images.cache_hits == 0 and not torch.equal(first, second)


# ------------------------------------------------------------------------------------ data


@pytest.mark.parametrize("options", [
    "n=7", "seed=3", "size=48", "objects=2", "split=balanced&objects=1", "split=biased&objects=1",
])
def test_scenes_fingerprint_changes_with_every_option_that_changes_the_scenes(options):
    """Catches a scenes option (count, seed, size, objects, split) missing from the fingerprint, so a
    resume would keep units computed on other scenes."""
    base, other = open_data("scenes?n=6&seed=2"), open_data(f"scenes?n=6&seed=2&{options}")
    assert [s.to_json() for s in base.scenes] != [s.to_json() for s in other.scenes]
    assert base.fingerprint() != other.fingerprint()


@pytest.mark.parametrize(("options", "changed"), [
    ("minority=0.5", "minority=0.25"), ("values=circle,square", "values=circle,star"),
    ("contexts=grass,sand", "contexts=grass,snow"), ("attribute=shape&values=circle,square",
                                                     "attribute=colour&values=red,blue"),
])
def test_scenes_fingerprint_changes_with_the_split_options(options, changed):
    """Catches a biased split's options missing from the fingerprint."""
    spec = "scenes?n=12&seed=2&split=biased&objects=1&"
    base, other = open_data(spec + options), open_data(spec + changed)
    assert [s.to_json() for s in base.scenes] != [s.to_json() for s in other.scenes]
    assert base.fingerprint() != other.fingerprint()


def test_scenes_fingerprint_changes_with_the_generator_version(monkeypatch):
    """Catches a changed scene generator whose old results a resume would keep as done."""
    from vlmaudit.data.scenes import source

    before = open_data("scenes?n=3").fingerprint()
    monkeypatch.setattr(source, "GENERATOR_VERSION", "next")
    assert open_data("scenes?n=3").fingerprint() != before


def _rewrite_image(path) -> None:
    """Other pixels in the same file: the annotation and every option stay the same."""
    with Image.open(path) as image:
        size, fmt = image.size, image.format
    Image.new("RGB", size, (1, 2, 3)).save(path, format=fmt)


def _whatsup(tmp_path):
    file = _controlled(tmp_path, "controlled_images", PREPS_A)
    return f"whatsup:{file}", next((tmp_path / "controlled_images").iterdir())


def _winoground_spec(tmp_path):
    return f"winoground:{_winoground(tmp_path)}", tmp_path / "images" / "ex_0_img_0.png"


def _vg_relation(tmp_path):
    from test_readers_aro import _image, _vg_records

    for i in range(2):
        _image(tmp_path / "images" / f"img{i}.jpg", colour=(50 * i, 100, 100))
    (tmp_path / "visual_genome_relation.json").write_text(json.dumps(_vg_records(False)))
    return f"aro-vgr:{tmp_path}", tmp_path / "images" / "img0.jpg"


def _captions(tmp_path):
    for k, colour in enumerate(["red", "blue"]):
        Image.new("RGB", (16, 16), colour).save(tmp_path / f"{k}.png")
    (tmp_path / "m.csv").write_text("image,caption\n0.png,a red square\n1.png,a blue square\n")
    return f"captions:{tmp_path / 'm.csv'}", tmp_path / "0.png"


@pytest.mark.parametrize("make", [_whatsup, _winoground_spec, _vg_relation, _captions])
def test_file_data_fingerprint_changes_with_the_images(tmp_path, make):
    """Catches a reader fingerprint that hashes only the annotation file and options (What'sUp, ARO,
    SugarCrepe and hard positives did): new pixels under the same file names kept old units on resume."""
    spec, image = make(tmp_path)
    before = open_data(spec).fingerprint()
    assert open_data(spec).fingerprint() == before  # stable when nothing changed
    _rewrite_image(image)
    assert open_data(spec).fingerprint() != before


def test_caption_data_fingerprint_changes_with_the_captions(tmp_path):
    """Catches a caption manifest whose text changed while its fingerprint did not."""
    spec, _ = _captions(tmp_path)
    before = open_data(spec).fingerprint()
    (tmp_path / "m.csv").write_text("image,caption\n0.png,a red circle\n1.png,a blue square\n")
    assert open_data(spec).fingerprint() != before


def test_data_copied_elsewhere_keeps_its_fingerprint(tmp_path):
    """Catches a fingerprint that hashes paths: the same data moved would look changed on resume."""
    spec, _ = _whatsup(tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert open_data(spec).fingerprint() == open_data(spec.replace("/a/", "/b/")).fingerprint()
