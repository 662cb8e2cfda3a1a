"""Caption grammar: canonical forms, tags, exact truth against the graph, paraphrases, negation."""

from __future__ import annotations

import random

import numpy as np
import pytest

from vlmaudit.data.scenes import (
    VOCABULARY,
    Caption,
    ObjectDesc,
    Scene,
    SceneObject,
    describe,
    generate_scene,
    generate_scenes,
    negation_caption,
    paraphrases,
    parse,
    truth,
)
from vlmaudit.data.scenes.grammar import assemble
from vlmaudit.data.scenes.meaning import Token
from vlmaudit.data.scenes.vocab import MIRROR_RELATION, TAGS
from vlmaudit.errors import DataError


def _scene(*objects: tuple[str, str, str, tuple[int, int, int, int]], context: str = "sand") -> Scene:
    return Scene.build(tuple(SceneObject(s, c, z, box) for s, c, z, box in objects), context)


# red circle (small) at the left, blue square (large) at the right, same height
LEFT_RIGHT = _scene(
    ("circle", "red", "small", (5, 20, 17, 32)), ("square", "blue", "large", (30, 15, 52, 37))
)


def test_canonical_forms():
    assert describe(LEFT_RIGHT).text == "a small red circle left of a large blue square on sand"
    one = _scene(("star", "orange", "large", (5, 5, 27, 27)), context="snow")
    assert describe(one).text == "a large orange star on snow"  # article agrees with the next word
    three = generate_scene(4, 0, n_objects=3)
    text = describe(three).text
    assert text.count(" and ") == 1 and text.endswith(f"on {three.context}")


def test_tags_cover_every_word_and_vocabulary_is_closed():
    for s in generate_scenes(40, 9):
        for cap in [describe(s), describe(s, random.Random(s.index)), *paraphrases(s)[:10]]:
            assert len(cap.tokens) == len(cap.text.split())
            assert all(t.tag in TAGS for t in cap.tokens)
            assert set(cap.words) <= set(VOCABULARY)


def test_truth_is_exact_against_the_graph():
    s = LEFT_RIGHT
    cases = {
        "a small red circle left of a large blue square on sand": True,
        "a large blue square right of a small red circle": True,
        "a red circle to the left of a square": True,
        "a blue square left of a red circle": False,  # relation swap
        "a red circle above a blue square": False,
        "a blue circle left of a red square": False,  # binding swap
        "a red circle and a blue square": True,
        "a large red circle": False,
        "a red circle on grass": False,
        "there is no green triangle": True,
        "there is no red circle": False,
        "a blue square and no red square": True,
        "a blue square and no square": False,
    }
    for text, expected in cases.items():
        cap = Caption.from_text(text)
        assert truth(cap.meaning, s) is expected, text


def test_random_descriptions_are_true_and_varied():
    rng = np.random.default_rng(0)
    texts = set()
    for s in generate_scenes(60, 21):
        for _ in range(5):
            cap = describe(s, rng)
            assert truth(cap.meaning, s), cap.text
            texts.add(cap.text)
    assert len(texts) > 250
    s = generate_scenes(1, 21)[0]
    assert describe(s, np.random.default_rng(5)) == describe(s, np.random.default_rng(5))


def test_paraphrases_true_distinct_same_meaning():
    for s in generate_scenes(12, 2):
        canonical = describe(s)
        para = paraphrases(s)
        texts = [p.text for p in para]
        assert len(set(texts)) == len(texts) and canonical.text not in texts
        assert len(para) >= 7
        for p in para:
            assert truth(p.meaning, s)
            assert p.meaning.key() == canonical.meaning.key(), p.text
            assert parse(p.tokens) == p.meaning


def test_both_directions_mean_the_same():
    a, b = ObjectDesc("circle", "red", "small"), ObjectDesc("square", "blue", "large")
    one = assemble([(a, "left of", b)], "sand")
    other = assemble([(b, "right of", a)], "sand")
    assert one.meaning.key() == other.meaning.key()
    assert assemble([(b, "left of", a)], "sand").meaning.key() != one.meaning.key()


def test_negation_caption():
    present = [(ObjectDesc("circle", "red"),)]
    assert negation_caption(ObjectDesc("triangle", "green")).text == "there is no green triangle"
    cap = negation_caption(ObjectDesc("triangle", "green"), present)
    assert cap.text == "a red circle and no green triangle" and truth(cap.meaning, LEFT_RIGHT)
    assert not truth(negation_caption(ObjectDesc("square")).meaning, LEFT_RIGHT)


def test_mirror_with_flipped_relations_keeps_captions_true():
    for s in generate_scenes(30, 13, n_objects=2):
        mirrored, rel = s.mirrored(), s.relation(0, 1)
        a, b = (ObjectDesc(o.shape, o.colour, o.size) for o in s.objects)
        flipped = assemble([(a, MIRROR_RELATION[rel], b)], s.context)
        assert truth(flipped.meaning, mirrored)
        assert describe(mirrored).text == flipped.text
        assert truth(describe(s).meaning, mirrored) == (rel in ("above", "below"))


def test_parse_rejects_broken_sequences():
    with pytest.raises(DataError):
        Caption.from_text("a red circle inside a box")
    with pytest.raises(DataError):
        parse((Token("left", "REL"), Token("of", "REL"), Token("a", "DET"), Token("circle", "NOUN-shape")))
    with pytest.raises(DataError):
        parse((Token("a", "DET"), Token("red", "ADJ-colour")))
