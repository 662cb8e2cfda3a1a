"""Blind scorers: length, text prior, bag-of-words equivalence, hackability."""

import json

import numpy as np
import pytest
import torch

from vlmaudit.metrics.baselines import (
    bow_equivalent,
    hackable,
    length_scores,
    words,
)
from vlmaudit.metrics.selection import select

OPTIONS = [
    ("a dog on a mat", "a mat on a dog"),  # same words
    ("a dog", "a big dog on a mat"),  # shorter gold
    ("a red car.", "A car, red!"),  # same words after lower-casing / punctuation
    ("the cat sleeps", "the cats sleep"),  # different words, same length
]


def test_words_drop_case_and_punctuation():
    assert words("A man's Hat, on: the mat.") == ["a", "man's", "hat", "on", "the", "mat"]


def test_length_scores_prefer_shorter_or_longer():
    shorter = length_scores(OPTIONS, "shorter")
    longer = length_scores(OPTIONS, "longer")
    np.testing.assert_array_equal(shorter, -longer)
    assert shorter.dtype == np.float32 and shorter.shape == (4, 2)
    assert shorter[1].tolist() == [-2, -6]
    assert select(shorter, 0, "strict").correct.tolist() == [0, 1, 0, 0]  # equal lengths tie -> wrong
    with pytest.raises(ValueError):
        length_scores(OPTIONS, "middle")
    with pytest.raises(ValueError, match="same number"):
        length_scores([("a", "b"), ("a",)])


def test_bow_equivalent_compares_gold_with_other_options():
    assert bow_equivalent(OPTIONS, 0).tolist() == [True, False, True, False]
    three = [("a b", "c d", "b a"), ("a b", "c d", "e f")]
    assert bow_equivalent(three, [0, 1]).tolist() == [True, False]


def test_text_prior_uses_the_text_tower_on_prompt_and_options():
    """Catches a text prior that reads the image, or scores options against anything but the prompt."""
    from PIL import Image

    from vlmaudit.data.images import memory_image
    from vlmaudit.scoring.blind import TextPriorScorer

    vocab = {"a photo.": [1.0, 0.0], "x": [1.0, 0.0], "y": [0.0, 1.0], "z": [0.6, 0.8]}
    seen = []

    class Engine:
        def texts(self, texts):
            seen.append(list(texts))
            return torch.tensor([vocab[t] for t in texts])

    images = [memory_image(Image.new("RGB", (4, 4), c)) for c in ((0, 0, 0), (9, 9, 9))]
    table = TextPriorScorer(Engine()).image_options(images, [("x", "y"), ("z", "x")])
    np.testing.assert_allclose(table, [[1.0, 0.0], [0.6, 1.0]], rtol=1e-6)
    assert seen[0][0] == "a photo." and sorted(seen[0][1:]) == ["x", "x", "y", "z"]


def test_hackable_only_flags_length_scorers_at_threshold():
    assert hackable({"length_shorter": 0.98, "length_longer": 0.02, "text_prior": 0.95}) == ["length_shorter"]
    assert hackable({"length_shorter": 0.89}) == []


def test_sugarcrepe_add_is_length_hackable_and_swap_is_bow_equivalent(shared_data):
    """The reference's own checks on the released files (compositionality.md 2.5)."""
    def load(name):
        data = json.loads((shared_data / "sugarcrepe" / f"{name}.json").read_text())
        return [(e["caption"], e["negative_caption"]) for e in data.values()]

    for name, expected in (("add_att", 0.986), ("add_obj", 0.976)):
        options = load(name)
        accuracy = select(length_scores(options, "shorter"), 0, "strict").accuracy
        assert accuracy == pytest.approx(expected, abs=0.002)
    swap = load("swap_att")
    assert 0.5 < bow_equivalent(swap, 0).mean() < 0.7  # swaps come with number/plural edits
    assert bow_equivalent(load("replace_obj"), 0).mean() == 0.0
