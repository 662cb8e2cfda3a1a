"""Grouped metrics against independent re-computations written out as the papers' code does them."""

import numpy as np
import pytest
import torch

from vlmaudit.metrics.grouped import image_pairs, relation_pairs, relation_sets, winoground
from vlmaudit.metrics.selection import pairwise, select

# What'sUp subset A: two object pairs x four prepositions; gold caption first (index 0).
GROUPS = ["mug/table"] * 4 + ["cup/chair"] * 4
RELS = ["left", "right", "on", "under"] * 2
WHATSUP = np.array(
    [
        [0.9, 0.1, 0.2, 0.3],  # mug left: right
        [0.5, 0.5, 0.1, 0.1],  # mug right: tie with a negative -> right only under argmax
        [0.7, 0.2, 0.1, 0.0],  # mug on: right
        [0.6, 0.1, 0.1, 0.2],  # mug under: right
        [0.4, 0.1, 0.2, 0.3],  # cup left: right
        [0.3, 0.4, 0.1, 0.1],  # cup right: wrong
        [0.2, 0.1, 0.9, 0.0],  # cup on: wrong
        [0.3, 0.3, 0.3, 0.3],  # cup under: all tied
    ],
    dtype=np.float32,
)


def official_whatsup(scores, groups, rels):
    """The What'sUp `evaluate_scores` loop: np.argmax, gold at 0, N/2 and N/4 denominators."""
    correct = np.argmax(scores, axis=-1) == 0
    table = {g: {"left": 0, "right": 0, "on": 0, "under": 0} for g in groups}
    for g, r, c in zip(groups, rels, correct, strict=True):
        table[g][r] = c
    pair = sum(bool(d["left"] and d["right"]) + bool(d["on"] and d["under"]) for d in table.values())
    full = sum(sum(d.values()) == 4 for d in table.values())
    return correct.mean(), pair / (len(scores) / 2), full / (len(scores) / 4)


def strict_whatsup(scores, groups, rels):
    """Same counts with ties wrong: gold strictly above every other option."""
    correct = np.array([all(row[0] > row[1:]) for row in scores])
    table = {}
    for g, r, c in zip(groups, rels, correct, strict=True):
        table.setdefault(g, {})[r] = c
    pair = sum(
        d.get("left", 0) * d.get("right", 0) + d.get("on", 0) * d.get("under", 0) for d in table.values()
    )
    full = sum(all(d.get(r, 0) for r in ("left", "right", "on", "under")) for d in table.values())
    return correct.mean(), pair / (len(scores) / 2), full / (len(scores) / 4)


@pytest.mark.parametrize(
    ("policy", "reference"), [("argmax-first", official_whatsup), ("strict", strict_whatsup)]
)
def test_whatsup_individual_pair_set(policy, reference):
    sel = select(WHATSUP, 0, policy)
    pairs = relation_pairs(sel, GROUPS, RELS, [("left", "right"), ("on", "under")], denominator=len(RELS) / 2)
    sets = relation_sets(sel, GROUPS, RELS, ["left", "right", "on", "under"], denominator=len(RELS) / 4)
    indiv, pair, full = reference(WHATSUP, GROUPS, RELS)
    assert sel.accuracy == pytest.approx(indiv)
    assert pairs.value == pytest.approx(pair)
    assert sets.value == pytest.approx(full)
    assert pairs.complete and sets.complete
    # ties: items 1 and 7; units touching them: mug left/right, cup on/under; both sets
    assert sel.tie_rate == pytest.approx(2 / 8)
    assert pairs.tie_rate == pytest.approx(2 / 4)
    assert sets.tie_rate == pytest.approx(1.0)


def test_whatsup_hand_values_legacy_vs_strict():
    legacy = select(WHATSUP, 0, "argmax-first")
    strict = select(WHATSUP, 0, "strict")
    assert legacy.accuracy == pytest.approx(6 / 8) and strict.accuracy == pytest.approx(4 / 8)
    lr_ou = [("left", "right"), ("on", "under")]
    assert relation_pairs(legacy, GROUPS, RELS, lr_ou, 4).value == pytest.approx(2 / 4)
    assert relation_pairs(strict, GROUPS, RELS, lr_ou, 4).value == pytest.approx(1 / 4)
    full = ["left", "right", "on", "under"]
    assert relation_sets(legacy, GROUPS, RELS, full, 2).value == pytest.approx(1 / 2)
    assert relation_sets(strict, GROUPS, RELS, full, 2).value == 0


def test_two_way_variant_per_relation_pair():
    """Li et al.: gold vs opposite only, `>`; L/R pairs divided by N/4 (= groups)."""
    opposite_col = {"left": 1, "right": 1, "on": 3, "under": 3}  # where the opposite caption sits here
    gold = WHATSUP[:, 0]
    opp = np.array([WHATSUP[i, opposite_col[r]] for i, r in enumerate(RELS)])
    sel = pairwise(gold, opp, "strict")
    expected = gold > opp
    np.testing.assert_array_equal(sel.correct, expected)
    for pair, hand in ((("left", "right"), 0.0), (("on", "under"), 0.5)):
        result = relation_pairs(sel, GROUPS, RELS, [pair], denominator=len(RELS) / 4)
        rows = [
            [i for i, g in enumerate(GROUPS) if g == grp and RELS[i] in pair] for grp in dict.fromkeys(GROUPS)
        ]
        assert result.value == pytest.approx(sum(expected[r].all() for r in rows) / 2)
        assert result.value == pytest.approx(hand)


