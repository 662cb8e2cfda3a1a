"""Perturbation hooks (property-based): claimed truth == computed truth; shuffles follow ARO's rules."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vlmaudit.data.scenes import (
    Caption,
    describe,
    generate_scene,
    generate_scenes,
    parse,
    render_array,
    truth,
)
from vlmaudit.data.scenes import perturb as P
from vlmaudit.data.scenes.pairs import opposite_pair, winoground_group
from vlmaudit.data.scenes.vocab import ADJ_TAGS, NOUN_TAGS, OPPOSITE_RELATION, RELATIONS

MIRROR_WORD = {"left": "right", "right": "left"}
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scene_ids = st.tuples(st.integers(0, 3), st.integers(0, 100_000))  # few seeds: texture banks are cached
caption_seeds = st.one_of(st.none(), st.integers(0, 2**32))


def _scene_and_caption(ids, caption_seed):
    scene = generate_scene(*ids)
    caption = describe(scene) if caption_seed is None else describe(scene, random.Random(caption_seed))
    return scene, caption


@SETTINGS
@given(scene_ids, caption_seeds, st.sampled_from(sorted(P.NEGATIVE_HOOKS)), st.integers(0, 2**32))
def test_negative_hooks_are_clearly_false(ids, caption_seed, name, rng_seed):
    scene, caption = _scene_and_caption(ids, caption_seed)
    out = P.NEGATIVE_HOOKS[name](scene, caption, random.Random(rng_seed))
    if out is None:
        return
    assert out.is_true is False
    meaning = parse(out.caption.tokens)  # the meaning of the words actually written
    assert meaning == out.caption.meaning
    assert not truth(meaning, scene) and not truth(meaning, scene, loose=True)
    assert out.caption.text != caption.text
    assert Caption.from_text(out.caption.text).meaning == meaning  # text alone carries the meaning


@SETTINGS
@given(scene_ids, caption_seeds, st.integers(0, 2**32))
def test_add_negation_is_true(ids, caption_seed, rng_seed):
    scene, caption = _scene_and_caption(ids, caption_seed)
    out = P.add_negation(scene, caption, random.Random(rng_seed))
    assert out is not None and out.is_true is True and truth(parse(out.caption.tokens), scene)
    meaning = out.caption.meaning
    assert len(meaning.negated) == 1 and set(meaning.objects) == set(caption.meaning.objects)
    assert not any(meaning.negated[0].matches(o) for o in scene.objects)


@SETTINGS
@given(scene_ids, caption_seeds, st.sampled_from(sorted(P.SHUFFLE_SCHEMES)), st.integers(0, 2**32))
def test_shuffles_follow_aro_and_never_return_the_input(ids, caption_seed, scheme, rng_seed):
    _, caption = _scene_and_caption(ids, caption_seed)
    out = P.shuffle(scheme)(None, caption, random.Random(rng_seed))
    if out is None:
        return
    before, after = list(caption.tokens), list(out.caption.tokens)
    assert out.is_true is None and out.caption.meaning is None and out.kind == scheme
    assert [t.text for t in after] != [t.text for t in before]
    assert Counter(before) == Counter(after)
    content = NOUN_TAGS | ADJ_TAGS
    if scheme == "shuffle_nouns_and_adj":  # only nouns/adjectives move, each within its class
        assert all((a == b) if b.tag not in content else (a.tag in NOUN_TAGS) == (b.tag in NOUN_TAGS)
                   for a, b in zip(after, before, strict=True))
    elif scheme == "shuffle_allbut_nouns_and_adj":
        assert all(a == b for a, b in zip(after, before, strict=True) if b.tag in content)
    else:
        chunks = [before[k : k + 3] for k in range(0, len(before), 3)]
        if scheme == "shuffle_within_trigrams":
            within = [Counter(after[k : k + 3]) for k in range(0, len(after), 3)]
            assert within == [Counter(c) for c in chunks]
        else:
            assert _is_chunk_permutation(after, chunks)


def _is_chunk_permutation(tokens, chunks) -> bool:
    """Whether `tokens` is the concatenation of `chunks` in some order (chunks kept intact)."""
    if not chunks:
        return not tokens
    return any(tokens[: len(c)] == c and _is_chunk_permutation(tokens[len(c) :], chunks[:k] + chunks[k + 1 :])
               for k, c in enumerate(chunks))


def test_identical_shuffle_returns_none():
    scene = generate_scene(0, 1, n_objects=1)
    caption = describe(scene)  # e.g. "a large orange cross on snow": 2 nouns, 2 adjectives
    results = [P.shuffle("shuffle_nouns_and_adj")(scene, caption, random.Random(k)) for k in range(40)]
    assert any(r is None for r in results) and any(r is not None for r in results)


def test_swap_that_would_be_true_is_rejected():
    from vlmaudit.data.scenes import Scene, SceneObject

    both_red = Scene.build((SceneObject("circle", "red", "small", (5, 20, 17, 32)),
                            SceneObject("square", "red", "small", (30, 20, 42, 32))), "grass")
    out = P.swap_attributes(both_red, describe(both_red), random.Random(0), attributes=("colour", "size"))
    assert out is None  # equal colours and sizes: nothing to swap
    shapes = P.swap_attributes(both_red, describe(both_red), random.Random(0), attributes=("shape",))
    assert shapes is not None
    assert shapes.caption.text == "a small red square left of a small red circle on grass"


def test_swap_yielding_a_true_caption_is_rejected():
    from vlmaudit.data.scenes import Scene, SceneObject

    two_red = Scene.build((SceneObject("circle", "red", "small", (5, 20, 17, 32)),
                           SceneObject("circle", "red", "large", (30, 15, 52, 37))), "grass")
    caption = Caption.from_text("a small red circle and a large red circle")
    assert P.swap_attributes(two_red, caption, random.Random(0), attributes=("size",)) is None


@SETTINGS
@given(scene_ids)
def test_mirrored_render_with_flipped_relations_keeps_captions_true(ids):
    scene = generate_scene(*ids)
    mirrored = scene.mirrored()
    diff = np.abs(render_array(mirrored).astype(int) - render_array(scene)[:, ::-1].astype(int))
    assert diff.max() <= 1  # the pixels of the mirrored graph are the mirrored pixels
    flipped = Caption.from_text(" ".join(MIRROR_WORD.get(w, w) for w in describe(scene).words))
    assert truth(flipped.meaning, mirrored)


def test_every_hook_applies_somewhere():
    scenes = generate_scenes(40, 17)
    r = random.Random(3)
    hits = Counter()
    for s in scenes:
        for caption in (describe(s), describe(s, r)):
            for name, hook in P.NEGATIVE_HOOKS.items():
                out = hook(s, caption, r)
                hits[name] += out is not None
                if out is not None:
                    hits[out.kind] += 1
    assert all(hits[name] > 0 for name in P.NEGATIVE_HOOKS), hits
    for kind in ("swap-colour", "swap-size", "swap-shape", "replace-colour", "replace-size", "add-colour"):
        assert hits[kind] > 0, kind


def test_hard_triplets():
    r = random.Random(0)
    for s in generate_scenes(20, 8):
        c, c_p, c_n = P.hard_triplet(s, r)
        assert truth(c.meaning, s) and truth(c_p.meaning, s) and c_p.text != c.text
        assert c_p.meaning.key() == c.meaning.key()
        assert c_n.is_true is False and not truth(c_n.caption.meaning, s)


def test_opposite_pairs_and_winoground_groups():
    r = random.Random(5)
    for rel in RELATIONS:
        a, b = opposite_pair(r, rel)
        assert a.relation(0, 1) == rel and b.relation(0, 1) == OPPOSITE_RELATION[rel]
        assert [o.identity for o in a.objects] == [o.identity for o in b.objects]
        assert (a.context, a.texture_index, a.flip) == (b.context, b.texture_index, b.flip)
    for kind in ("relation", "colour"):
        for _ in range(25):
            g = winoground_group(r, kind)
            pattern = [[truth(c.meaning, s) for s in g.scenes] for c in g.captions]
            assert pattern == [[True, False], [False, True]]
            assert Counter(g.captions[0].words) == Counter(g.captions[1].words)
            assert g.captions[0].text != g.captions[1].text
