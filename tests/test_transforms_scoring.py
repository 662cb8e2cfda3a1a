"""Decision rules of the transforms suite on hand-made similarities whose answers are known."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

from vlmaudit.suites.transforms import scoring as sc


def make_scores(n: int = 2, k: int = 3, **arrays) -> sc.Scores:
    """Scores with every array zero unless given."""
    shapes = {"tc": (n, k), "oc": (n, k), "tC": (n, k), "oC": (n,), "captioned": (n, k, k),
              "bare": (n, k, k), "ensemble": (n, k, k), "neutral_c": (n, k), "neutral_C": (n,),
              "neutral_bare": (n, k)}
    return sc.Scores(**{name: np.asarray(arrays.get(name, np.zeros(shape)), dtype=np.float32)
                        for name, shape in shapes.items()})


def test_exp1_exp2_and_controls_follow_their_inequalities():
    scores = make_scores(
        n=1, k=3,
        tc=[[0.30, 0.20, 0.10]],
        oc=[[0.25, 0.25, 0.10]],  # Exp 1: win, lose, tie
        tC=[[0.10, 0.30, 0.10]],  # Exp 2: win, lose, tie
        oC=[0.20],  # untransformed: s(I,C') = oc vs 0.20 -> win, win, lose
    )
    assert sc.exp1(scores).correct.tolist() == [[1, 0, 0]]
    assert sc.exp1(scores).tied.tolist() == [[False, False, True]]
    assert sc.exp2(scores).correct.tolist() == [[1, 0, 0]]
    assert sc.exp2_untransformed(scores).correct.tolist() == [[1, 1, 0]]
    assert sc.exp1_plain_caption(scores).correct.tolist() == [[0, 1, 0]]  # s(I',C)=tC vs s(I,C)=0.2


@pytest.mark.parametrize(("policy", "expected"), [
    ("strict", [1.0, 0.0, 0.0]), ("lenient", [1.0, 0.0, 1.0]), ("half", [1.0, 0.0, 0.5]),
    ("argmax-first", [1.0, 0.0, 1.0]),
])
def test_ties_follow_the_tie_policy(policy, expected):
    scores = make_scores(n=1, k=3, tc=[[0.3, 0.1, 0.2]], tC=[[0.1, 0.3, 0.2]])
    sel = sc.exp2(scores, policy)
    assert sel.correct.ravel().tolist() == expected
    assert sel.tied.ravel().tolist() == [False, False, True]


def test_random_tie_policy_is_seeded():
    scores = make_scores(n=50, k=2, tc=np.full((50, 2), 0.2), tC=np.full((50, 2), 0.2))
    first = sc.exp2(scores, "random", seed=3).correct
    assert np.array_equal(first, sc.exp2(scores, "random", seed=3).correct)
    assert 0.2 < first.mean() < 0.8


def test_wrong_partners_differ_from_the_trial_and_are_deterministic():
    keys, names = [f"img{i}" for i in range(20)], [f"t{j}" for j in range(5)]
    wrong = sc.wrong_partners(keys, names, seed=0)
    assert wrong.shape == (20, 5)
    assert np.all(wrong != np.arange(5)[None, :])
    assert np.array_equal(wrong, sc.wrong_partners(keys, names, seed=0))
    assert not np.array_equal(wrong, sc.wrong_partners(keys, names, seed=1))
    assert len(np.unique(wrong[:, 0])) > 1  # not one fixed partner per transform
    with pytest.raises(ValueError):
        sc.wrong_partners(keys, ["only"], seed=0)


def test_exp2_wrong_reads_the_partner_caption():
    captioned = np.zeros((1, 3, 3))
    captioned[0] = [[0.5, 0.6, 0.1],   # I'_0: true 0.5, option 1 scores 0.6, option 2 0.1
                    [0.2, 0.4, 0.3],   # I'_1: true 0.4
                    [0.1, 0.2, 0.2]]   # I'_2: true 0.2, ties option 1
    scores = make_scores(n=1, k=3, tc=[[0.5, 0.4, 0.2]], captioned=captioned)
    wrong = np.array([[1, 0, 1]])
    sel = sc.exp2_wrong(scores, wrong)
    assert sel.correct.tolist() == [[0, 1, 0]]
    assert sel.tied.tolist() == [[False, False, True]]
    assert sc.exp2_wrong(scores, np.array([[2, 2, 0]])).correct.tolist() == [[1, 1, 1]]


def test_rank_transforms_top1_top5_and_confusion():
    k = 6
    option_scores = np.zeros((1, k, k))
    for t in range(k):
        option_scores[0, t] = np.arange(k)[::-1]  # every image prefers option 0, then 1, ...
    ranking = sc.rank_transforms(option_scores)
    assert ranking.top1.correct.tolist() == [[1, 0, 0, 0, 0, 0]]
    assert ranking.top5.correct.tolist() == [[1, 1, 1, 1, 1, 0]]
    assert ranking.predicted.tolist() == [[0] * k]
    matrix = sc.confusion(ranking.predicted, k)
    assert matrix[:, 0].tolist() == [1] * k and matrix.sum() == k
    assert sc.max_prediction_share(ranking.predicted) == 1.0
    perfect = sc.rank_transforms(np.eye(k)[None])
    assert perfect.top1.accuracy == 1.0
    assert np.array_equal(sc.confusion(perfect.predicted, k), np.eye(k, dtype=int))


def test_rank_transforms_ties_count_against_strict_top1():
    option_scores = np.array([[[0.5, 0.5, 0.1], [0.2, 0.3, 0.1], [0.0, 0.0, 0.0]]])
    strict = sc.rank_transforms(option_scores, "strict", k=2)
    assert strict.top1.correct.tolist() == [[0, 1, 0]]
    assert strict.top1.tied.tolist() == [[True, False, True]]
    lenient = sc.rank_transforms(option_scores, "lenient", k=2)
    assert lenient.top1.correct.tolist() == [[1, 1, 1]]
    assert strict.top5.correct.tolist() == [[1, 1, 0]]  # all three tie for the third row: rank 3 > 2


def test_constant_ranking_is_at_chance():
    rng = np.random.default_rng(0)
    ranking = sc.constant_ranking(rng.random((40, 8)), 8)
    assert ranking.top1.accuracy == pytest.approx(1 / 8)
    assert ranking.top5.accuracy == pytest.approx(5 / 8)


def test_gap_summary():
    summary = sc.gap_summary(np.arange(101) / 100.0)
    assert summary["mean"] == pytest.approx(0.5)
    assert summary["q05"] == pytest.approx(0.05) and summary["q95"] == pytest.approx(0.95)
    assert summary["q50"] == pytest.approx(0.5)
    assert summary["std"] == pytest.approx(np.std(np.arange(101) / 100))


class HashEngine:
    """Embeds every input as a fixed random unit vector drawn from its key: dots are known by hand."""

    def _row(self, key: str) -> np.ndarray:
        rng = np.random.default_rng(zlib.crc32(key.encode()))
        v = rng.standard_normal(8).astype(np.float32)
        return v / np.linalg.norm(v)

    def images(self, refs, views=None):
        views = views or [None] * len(refs)
        keys = [r.key + "|" + (v.id if v else "") for r, v in zip(refs, views, strict=True)]
        return torch.from_numpy(np.stack([self._row(key) for key in keys]))

    def texts(self, texts):
        return torch.from_numpy(np.stack([self._row("t:" + t) for t in texts]))


def test_transform_scores_put_every_pair_where_the_experiments_read_it():
    """Catches a table filled with the wrong (image, view, text) pair: a transposed [N, K, K] option
    grid, I instead of I', or C' of another trial."""
    from PIL import Image

    from vlmaudit.data.images import memory_image
    from vlmaudit.perturb.image_transforms import load_catalogue
    from vlmaudit.scoring.cosine import CosineScorer
    from vlmaudit.suites.transforms.suite import Item, transform_scores

    engine = HashEngine()
    transforms = load_catalogue(None, seed=0)[:3]
    items = [Item(memory_image(Image.new("RGB", (8, 8), (i, 0, 0)), label=f"i{i}"), f"cap {i}")
             for i in range(2)]
    n, k = len(items), len(transforms)
    cap_desc = [[f"cap {i} d{j}" for j in range(k)] for i in range(n)]
    bare = [[f"d{j}" for j in range(k)] for _ in range(n)]
    every = [[f"d{j}", f"e{j}"] for j in range(k)]
    s, image_t = transform_scores(CosineScorer(engine), items, transforms, cap_desc, bare, every)

    def dot(ref, view, text):
        return float(engine.images([ref], [view])[0] @ engine.texts([text])[0])

    i, t, j = 1, 2, 0
    ref, view = items[i].ref, transforms[t]
    assert s.tc[i, t] == pytest.approx(dot(ref, view, cap_desc[i][t]), abs=1e-6)
    assert s.oc[i, t] == pytest.approx(dot(ref, None, cap_desc[i][t]), abs=1e-6)
    assert s.tC[i, t] == pytest.approx(dot(ref, view, items[i].caption), abs=1e-6)
    assert s.oC[i] == pytest.approx(dot(ref, None, items[i].caption), abs=1e-6)
    assert s.captioned[i, t, j] == pytest.approx(dot(ref, view, cap_desc[i][j]), abs=1e-6)
    assert s.bare[i, t, j] == pytest.approx(dot(ref, view, bare[i][j]), abs=1e-6)
    mean = torch.nn.functional.normalize(engine.texts(every[j]).mean(0), dim=0)
    assert s.ensemble[i, t, j] == pytest.approx(float(engine.images([ref], [view])[0] @ mean), abs=1e-6)
    assert np.array_equal(np.diagonal(s.captioned, axis1=1, axis2=2), s.tc)
    assert np.allclose(image_t[i, t], engine.images([ref], [view])[0].numpy())


def test_probe_split_keeps_images_whole_and_is_seeded():
    mask = sc.probe_split(10, 0.25, seed=0)
    assert mask.sum() == 2 or mask.sum() == 3
    assert np.array_equal(mask, sc.probe_split(10, 0.25, seed=0))
    assert sc.probe_split(2, 0.9, seed=0).sum() == 1  # always something on each side


def test_probe_finds_an_encoded_transform_and_not_a_missing_one():
    rng = np.random.default_rng(0)
    n, k, d = 24, 4, 16
    noise = rng.normal(size=(n, k, d))
    directions = rng.normal(size=(k, d)) * 3.0
    encoded = sc.linear_probe(noise + directions[None], 0.25, seed=0)
    held_out = encoded.correct[encoded.test_images]
    assert np.isnan(encoded.correct[~encoded.test_images]).all()
    assert held_out.mean() > 0.9
    absent = sc.linear_probe(noise, 0.5, seed=0)
    assert absent.correct[absent.test_images].mean() < 0.6
    with pytest.raises(ValueError):
        sc.linear_probe(noise[:1])


def test_identical_groups_finds_descriptions_the_text_encoder_cannot_separate():
    emb = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.6, 0.8],
                                                      [0.0, 2.0]]), dim=-1)
    assert sc.identical_groups(emb, ["a", "b", "c", "d", "e"]) == [["a", "c"], ["b", "e"]]
    assert sc.identical_groups(torch.eye(3), ["a", "b", "c"]) == []
