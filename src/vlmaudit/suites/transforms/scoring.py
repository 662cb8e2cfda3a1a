"""Decision rules of 2503.09837's three experiments and their controls, on similarity arrays.

Nothing here sees a model: every function takes cosine similarities (or embeddings), so each rule
is tested on hand-made numbers. Shapes: N images, K transforms; a trial is one (image, transform).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import torch

from vlmaudit.metrics.selection import Selection, TiePolicy, pairwise, select, top_k
from vlmaudit.scoring.probe import ProbeConfig, fit_probe

GAP_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class Scores:
    """All similarities a run needs. I = original, I' = transformed, C = caption, C' = caption + desc."""

    tc: np.ndarray  # [N, K]     s(I', C')
    oc: np.ndarray  # [N, K]     s(I, C')
    tC: np.ndarray  # [N, K]     s(I', C)
    oC: np.ndarray  # [N]        s(I, C)
    captioned: np.ndarray  # [N, K, K] s(I'_k, C'_j): Exp 3 with caption-prefixed descriptions
    bare: np.ndarray  # [N, K, K]  s(I'_k, D_j): Exp 3 with bare descriptions
    ensemble: np.ndarray | None  # [N, K, K]  s(I'_k, mean of all descriptions of j); None: not defined
    neutral_c: np.ndarray  # [N, K]  s(neutral image, C')
    neutral_C: np.ndarray  # [N]     s(neutral image, C)
    neutral_bare: np.ndarray  # [N, K] s(neutral image, D_j)


def identical_groups(embeddings: torch.Tensor, names: list[str], tol: float = 1e-6) -> list[list[str]]:
    """Transforms whose description embeddings coincide (cosine >= 1 - tol), in groups of 2+.

    A text encoder that cannot tell two descriptions apart (e.g. both read as unknown words) makes
    Exp 3 tie between them whatever the image shows; the result must say so.
    """
    same = (embeddings @ embeddings.T) >= 1.0 - tol
    groups, seen = [], set()
    for i in range(len(names)):
        if i in seen:
            continue
        members = [j for j in range(len(names)) if same[i, j]]
        seen.update(members)
        if len(members) > 1:
            groups.append([names[j] for j in members])
    return groups


def _flat_pairwise(pos: np.ndarray, neg: np.ndarray, tie_policy: TiePolicy, seed: int) -> Selection:
    """`pairwise` on [N, K] arrays; the Selection's arrays come back shaped [N, K]."""
    shape = np.broadcast_shapes(pos.shape, neg.shape)
    sel = pairwise(np.broadcast_to(pos, shape).ravel(), np.broadcast_to(neg, shape).ravel(), tie_policy, seed)
    return Selection(sel.correct.reshape(shape), sel.tied.reshape(shape))


def exp1(scores: Scores, tie_policy: TiePolicy = "strict", seed: int = 0) -> Selection:
    """Exp 1: the transformed caption is closer to the transformed image, s(I', C') > s(I, C')."""
    return _flat_pairwise(scores.tc, scores.oc, tie_policy, seed)


def exp1_plain_caption(scores: Scores, tie_policy: TiePolicy = "strict", seed: int = 0) -> Selection:
    """Exp 1's rule with the plain caption, s(I', C) > s(I, C): what Exp 1 gets without the description."""
    return _flat_pairwise(scores.tC, scores.oC[:, None], tie_policy, seed)


def exp2(scores: Scores, tie_policy: TiePolicy = "strict", seed: int = 0) -> Selection:
    """Exp 2: for the transformed image, C' beats C, s(I', C') > s(I', C)."""
    return _flat_pairwise(scores.tc, scores.tC, tie_policy, seed)


def exp2_untransformed(scores: Scores, tie_policy: TiePolicy = "strict", seed: int = 0) -> Selection:
    """Control: the same rule on the untransformed image, s(I, C') > s(I, C). High => text-side artefact."""
    return _flat_pairwise(scores.oc, scores.oC[:, None], tie_policy, seed)


def exp2_neutral_image(scores: Scores, tie_policy: TiePolicy = "strict", seed: int = 0) -> Selection:
    """Blind baseline: C' beats C for a neutral grey image, which shows no transform at all."""
    return _flat_pairwise(scores.neutral_c, scores.neutral_C[:, None], tie_policy, seed)


def wrong_partners(image_keys: list[str], names: list[str], seed: int) -> np.ndarray:
    """[N, K] index of a different transform per trial, fixed by (seed, image key, transform name)."""
    k = len(names)
    if k < 2:
        raise ValueError("the C'_wrong control needs at least two transforms")
    out = np.empty((len(image_keys), k), dtype=np.int64)
    for i, key in enumerate(image_keys):
        for j, name in enumerate(names):
            offset = 1 + zlib.crc32(f"{seed}|{key}|{name}|wrong".encode()) % (k - 1)
            out[i, j] = (j + offset) % k
    return out


