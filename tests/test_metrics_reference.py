"""Selection, grouped and aggregate metrics against brute-force Python loops on random score tables.

Scores are small integers (0..3 over 2..5 options), so ties are everywhere: between the gold and a
negative, between two negatives above the gold, among all options. Every reference below is the
rule written out one item at a time, the way a benchmark's own script would.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from vlmaudit.metrics.aggregate import macro, micro
from vlmaudit.metrics.grouped import image_pairs, relation_pairs, relation_sets, winoground
from vlmaudit.metrics.selection import TIE_POLICIES, Selection, pairwise, select, top_k

POLICIES = [p for p in TIE_POLICIES if p != "random"]


def _table(seed: int, n: int = 300, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    k = k or int(rng.integers(2, 6))
    return rng.integers(0, 4, size=(n, k)).astype(np.float32), rng.integers(0, k, size=n)


def _select_row(row, gold: int, policy: str) -> tuple[float, bool]:
    """One item: is the gold option the pick? and does it share the top score with another option?"""
    top = max(row)
    at_top = [j for j, v in enumerate(row) if v == top]
    tied = row[gold] == top and len(at_top) > 1
    if policy == "strict":
        return float(at_top == [gold]), tied
    if policy == "lenient":
        return float(gold in at_top), tied
    if policy == "argmax-first":
        return float(at_top[0] == gold), tied
    if policy == "half":
        return (1.0 / len(at_top) if gold in at_top else 0.0), tied
    raise AssertionError(policy)


def _brute_select(scores, gold, policy) -> Selection:
    rows = [_select_row(list(row), int(g), policy) for row, g in zip(scores, gold, strict=True)]
    return Selection(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("policy", POLICIES)
def test_select_matches_brute_force(policy, seed):
    """Catches: a tie rule that depends on where gold is listed, `half` not splitting credit over all
    tied options, or a tie flag raised for ties among negatives that do not involve the gold option."""
    scores, gold = _table(seed)
    got, want = select(scores, gold, policy), _brute_select(scores, gold, policy)
    np.testing.assert_array_equal(got.correct, want.correct)
    np.testing.assert_array_equal(got.tied, want.tied)


def test_tie_flag_ignores_ties_that_do_not_involve_gold():
    """Catches: a tie flag that counts any tie at the top (or anywhere), not one involving the gold."""
    scores = np.array([[1, 3, 3], [3, 1, 1], [2, 2, 0]], dtype=np.float32)
    sel = select(scores, np.array([0, 0, 0]))
    np.testing.assert_array_equal(sel.tied, [False, False, True])  # negatives tied above / below gold
    np.testing.assert_array_equal(sel.correct, [0, 1, 0])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("policy", POLICIES)
def test_pairwise_is_a_two_option_select(policy, seed):
    """Catches: `pairwise` comparing the wrong way round or applying another tie rule than select."""
    scores, _ = _table(seed, k=2)
    got = pairwise(scores[:, 0], scores[:, 1], policy)
    want = _brute_select(scores, np.zeros(len(scores), dtype=int), policy)
    np.testing.assert_array_equal(got.correct, want.correct)
    np.testing.assert_array_equal(got.tied, want.tied)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("policy", TIE_POLICIES)
def test_top_k_matches_brute_force(policy, k, seed):
    """Catches: options tied with gold ranked on the wrong side of it (strict puts them above, lenient
    below, argmax-first by list position), or `half`/`random` not falling back to strict in top-k."""
    scores, gold = _table(seed, k=5)
    correct, tied = [], []
    for row, g in zip(scores.tolist(), gold.tolist(), strict=True):
        above = sum(v > row[g] for v in row)
        equal = [j for j, v in enumerate(row) if v == row[g] and j != g]
        ranks = {"lenient": above, "argmax-first": above + sum(j < g for j in equal)}
        rank = ranks.get(policy, above + len(equal))
        correct.append(float(rank < k))
        tied.append(bool(equal))
    got = top_k(scores, gold, k, policy)
    np.testing.assert_array_equal(got.correct, correct)
    np.testing.assert_array_equal(got.tied, tied)


def test_random_policy_uses_its_seed_and_breaks_ties_uniformly():
    """Catches: a `random` tie policy that ignores its seed (every seed the same draw), that is not
    reproducible for one seed, that touches untied items, or that favours one tied position."""
    scores, gold = _table(11, n=2000, k=3)
    strict = _brute_select(scores, gold, "strict")
    runs = [select(scores, gold, "random", seed=s).correct for s in range(8)]
    np.testing.assert_array_equal(runs[0], select(scores, gold, "random", seed=0).correct)
    assert len({r.tobytes() for r in runs}) == len(runs)  # each seed its own draw
    untied = ~strict.tied
    for run in runs:
        np.testing.assert_array_equal(run[untied], strict.correct[untied])
    expected = _brute_select(scores, gold, "half").correct  # 1 / (options at the top) for tied items
    mean = np.mean(runs, axis=0)
    assert abs(mean[strict.tied].mean() - expected[strict.tied].mean()) < 0.03


# -------------------------------------------------------------------------------------- grouped


def _whatsup_items(seed: int, drop: float = 0.2):
    """Groups x four relations with some images missing; [N, 4] integer scores, gold first."""
    rng = np.random.default_rng(seed)
    rels = ["left", "right", "on", "under"]
    groups, relations = [], []
    for g in range(40):
        for rel in rels:
            if rng.random() >= drop:
                groups.append(f"g{g}")
                relations.append(rel)
    scores = rng.integers(0, 3, size=(len(groups), 4)).astype(np.float32)
    return scores, groups, relations


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("policy", POLICIES)
def test_relation_pairs_and_sets_match_brute_force(policy, seed):
    """Catches: a missing image counted as right inside a pair or set, a unit credited when only some
    comparisons are right, ties of one member not flagged on the unit, or the wrong denominator."""
    scores, groups, rels = _whatsup_items(seed)
    sel = select(scores, 0, policy)
    correct = {(g, r): (c, t) for g, r, c, t in zip(groups, rels, sel.correct, sel.tied, strict=True)}
    opposites = [("left", "right"), ("on", "under")]
    n = len(groups)
    pairs = relation_pairs(sel, groups, rels, opposites, n / 2)
    sets = relation_sets(sel, groups, rels, ["left", "right", "on", "under"], n / 4)
    pair_total, pair_tied, set_total = 0.0, [], 0.0
    for g in dict.fromkeys(groups):
        for a, b in opposites:
            members = [correct.get((g, r)) for r in (a, b)]
            pair_total += members[0][0] * members[1][0] if all(members) else 0.0
            pair_tied.append(any(m[1] for m in members if m))
        members = [correct.get((g, r)) for r in ("left", "right", "on", "under")]
        set_total += np.prod([m[0] for m in members]) if all(members) else 0.0
    assert pairs.value == pytest.approx(pair_total / (n / 2), abs=1e-12)
    assert sets.value == pytest.approx(set_total / (n / 4), abs=1e-12)
    np.testing.assert_array_equal(pairs.tied, pair_tied)


def test_missing_image_makes_its_pair_wrong_with_the_papers_denominator():
    """Catches: a What'sUp pair with one image missing counted right because its present image is
    right, or a pair accuracy divided by the complete pairs instead of the paper's N/2."""
    groups = ["mug"] * 4 + ["cup"] * 3  # cup/under is missing: N = 7 images
    rels = ["left", "right", "on", "under", "left", "right", "on"]
    sel = Selection(np.ones(7), np.zeros(7, dtype=bool))  # every present image is right
    pairs = relation_pairs(sel, groups, rels, [("left", "right"), ("on", "under")], 7 / 2)
    assert pairs.outcomes.tolist() == [1, 1, 1, 0]  # (cup, on, under) has no "under" image
    assert pairs.value == pytest.approx(3 / 3.5) and not pairs.complete


