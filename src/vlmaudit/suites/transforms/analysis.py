"""From similarity arrays to the transforms suite's metrics, tables and per-trial outcomes.

Every image gets every selected transform, so trials form an N x K table with equal-sized
clusters per image: the kit's bootstrap over its rows is the image-clustered one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vlmaudit.benchmarks import Reference
from vlmaudit.metrics.baselines import length_scores
from vlmaudit.metrics.kit import Kit
from vlmaudit.metrics.selection import Selection, TiePolicy, pairwise
from vlmaudit.results import Metric
from vlmaudit.suites.transforms import scoring as sc


@dataclass
class Analysis:
    metrics: list[Metric] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # JSON tables: gap summaries, confusion matrices
    flags: list[str] = field(default_factory=list)
    outcomes: dict[str, np.ndarray] = field(default_factory=dict)  # [N, K] per-trial decisions


@dataclass(frozen=True)
class Setup:
    names: list[str]
    categories: list[str]
    tie_policy: TiePolicy = "strict"
    seed: int = 0
    n_boot: int = 1000
    probe_test_fraction: float = 0.25
    references: tuple[Reference, ...] = ()  # the paper's numbers for this model, if it evaluated it

    @property
    def k(self) -> int:
        return len(self.names)

    @property
    def kit(self) -> Kit:
        return Kit(self.seed, self.n_boot, self.references)


def analyse(scores: sc.Scores, wrong: np.ndarray, features: np.ndarray, texts: tuple[list, list],
            setup: Setup) -> Analysis:
    """texts = (C' per trial [N][K], C per image [N]), for the caption-length baseline."""
    out = Analysis()
    _binary(out, scores, wrong, texts, setup)
    _exp3(out, scores, setup)
    _probe(out, features, setup)
    out.extra["chance"] = {"binary": 0.5, "top1": 1 / setup.k, "top5": min(5, setup.k) / setup.k}
    out.extra["paper_model"] = setup.references[0].model if setup.references else None
    return out


def breakdown(setup: Setup, name: str, group: str, values: np.ndarray, tied: np.ndarray | None, *,
              chance: float | None, rule: str | None = None, higher_is_better: bool = True) -> list[Metric]:
    """Per-transform (`group/transform/NAME`) and per-category (`group/category/CAT`) metrics."""
    def cut(table: np.ndarray | None, cols: int | Sequence[int]) -> np.ndarray | None:
        return None if table is None else table[:, cols]

    common = {"chance": chance, "rule": rule, "higher_is_better": higher_is_better}
    out = [setup.kit.metric(name, values[:, j], group=f"{group}/transform/{transform}", tied=cut(tied, j),
                            **common) for j, transform in enumerate(setup.names)]
    for category in dict.fromkeys(setup.categories):
        cols = [j for j, c in enumerate(setup.categories) if c == category]
        out.append(setup.kit.metric(name, values[:, cols], group=f"{group}/category/{category}",
                                    tied=cut(tied, cols), **common))
    return out


def _metrics(out: Analysis, name: str, group: str, sel: Selection, setup: Setup, chance: float, *,
             baselines: dict[str, float] | None = None, notes: str = "") -> None:
    """The overall metric of a Selection over [N, K] trials (with the paper's number), then its breakdowns."""
    rule = setup.tie_policy
    out.metrics.append(setup.kit.metric(name, sel.correct, group=group, rule=rule, chance=chance,
                                        tied=sel.tied, baselines=baselines, notes=notes))
    out.metrics += breakdown(setup, name, group, sel.correct, sel.tied, chance=chance, rule=rule)


def _gaps(out: Analysis, group: str, gaps: np.ndarray, setup: Setup, notes: str) -> None:
    """Mean similarity gap with CIs (chance 0: no preference), overall and broken down."""
    out.metrics.append(setup.kit.metric("gap_mean", gaps, group=group, chance=0.0, notes=notes))
    out.metrics += breakdown(setup, "gap_mean", group, gaps, None, chance=0.0)
    out.extra[f"{group}/gap"] = {
        "overall": sc.gap_summary(gaps),
        "per_transform": {name: sc.gap_summary(gaps[:, j]) for j, name in enumerate(setup.names)},
    }


def _binary(out: Analysis, scores: sc.Scores, wrong: np.ndarray, texts: tuple[list, list],
            setup: Setup) -> None:
    """Exp 1, Exp 2 and the Exp 2 controls: all binary, chance 50%."""
    tie, seed = setup.tie_policy, setup.seed
    e1, plain = sc.exp1(scores, tie, seed), sc.exp1_plain_caption(scores, tie, seed)
    e2, e2_wrong = sc.exp2(scores, tie, seed), sc.exp2_wrong(scores, wrong, tie, seed)
    e2_orig, neutral = sc.exp2_untransformed(scores, tie, seed), sc.exp2_neutral_image(scores, tie, seed)
    cap_desc, captions = texts
    options = [[cap_desc[i][j], captions[i]] for i in range(len(captions)) for j in range(setup.k)]
    longer = pairwise(*length_scores(options, prefer="longer").T, tie_policy=tie, seed=seed)

    _metrics(out, "accuracy", "exp1", e1, setup, 0.5,
             baselines={"plain_caption": plain.accuracy}, notes="s(I',C') > s(I,C')")
    _metrics(out, "accuracy", "exp2", e2, setup, 0.5,
             baselines={"length_longer": longer.accuracy, "neutral_image": neutral.accuracy},
             notes="s(I',C') > s(I',C)")
    _metrics(out, "accuracy", "control/exp2_wrong", e2_wrong, setup, 0.5,
             notes="s(I',C'_true) > s(I',C'_wrong); C'_wrong describes another transform")
    _metrics(out, "accuracy", "control/exp2_untransformed", e2_orig, setup, 0.5,
             notes="s(I,C') > s(I,C) on the untransformed image: high means a text-side artefact")
    gap, gap_orig = scores.tc - scores.tC, scores.oc - scores.oC[:, None]
    _gaps(out, "exp2", gap, setup, "s(I',C') - s(I',C)")
    _gaps(out, "control/exp2_untransformed", gap_orig, setup, "s(I,C') - s(I,C)")
    _gaps(out, "control/visual_gap", gap - gap_orig, setup,
          "[s(I',C')-s(I',C)] - [s(I,C')-s(I,C)]: the part of Exp 2's gap that I' adds")

    out.outcomes |= {"exp1": e1.correct, "exp1_tied": e1.tied, "exp2": e2.correct, "exp2_tied": e2.tied,
                     "exp2_wrong": e2_wrong.correct, "exp2_untransformed": e2_orig.correct}


def _exp3(out: Analysis, scores: sc.Scores, setup: Setup) -> None:
    """Exp 3 over three option formats, against the neutral image's constant ranking."""
    k = setup.k
    blind = sc.constant_ranking(scores.neutral_bare, k, setup.tie_policy, setup.seed)
    variants = {"bare": scores.bare, "captioned": scores.captioned, "ensemble": scores.ensemble}
    variants = {name: table for name, table in variants.items() if table is not None}
    confusions, most = {}, {}
    for variant, option_scores in variants.items():
        ranking = sc.rank_transforms(option_scores, setup.tie_policy, setup.seed)
        for top, sel, blind_sel, chance in (("top1", ranking.top1, blind.top1, 1 / k),
                                            ("top5", ranking.top5, blind.top5, min(5, k) / k)):
            _metrics(out, top, f"exp3/{variant}", sel, setup, chance,
                     baselines={"neutral_image": blind_sel.accuracy})
        favourite = int(np.bincount(ranking.predicted.ravel(), minlength=k).argmax())
        out.metrics.append(setup.kit.metric(
            "max_prediction_share", ranking.predicted == favourite, group=f"exp3/{variant}", chance=1 / k,
            higher_is_better=False,
            notes=f"share of trials predicted as the most predicted transform ({setup.names[favourite]})"))
        confusions[variant] = sc.confusion(ranking.predicted, k).tolist()
        most[variant] = setup.names[favourite]
        out.outcomes |= {f"exp3_{variant}_top1": ranking.top1.correct,
                         f"exp3_{variant}_top5": ranking.top5.correct,
                         f"exp3_{variant}_pred": ranking.predicted}
    out.extra |= {"exp3_confusion": confusions, "exp3_most_predicted": most}


def _probe(out: Analysis, features: np.ndarray, setup: Setup) -> None:
    """Linear probe on frozen I' embeddings, scored on held-out images only."""
    n, k = features.shape[:2]
    out.outcomes["probe_correct"] = np.full((n, k), np.nan)
    out.outcomes["probe_pred"] = np.full((n, k), -1)
    if n < 2:
        out.flags.append("linear probe skipped: it needs at least two images")
        return
    probe = sc.linear_probe(features, setup.probe_test_fraction, setup.seed)
    held_out = probe.correct[probe.test_images]
    out.metrics.append(setup.kit.metric(
        "accuracy", held_out, group="control/probe", chance=1 / k,
        notes=f"logistic regression (C=1 fixed, standardised features) on frozen I' embeddings; "
              f"{len(held_out)} held-out images"))
    out.metrics += breakdown(setup, "accuracy", "control/probe", held_out, None, chance=1 / k)
    out.outcomes |= {"probe_correct": probe.correct, "probe_pred": probe.predicted}
    if not probe.converged:
        out.flags.append("linear probe: logistic regression hit its iteration limit")
