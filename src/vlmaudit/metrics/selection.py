"""K-way selection with an explicit tie policy.

Benchmarks disagree on ties: ARO's `np.argmax` with the negative listed first counts a tie wrong,
the same call with the positive first counts it right. Every comparison here names its policy and
reports the tie rate, so a number never depends on the order options happen to be listed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from vlmaudit.errors import SpecError

TiePolicy = Literal["strict", "lenient", "argmax-first", "half", "random"]
TIE_POLICIES: tuple[str, ...] = ("strict", "lenient", "argmax-first", "half", "random")


def check_tie_policy(policy: str, extra: tuple[str, ...] = ()) -> str:
    """A user's tie_policy option, checked before any scoring; `extra` adds a suite's own names."""
    allowed = (*TIE_POLICIES, *extra)
    if policy not in allowed:
        raise SpecError(f"tie_policy {policy!r} is not one of {allowed}")
    return policy


@dataclass(frozen=True)
class Selection:
    correct: np.ndarray  # [N] float: 1, 0, or a fraction under "half"
    tied: np.ndarray  # [N] bool: the gold option shares the top score with another option

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean()) if self.correct.size else float("nan")

    @property
    def tie_rate(self) -> float:
        return float(self.tied.mean()) if self.tied.size else float("nan")


def _as_scores(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float32)  # ties are judged at fp32, as scores are stored
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(f"scores must be [N, K>=2], got shape {scores.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or inf")
    return scores


def select(
    scores: np.ndarray,
    gold: np.ndarray | int,
    tie_policy: TiePolicy = "strict",
    seed: int = 0,
) -> Selection:
    """Is the gold option the top-scoring one? scores: [N, K]; gold: [N] indices or one index."""
    scores = _as_scores(scores)
    n, k = scores.shape
    gold = np.broadcast_to(np.asarray(gold, dtype=np.int64), (n,))
    gold_score = scores[np.arange(n), gold]
    top = scores.max(axis=1)
    at_top = scores == top[:, None]
    n_at_top = at_top.sum(axis=1)
    gold_at_top = gold_score == top
    tied = gold_at_top & (n_at_top > 1)

    if tie_policy == "strict":
        correct = gold_at_top & ~tied
    elif tie_policy == "lenient":
        correct = gold_at_top
    elif tie_policy == "argmax-first":
        correct = scores.argmax(axis=1) == gold
    elif tie_policy == "half":
        return Selection(np.where(gold_at_top, 1.0 / n_at_top, 0.0), tied)
    elif tie_policy == "random":
        rng = np.random.default_rng(seed)
        noise = rng.random((n, k))
        pick = np.where(at_top, noise, -1.0).argmax(axis=1)
        correct = pick == gold
    else:
        raise ValueError(f"unknown tie_policy {tie_policy!r} (use one of {TIE_POLICIES})")
    return Selection(correct.astype(np.float64), tied)


def pairwise(
    positive: np.ndarray, negative: np.ndarray, tie_policy: TiePolicy = "strict", seed: int = 0
) -> Selection:
    """Binary test `positive > negative`, the form most papers write down."""
    return select(np.stack([np.asarray(positive), np.asarray(negative)], axis=1), 0, tie_policy, seed)


def top_k(scores: np.ndarray, gold: np.ndarray | int, k: int, tie_policy: TiePolicy = "strict") -> Selection:
    """Is gold within the top k? strict: options tied with gold rank above it; lenient: below.

    `argmax-first` follows a stable descending sort (earlier options win ties); `half` and
    `random` are defined for top-1 only and fall back to strict here.
    """
    scores = _as_scores(scores)
    n = scores.shape[0]
    gold = np.broadcast_to(np.asarray(gold, dtype=np.int64), (n,))
    gold_score = scores[np.arange(n), gold][:, None]
    greater = (scores > gold_score).sum(axis=1)
    equal_others = (scores == gold_score).sum(axis=1) - 1
    tied = equal_others > 0
    if tie_policy == "lenient":
        rank = greater
    elif tie_policy == "argmax-first":
        order = np.argsort(-scores, axis=1, kind="stable")
        rank = (order == gold[:, None]).argmax(axis=1)
    else:
        rank = greater + equal_others
    return Selection((rank < k).astype(np.float64), tied)