def _winoground_brute(s, policy):
    """Per group: text = each image picks its caption, image = each caption picks its image."""
    text, image = [], []
    for g in s.tolist():
        t0 = _select_row([g[0][0], g[1][0]], 0, policy)[0]
        t1 = _select_row([g[0][1], g[1][1]], 1, policy)[0]
        i0 = _select_row([g[0][0], g[0][1]], 0, policy)[0]
        i1 = _select_row([g[1][0], g[1][1]], 1, policy)[0]
        text.append(t0 * t1)
        image.append(i0 * i1)
    return np.array(text), np.array(image)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("policy", POLICIES)
def test_winoground_matches_brute_force(policy, seed):
    """Catches: text and image scores swapped (caption-vs-image axis), a group score that is not
    text AND image, or a tie rule applied to one comparison of the four only."""
    s = np.random.default_rng(seed).integers(0, 3, size=(200, 2, 2)).astype(np.float32)
    result = winoground(s, policy)
    text, image = _winoground_brute(s, policy)
    np.testing.assert_array_equal(result.text.outcomes, text)
    np.testing.assert_array_equal(result.image.outcomes, image)
    np.testing.assert_array_equal(result.group.outcomes, text * image)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("mode", [*POLICIES, "softmax"])
def test_image_pairs_match_brute_force(mode, seed):
    """Catches: MMVP pairs credited when one statement picks the wrong image, gold images ignored, or
    the official softmax rule not sending ties to image 2."""
    rng = np.random.default_rng(seed)
    s = (rng.integers(0, 3, size=(150, 2, 2)) / 10).astype(np.float32)
    gold = np.tile([0, 1], (150, 1))
    result = image_pairs(s, gold, mode)
    single = []
    for row, g in zip(s.reshape(-1, 2).tolist(), gold.reshape(-1).tolist(), strict=True):
        if mode == "softmax":  # p(image 1) > 0.5 iff s1 > s0 (gaps of >= 0.1 at scale 100)
            single.append(float((0 if row[0] > row[1] else 1) == g))
        else:
            single.append(_select_row(row, g, mode)[0])
    single = np.array(single)
    np.testing.assert_array_equal(result.single.correct, single)
    np.testing.assert_array_equal(result.pairs.outcomes, single.reshape(-1, 2).prod(axis=1))


