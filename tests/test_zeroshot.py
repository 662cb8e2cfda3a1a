"""The shared zero-shot classifier: open_clip's template ensembling, bit-identical scores for
identical inputs, explicit ties, and the exact prompts recorded."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from open_clip.zero_shot_classifier import build_zero_shot_classifier
from PIL import Image

from vlmaudit.data.images import memory_image
from vlmaudit.data.items import LabelledImage
from vlmaudit.engine.core import Engine
from vlmaudit.errors import DataError, SpecError
from vlmaudit.scoring import zeroshot as zs


@pytest.fixture
def engine(toy_model):
    return Engine(toy_model, cache_dir=None, progress=False)


def items_of(colours, labels) -> list[LabelledImage]:
    return [LabelledImage(memory_image(Image.new("RGB", (16, 16), c)), label, {}, "", f"i{k}")
            for k, (c, label) in enumerate(zip(colours, labels, strict=True))]


class _Tokens(list):
    def to(self, device):
        return self


def test_classifier_equals_open_clips_build_zero_shot_classifier(toy_model, engine):
    """Catches: ensembling done differently from open_clip (mean of unnormalised embeddings, no
    renormalisation, template-major order mixing classes)."""

    class OpenClipView:  # the model interface open_clip's builder calls
        def encode_text(self, texts, normalize=False):
            out = toy_model.encode_texts(list(texts))
            return torch.nn.functional.normalize(out, dim=-1) if normalize else out

    classes = ["cat", "dog", "red circle", "tabby cat", "sea lion", "owl", "ant", "bee", "yak", "eel", "emu"]
    templates = zs.template_set("default")
    reference = build_zero_shot_classifier(OpenClipView(), _Tokens, classes, list(templates))
    ours = zs.build_classifier(engine, classes, templates)
    assert torch.equal(torch.from_numpy(ours.weights), reference.T)
    assert ours.prompts()[2][0] == "a photo of a red circle."


def test_duplicate_rows_score_bit_identically():
    """Catches: scores from one fp32 GEMM over duplicated rows (numpy's blocked GEMM rounds the
    same row differently at different positions: 15 of 100 cells differ in this setup)."""
    rng = np.random.default_rng(0)
    images = rng.standard_normal((100, 512)).astype(np.float32)
    images[99] = images[0]
    weights = rng.standard_normal((100, 512)).astype(np.float32)
    weights[77] = weights[3]
    scores = zs.ZeroShotClassifier(tuple(f"c{i}" for i in range(100)), ("{}",), weights).scores(images)
    assert scores.dtype == np.float32
    assert np.array_equal(scores[0], scores[99])
    assert np.array_equal(scores[:, 3], scores[:, 77])
    assert np.allclose(scores, images.astype(np.float64) @ weights.astype(np.float64).T, atol=1e-5)


def test_classes_that_embed_identically_tie_and_the_policy_decides(engine):
    """Catches: a tie between indistinguishable classes broken by class order (argmax) and counted
    right, and the tie rate not reported. The toy text encoder is a bag of words, so "red circle"
    and "circle red" embed identically under every template."""
    classes = ["red circle", "circle red"]
    items = items_of([(200, 0, 0), (0, 0, 200)], ["red circle", "circle red"])
    strict = zs.classify(engine, items, classes, templates="photo")
    assert np.array_equal(strict.scores[:, 0], strict.scores[:, 1])
    assert strict.top1.tied.tolist() == [True, True] and strict.top1.tie_rate == 1.0
    assert strict.top1.correct.tolist() == [0.0, 0.0]  # argmax would give item 0 right, item 1 wrong
    assert zs.classify(engine, items, classes, "photo", tie_policy="lenient").top1.correct.tolist() == [1, 1]
    assert strict.top5 is None  # 2 classes: top-5 is trivially right
    assert strict.prompts() == [["a photo of a red circle."], ["a photo of a circle red."]]


def test_top5_and_gold_indices(engine):
    """Catches: top-5 computed against the wrong gold column (labels not mapped through classes)."""
    classes = [f"class {w}" for w in "abcdefgh"]
    items = items_of([(i * 30, 50, 90) for i in range(8)], classes[::-1])
    result = zs.classify(engine, items, classes, templates="photo")
    assert result.gold.tolist() == list(range(7, -1, -1))
    ranks = (result.scores > result.scores[np.arange(8), result.gold][:, None]).sum(1)
    assert result.top5 is not None and result.top5.correct.tolist() == (ranks < 5).astype(float).tolist()
    assert result.top1.correct.tolist() == (result.predicted == result.gold).astype(float).tolist()


def test_identical_images_score_identically_through_the_engine(engine):
    """Catches: a repeated image (the same file twice in a dataset) scored differently by position."""
    items = items_of([(10, 20, 30)] * 3 + [(90, 90, 90)], ["a", "b", "a", "b"])
    scores = zs.classify(engine, items, ["a", "b"], templates="default").scores
    assert np.array_equal(scores[0], scores[1]) and np.array_equal(scores[0], scores[2])


def test_templates_are_named_or_validated():
    """Catches: a template without {} (every class gets the same prompt: all ties), a typo'd set."""
    assert zs.template_set("default")[0] == "a photo of a {}." and len(zs.template_set("default")) == 8
    assert zs.template_set("simple")[0] == "itap of a {}."
    assert len(zs.template_set("openai")) == 80
    assert zs.resolve_templates(["a {} here"]) == ("a {} here",)
    for bad in (["no slot"], ["{} and {}"], ["a {label}"], []):
        with pytest.raises(SpecError):
            zs.resolve_templates(bad)
    with pytest.raises(SpecError, match="unknown template set 'defualt'"):
        zs.resolve_templates("defualt")
    assert zs.prompts(["cat", "dog"], ["a {}.", "the {}"]) == [["a cat.", "the cat"], ["a dog.", "the dog"]]


def test_labels_outside_classes_and_repeated_classes_are_data_errors(engine):
    """Catches: an item whose label is not a class silently scored against the wrong column."""
    items = items_of([(1, 2, 3)], ["zebra"])
    with pytest.raises(DataError, match=r"labels outside the classes.*'zebra'"):
        zs.classify(engine, items, ["ant", "bee"])
    with pytest.raises(DataError, match="class names repeat"):
        zs.classify(engine, items, ["zebra", "zebra"])


def test_scene_labels_flow_into_zero_shot_and_the_probe(engine):
    """Catches: the pieces not fitting together (a source's classes/labels/splits in a form the
    classifier or the probe does not take)."""
    from vlmaudit.data.scenes.generate import SceneConfig, generate_scenes
    from vlmaudit.data.scenes.labels import labelled_images
    from vlmaudit.scoring.probe import ProbeConfig, probe_items

    labelled = labelled_images(generate_scenes(48, 2, SceneConfig(min_objects=1, max_objects=1)), "context")
    zero = zs.classify(engine, labelled.items, labelled.classes, templates="photo")
    assert zero.scores.shape == (48, len(labelled.classes)) and 0 <= zero.top1.accuracy <= 1
    features = engine.images([item.image for item in labelled.items]).numpy()
    fit = probe_items(features, labelled.items, labelled.classes, ProbeConfig(C_grid=(0.1, 1.0)),
                      data="scenes/context")
    assert fit.split_origin == "seeded" and fit.classes == labelled.classes