def test_missing_images_count_wrong_but_paper_denominator_stays():
    sel = select(WHATSUP[:7], 0, "argmax-first")  # cup/under missing
    pairs = relation_pairs(sel, GROUPS[:7], RELS[:7], [("left", "right"), ("on", "under")], 7 / 2)
    assert not pairs.complete
    # mug: both units right; cup: left/right wrong (right wrong), on/under missing -> 2 of 4 units
    np.testing.assert_array_equal(pairs.outcomes, [1, 1, 0, 0])
    assert pairs.value == pytest.approx(2 / 3.5)


def test_duplicate_group_relation_is_rejected():
    sel = select(WHATSUP[:2], 0)
    with pytest.raises(ValueError, match="two items"):
        relation_pairs(sel, ["g", "g"], ["left", "left"], [("left", "right")])


# Winoground: [N, caption, image]
def _wino_table(seed=0, n=200):
    rng = np.random.default_rng(seed)
    return np.round(rng.random((n, 2, 2)), 1).astype(np.float32)  # coarse grid -> many ties


def test_winoground_strict_matches_paper_formulas():
    s = _wino_table()
    result = winoground(s, "strict")
    c0i0, c1i0, c0i1, c1i1 = s[:, 0, 0], s[:, 1, 0], s[:, 0, 1], s[:, 1, 1]
    text = (c0i0 > c1i0) & (c1i1 > c0i1)
    image = (c0i0 > c0i1) & (c1i1 > c1i0)
    np.testing.assert_array_equal(result.text.outcomes, text)
    np.testing.assert_array_equal(result.image.outcomes, image)
    np.testing.assert_array_equal(result.group.outcomes, text & image)
    any_tie = (c0i0 == c1i0) | (c1i1 == c0i1) | (c0i0 == c0i1) | (c1i1 == c1i0)
    assert result.group.tie_rate == pytest.approx(any_tie.mean())
    assert result.group.tie_rate > 0.1


def test_winoground_argmax_reproduces_clip_benchmark():
    s = _wino_table(1)
    result = winoground(s, "argmax-first")
    # CLIP_benchmark: per image, argmax over captions must equal the image index; per caption likewise
    text = (np.argmax(s[:, :, 0], axis=1) == 0) & (np.argmax(s[:, :, 1], axis=1) == 1)
    image = (np.argmax(s[:, 0, :], axis=1) == 0) & (np.argmax(s[:, 1, :], axis=1) == 1)
    np.testing.assert_array_equal(result.text.outcomes, text)
    np.testing.assert_array_equal(result.image.outcomes, image)
    tie_only = np.array([[[0.5, 0.5], [0.5, 0.5]]], dtype=np.float32)
    assert winoground(tie_only, "argmax-first").text.value == 0  # I1 tie resolves to C0: wrong
    assert winoground(tie_only, "lenient").group.value == 1
    assert winoground(tie_only, "half").group.value == pytest.approx(1 / 16)


# MMVP-VLM: [pair, statement, image]; gold diagonal as in the released CSV (odd qid -> image 1)
MMVP = np.array(
    [
        [[0.30, 0.20], [0.10, 0.25]],  # both right
        [[0.20, 0.20], [0.10, 0.30]],  # statement 1 tied -> softmax picks image 2 (wrong)
        [[0.30, 0.20], [0.25, 0.25]],  # statement 2 tied -> softmax picks image 2 (right)
        [[0.30, 0.20], [0.30, 0.10]],  # statement 2 wrong
    ],
    dtype=np.float32,
)
MMVP_GOLD = np.array([[0, 1]] * 4)


def official_mmvp(scores, logit_scale=100.0):
    pair_ok, single_ok = [], []
    for pair in scores:
        probs = torch.softmax(logit_scale * torch.from_numpy(pair), dim=-1).numpy()
        preds = ["img1" if probs[k][0] > 0.5 else "img2" for k in range(2)]
        ok = [preds[0] == "img1", preds[1] == "img2"]
        single_ok += ok
        pair_ok.append(all(ok))
    return np.array(single_ok), np.array(pair_ok)


def test_mmvp_softmax_threshold_matches_official():
    result = image_pairs(MMVP, MMVP_GOLD, "softmax")
    single, pairs = official_mmvp(MMVP)
    np.testing.assert_array_equal(result.single.correct, single)
    np.testing.assert_array_equal(result.pairs.outcomes, pairs)
    assert result.pairs.value == pytest.approx(2 / 4)
    assert result.pairs.tie_rate == pytest.approx(2 / 4)


def test_mmvp_argmax_and_strict_variants():
    argmax = image_pairs(MMVP, MMVP_GOLD, "argmax-first")
    rows = MMVP.reshape(-1, 2)
    np.testing.assert_array_equal(argmax.single.correct, np.argmax(rows, axis=1) == MMVP_GOLD.reshape(-1))
    assert argmax.pairs.value == pytest.approx(2 / 4)  # pair 2 right, pair 3 wrong (tie -> image 1)
    strict = image_pairs(MMVP, MMVP_GOLD, "strict")
    np.testing.assert_array_equal(strict.pairs.outcomes, [1, 0, 0, 0])