# ------------------------------------------------------------------------------------ aggregates


@pytest.mark.parametrize("seed", range(6))
def test_micro_and_macro_match_brute_force(seed):
    """Catches: a macro mean weighted by group size (a micro mean in disguise), groups under min_count
    or on the exclusion list kept, or a micro mean over groups instead of items."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 3, size=400) / 2
    groups = [f"r{int(g)}" for g in rng.zipf(1.5, size=400) % 30]
    min_count = int(rng.integers(1, 8))
    exclude = {"r1", "r7"}
    assert micro(values) == pytest.approx(sum(values) / len(values), abs=1e-12)
    members: dict[str, list[float]] = {}
    for v, g in zip(values.tolist(), groups, strict=True):
        members.setdefault(g, []).append(v)
    kept = {g: sum(v) / len(v) for g, v in members.items() if len(v) >= min_count and g not in exclude}
    result = macro(values, groups, min_count=min_count, exclude=exclude)
    assert result.value == pytest.approx(sum(kept.values()) / len(kept), abs=1e-12)
    assert set(result.kept) == set(kept)
    assert set(result.dropped) == set(members) - set(kept)


def test_brute_force_sees_ties_everywhere():
    """Catches: random tables too coarse or too fine for the tests above to exercise ties at all."""
    scores, gold = _table(0, k=4)
    sel = select(scores, gold)
    assert 0.15 < sel.tie_rate < 0.6
    negatives_tied_above = [
        row[gold_i] < max(row) and sorted(row)[-1] == sorted(row)[-2]
        for row, gold_i in zip(scores.tolist(), gold.tolist(), strict=True)
    ]
    assert any(negatives_tied_above)
    assert len(set(itertools.chain.from_iterable(scores.tolist()))) == 4
