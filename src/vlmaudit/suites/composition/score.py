"""Score caption-choice items once, then apply each benchmark's rule to the model and to blind scorers.

The model's [N, K] table and the blind tables (caption length both ways, the model's own text prior)
go through the *same* rule and aggregator, so every metric carries baselines that mean exactly
what the metric means: same items, same tie policy, same macro grouping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from vlmaudit.data.items import CaptionChoice
from vlmaudit.metrics.baselines import bow_equivalent
from vlmaudit.metrics.selection import TiePolicy, pairwise, select
from vlmaudit.scoring.base import Scorer


@dataclass
class Tables:
    """Score tables of one subset: "model" plus the blind scorers, each [N, K] fp32."""

    by_scorer: dict[str, np.ndarray]

    @property
    def model(self) -> np.ndarray:
        return self.by_scorer["model"]

    @property
    def blind(self) -> list[str]:
        """The blind scorers' names, in the order they were given."""
        return [name for name in self.by_scorer if name != "model"]


def score_tables(scorers: Sequence[Scorer], subsets: dict[str, list[CaptionChoice]]) -> dict[str, Tables]:
    """Every subset's [N, K] table under the model's scorer and each blind scorer (by scorer name)."""
    out = {}
    for name, subset in subsets.items():
        images, options = [item.image for item in subset], [item.options for item in subset]
        out[name] = Tables({scorer.name: scorer.image_options(images, options) for scorer in scorers})
    return out


@dataclass(frozen=True)
class Outcome:
    """Per-item values of each metric of a rule, and which items were tied."""

    values: dict[str, np.ndarray]
    tied: np.ndarray


def choice_rule(metric: str) -> Callable[[np.ndarray, np.ndarray, TiePolicy, int], Outcome]:
    """K-way selection of the gold option (ARO, SugarCrepe, Order) under a tie policy."""

    def rule(table: np.ndarray, gold: np.ndarray, policy: TiePolicy, seed: int) -> Outcome:
        selection = select(table, gold, policy, seed)
        return Outcome({metric: selection.correct}, selection.tied)

    return rule


def triplet_rule(table: np.ndarray, gold: np.ndarray, policy: TiePolicy, seed: int) -> Outcome:
    """Hard positives on options (c, c_p, c_n), in one pass (the official code uses two).

    Orig = c beats c_n; Aug = c and c_p both beat c_n; Brittleness = c_n strictly between c and
    c_p (the model prefers a meaning-changing edit over a meaning-preserving one, or the reverse
    ranking of the original), as the paper writes it, with strict inequalities under any policy.
    Tied = c_n equals c or c_p (the count the official script prints).
    """
    c, c_p, c_n = (np.asarray(table[:, k], dtype=np.float32) for k in range(3))
    orig = pairwise(c, c_n, policy, seed)
    hard = pairwise(c_p, c_n, policy, seed + 1)
    brittle = ((c > c_n) & (c_n > c_p)) | ((c_p > c_n) & (c_n > c))
    values = {"orig_accuracy": orig.correct, "aug_accuracy": orig.correct * hard.correct,
              "brittleness": brittle.astype(np.float64)}
    return Outcome(values, (c == c_n) | (c_p == c_n))


@dataclass
class Evaluated:
    """One subset scored under one rule: per-scorer outcomes plus what combining needs."""

    group: str
    items: list[CaptionChoice]
    tables: Tables
    outcomes: dict[str, Outcome]  # scorer -> outcome
    bow: np.ndarray  # [N] bool: a pure bag-of-words model can only tie
    extra: dict = field(default_factory=dict)

    @property
    def clusters(self) -> np.ndarray:
        return np.asarray([item.image.key for item in self.items])

    @property
    def groups(self) -> list[str]:
        return [item.group for item in self.items]


def evaluate(
    group: str,
    items: list[CaptionChoice],
    tables: Tables,
    rule: Callable[[np.ndarray, np.ndarray, TiePolicy, int], Outcome],
    policy: TiePolicy,
    seed: int,
    *,
    triplet: bool = False,
) -> Evaluated:
    gold = np.asarray([item.gold for item in items], dtype=np.int64)
    outcomes = {name: rule(table, gold, policy, seed) for name, table in tables.by_scorer.items()}
    # BoW equivalence compares the gold with the negatives only: a triplet's c_p is a positive.
    pairs: Sequence[Sequence[str]] = [(i.options[0], i.options[2]) for i in items] if triplet else [
        i.options for i in items
    ]
    bow = bow_equivalent(pairs, 0 if triplet else gold)
    return Evaluated(group, items, tables, outcomes, bow)


def policy_sweep(
    table: np.ndarray,
    gold: np.ndarray,
    rule: Callable[[np.ndarray, np.ndarray, TiePolicy, int], Outcome],
    policies: Sequence[str],
    seed: int,
    aggregate: Callable[[np.ndarray], float],
) -> dict[str, dict[str, float]]:
    """metric -> {policy: value}: how much of a number is decided by the tie rule alone."""
    out: dict[str, dict[str, float]] = {}
    for policy in policies:
        for metric, values in rule(table, gold, policy, seed).values.items():  # type: ignore[arg-type]
            out.setdefault(metric, {})[policy] = aggregate(values)
    return out


def sample_rows(evaluated: Evaluated, main: str) -> list[dict]:
    """Per-item records (scores of every option) so any metric can be recomputed offline."""
    model = evaluated.tables.model
    outcome = evaluated.outcomes["model"]
    return [
        {
            "group": evaluated.group,
            "item_id": item.item_id,
            "image": item.image.label,
            "key": item.group,
            "options": list(item.options),
            "gold": item.gold,
            "scores": [float(v) for v in model[i]],
            main: float(outcome.values[main][i]),
            f"{main}_tied": bool(outcome.tied[i]),
            # every per-item value of the rule (triplets: orig/aug accuracy and brittleness)
            **{name: float(values[i]) for name, values in outcome.values.items() if name != main},
            "tied": bool(outcome.tied[i]),
            "bow_equivalent": bool(evaluated.bow[i]),
        }
        for i, item in enumerate(evaluated.items)
    ]
