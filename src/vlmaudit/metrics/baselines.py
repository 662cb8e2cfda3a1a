"""Blind baselines as plain functions: word-length tables, bag-of-words equivalence, hackable flags.

How far can a model get on a caption-selection benchmark without the image? The blind *scorers*
on the scoring seam (length, text prior, image prior, constant) are `vlmaudit.scoring.blind`; these
functions give the same [N, K] shape where a rule needs one directly. SugarCrepe ADD is won ~98%
of the time by picking the shorter caption; ARO VG-R/VG-A options have identical word multisets,
so a pure bag-of-words model can only tie there. A score only means something next to these.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

from vlmaudit.results import Metric

Options = Sequence[Sequence[str]]  # per item: its option captions, in the benchmark's order

_WORD = re.compile(r"\w+(?:'\w+)?")

HACKABLE_THRESHOLD = 0.9  # a blind scorer at or above this accuracy makes the benchmark "hackable"


def words(text: str) -> list[str]:
    """Lower-cased words without punctuation: what a bag-of-words model over words sees."""
    return _WORD.findall(text.lower())


def _width(options: Options) -> int:
    widths = {len(row) for row in options}
    if len(widths) != 1:
        raise ValueError(f"every item needs the same number of options, got {sorted(widths)}")
    return widths.pop()


def _table(options: Options, score: Callable[[str], float]) -> np.ndarray:
    _width(options)
    return np.asarray([[score(text) for text in row] for row in options], dtype=np.float32)


def length_scores(options: Options, prefer: Literal["shorter", "longer"] = "shorter") -> np.ndarray:
    """[N, K] scores of a scorer that prefers the shorter (or longer) caption, in words.

    Words, not characters: that is the unit in which SugarCrepe's ADD bias shows (positive shorter
    in 97.6% / 98.7% of add_obj / add_att items); equal word counts tie.
    """
    if prefer not in ("shorter", "longer"):
        raise ValueError(f"prefer must be 'shorter' or 'longer', got {prefer!r}")
    sign = -1.0 if prefer == "shorter" else 1.0
    return _table(options, lambda text: sign * len(words(text)))


def bow_equivalent(options: Options, gold: Sequence[int] | np.ndarray | int) -> np.ndarray:
    """[N] bool: some non-gold option has exactly the gold option's word multiset.

    A model that sees only a bag of words gives such options the gold's score, so it can at
    best tie on these items (and scores 0 on them under the strict tie policy).
    """
    gold = np.broadcast_to(np.asarray(gold, dtype=np.int64), (len(options),))
    out = np.zeros(len(options), dtype=bool)
    for i, (row, g) in enumerate(zip(options, gold, strict=True)):
        bag = Counter(words(row[g]))
        out[i] = any(Counter(words(text)) == bag for k, text in enumerate(row) if k != g)
    return out


def hackable(baselines: dict[str, float], threshold: float = HACKABLE_THRESHOLD) -> list[str]:
    """Names of the length scorers that reach `threshold` (only length: it needs no model at all)."""
    return sorted(
        name for name, value in baselines.items() if name.startswith("length_") and value >= threshold
    )


def hackable_flags(metrics: Sequence[Metric]) -> list[str]:
    """One `hackable:` result flag per metric that a caption-length scorer wins."""
    return [
        f"hackable: {m.key} blind {name} = {m.baselines[name]:.3f} >= {HACKABLE_THRESHOLD}"
        for m in metrics for name in hackable(m.baselines or {})
    ]