def exp2_wrong(scores: Scores, wrong: np.ndarray, tie_policy: TiePolicy = "strict",
               seed: int = 0) -> Selection:
    """Control: C'_true beats C'_wrong (same caption, another transform's description) for I'."""
    n, k = scores.tc.shape
    negative = scores.captioned[np.arange(n)[:, None], np.arange(k)[None, :], wrong]
    return _flat_pairwise(scores.tc, negative, tie_policy, seed)


def gap_summary(gaps: np.ndarray) -> dict[str, float]:
    """Mean, std and 5/25/50/75/95 % quantiles of a similarity gap."""
    gaps = np.asarray(gaps, dtype=np.float64).ravel()
    summary = {"mean": float(gaps.mean()), "std": float(gaps.std())}
    for q, value in zip(GAP_QUANTILES, np.quantile(gaps, GAP_QUANTILES), strict=True):
        summary[f"q{round(q * 100):02d}"] = float(value)
    return summary


@dataclass(frozen=True)
class Ranking:
    """Exp 3 outcome for [N, K] trials ranked over K options."""

    top1: Selection
    top5: Selection
    predicted: np.ndarray  # [N, K] argmax option (first index on ties)


def rank_transforms(option_scores: np.ndarray, tie_policy: TiePolicy = "strict", seed: int = 0,
                    k: int = 5) -> Ranking:
    """Exp 3: rank the K options for each transformed image; trial (i, t)'s gold option is t.

    option_scores: [N, K, K] (image i, applied transform t, option j).
    """
    n, kk, options = option_scores.shape
    if kk != options:
        raise ValueError(f"expected [N, K, K] option scores, got {option_scores.shape}")
    flat = option_scores.reshape(n * kk, options)
    gold = np.tile(np.arange(kk), n)
    one = select(flat, gold, tie_policy, seed)
    five = top_k(flat, gold, min(k, options), tie_policy)
    shape = (n, kk)
    return Ranking(
        top1=Selection(one.correct.reshape(shape), one.tied.reshape(shape)),
        top5=Selection(five.correct.reshape(shape), five.tied.reshape(shape)),
        predicted=np.asarray(flat, dtype=np.float32).argmax(axis=1).reshape(shape),
    )


def constant_ranking(option_scores: np.ndarray, n_transforms: int, tie_policy: TiePolicy = "strict",
                     seed: int = 0) -> Ranking:
    """Blind baseline: one option ranking per image (e.g. a neutral image's), used for all its trials.

    option_scores: [N, K]. A predictor that ignores the transformed pixels can do no better than
    1/K top-1 when every image gets every transform, whatever it prefers.
    """
    return rank_transforms(np.repeat(option_scores[:, None, :], n_transforms, axis=1), tie_policy, seed)


def confusion(predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """[K, K] counts: row = applied transform, column = predicted transform."""
    n, k = predicted.shape
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.tile(np.arange(k), n), predicted.ravel()), 1)
    return matrix


def max_prediction_share(predicted: np.ndarray) -> float:
    """Share of trials given to the most often predicted option: 1/K if spread evenly, 1 if collapsed."""
    return float(np.bincount(predicted.ravel()).max() / predicted.size)


@dataclass(frozen=True)
class ProbeResult:
    correct: np.ndarray  # [N, K] float, NaN where the trial is in the training split
    predicted: np.ndarray  # [N, K] int, -1 on training trials
    test_images: np.ndarray  # [N] bool
    converged: bool


def probe_split(n_images: int, test_fraction: float, seed: int) -> np.ndarray:
    """[N] bool test mask: whole images go to one side, so no image is seen in training and test."""
    n_test = int(np.clip(round(n_images * test_fraction), 1, n_images - 1))
    mask = np.zeros(n_images, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n_images)[:n_test]] = True
    return mask


def probe_config(seed: int = 0, max_iter: int = 1000) -> ProbeConfig:
    """The suite's probe settings since it was written: standardised features, sklearn's default
    C = 1 (fixed, so no validation split is needed), test predictions by argmax (first on ties)."""
    return ProbeConfig(C=1.0, standardize=True, max_iter=max_iter, seed=seed, tie_policy="argmax-first")


def linear_probe(features: np.ndarray, test_fraction: float = 0.25, seed: int = 0,
                 max_iter: int = 1000) -> ProbeResult:
    """Logistic regression predicting the transform from frozen I' embeddings [N, K, D].

    High probe accuracy with chance-level Exp 3 means the transform is encoded in the image
    embedding but not aligned with the text that describes it. Whole images go to train or test.
    """
    n, k, d = features.shape
    if n < 2:
        raise ValueError("the linear probe needs at least two images (one to train, one to test)")
    test = probe_split(n, test_fraction, seed)
    labels = np.tile(np.arange(k), n)
    splits = np.repeat(np.where(test, "test", "train"), k)
    fit = fit_probe(features.reshape(-1, d), labels, splits, probe_config(seed, max_iter),
                    classes=range(k), data="transforms probe")
    predicted = np.full((n, k), -1, dtype=np.int64)
    predicted[test] = fit.predicted.reshape(-1, k)
    correct = np.full((n, k), np.nan)
    correct[test] = fit.top1.correct.reshape(-1, k)
    return ProbeResult(correct=correct, predicted=predicted, test_images=test, converged=fit.converged)
