"""What'sUp scoring: 4-way individual/pair/set accuracy, Li et al.'s two-way variant, caption priors.

Used for the released subsets and for the generated What'sUp-like sets alike; a `Subset` says
which prepositions form a group and which pairs are opposites. Denominators are the official
code's: pair accuracy / (N/2), set accuracy / (N/4); Li et al. per relation pair: individual /
(N/2), pairs / (N/4), where N is the subset's number of images.

Each score table (the model's, each blind scorer's, the prior-normalised one) goes through the
same `_four_way` / `_two_way` function, so a baseline is always scored by the benchmark's own rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vlmaudit.benchmarks import benchmark
from vlmaudit.data.items import SpatialChoice
from vlmaudit.data.readers.whatsup import Subset
from vlmaudit.errors import DataError
from vlmaudit.metrics.baselines import bow_equivalent
from vlmaudit.metrics.grouped import relation_pairs, relation_sets
from vlmaudit.metrics.kit import Kit
from vlmaudit.metrics.selection import Selection, pairwise, select
from vlmaudit.results import Metric
from vlmaudit.scoring.base import Scorer
from vlmaudit.scoring.blind import ConstantScorer, caption_blind
from vlmaudit.suites.spatial.common import Block, emit, share, value

LEGACY_4WAY = benchmark("whatsup").official_tie_policy  # np.argmax, gold caption first: ties count correct
LEGACY_2WAY = benchmark("whatsup/two-way").official_tie_policy  # Li et al.: p_gold > p_opposite
PRIOR_NOTE = "caption-prior normalised: s(i,t) - mean over reference images i' of s(i',t)"

@dataclass
class WhatsUpRun:
    metrics: list[Metric]
    samples: list[dict]
    flags: list[str]
    individual: dict[str, float]  # variant -> 4-way individual accuracy (Table 1 means)


@dataclass(frozen=True)
class _Layout:
    """What the grouped metrics need to know about a subset's items."""

    subset: Subset
    groups: list[str]
    rels: list[str]
    k: int

    @property
    def n(self) -> int:
        return len(self.groups)


def evaluate(scorer: Scorer, kit: Kit, subset: Subset, items: Sequence[SpatialChoice], *, prefix: str,
             variants: list[tuple[str, str]], two_way_variants: list[tuple[str, str]],
             prior: np.ndarray | None = None, seed: int = 0, prompt: str = "a photo.") -> WhatsUpRun:
    """All What'sUp metrics of one subset. `prior`: [N, K] caption prior to subtract, or None;
    `prompt`: the neutral prompt of the text-prior baseline."""
    widths = {len(it.options) for it in items}
    if len(widths) != 1:
        raise DataError(f"What'sUp subset {subset.name}: items have {sorted(widths)} caption options")
    layout = _Layout(subset, [it.group for it in items], [it.relation for it in items], widths.pop())
    group = f"{prefix}/{subset.name}"
    options = [it.options for it in items]
    images = [it.image for it in items]
    scores = scorer.image_options(images, options)
    blind_scorers = [ConstantScorer(), *caption_blind(scorer, prompt)]
    blind = {s.name: s.image_options(images, options) for s in blind_scorers}
    extra = {"bow_equivalent": float(bow_equivalent(options, 0).mean())}
    metrics: list[Metric] = []
    individual: dict[str, float] = {}
    for variant, policy in variants:
        def four(table: np.ndarray, policy: str = policy, breakdown: bool = True) -> Block:
            return _four_way(select(table, 0, policy, seed), layout, breakdown)

        metrics += emit(kit, group, four, scores, blind, variant, policy, extra)
        individual[variant] = value(four(scores)[("", "individual")][0])
        if prior is not None:
            def normalised(table: np.ndarray, policy: str = policy) -> Block:
                return four(table, policy, breakdown=False)

            constant = {"constant": blind["constant"]}  # what a text-only scorer becomes once normalised
            metrics += emit(kit, group, normalised, scores - prior, constant, variant, policy, {},
                            "_prior_norm", PRIOR_NOTE)
    flags: list[str] = []
    opp = [it.opposite for it in items]
    keep = np.array([i for i, o in enumerate(opp) if o is not None], dtype=np.int64)
    if subset.controlled and layout.k > 2 and keep.size:
        if keep.size < len(items):
            flags.append(f"{group}/two-way: {len(items) - keep.size} images without a unique "
                         "opposite-preposition caption are left out")
        cols = np.array([opp[i] for i in keep], dtype=np.int64)
        for variant, policy in two_way_variants:
            def two(table: np.ndarray, policy: str = policy) -> Block:
                return _two_way(pairwise(table[keep, 0], table[keep, cols], policy, seed), layout, keep)

            metrics += emit(kit, f"{group}/two-way", two, scores, blind, variant, policy, {})
    main = select(scores, 0, variants[0][1], seed)  # per-item outcome under the configured rule
    samples = [
        {"subset": subset.name, "image": it.image.label, "group": it.group, "relation": it.relation,
         "options": list(it.options), "opposite": it.opposite, "scores": [float(v) for v in row],
         "individual": float(main.correct[i]), "individual_tied": bool(main.tied[i])}
        for i, (it, row) in enumerate(zip(items, scores, strict=True))
    ]
    return WhatsUpRun(metrics, samples, flags, individual)


def _four_way(sel: Selection, layout: _Layout, breakdown: bool) -> Block:
    k, n, subset = layout.k, layout.n, layout.subset
    groups, rels = layout.groups, layout.rels
    block: Block = {("", "individual"): (sel, 1 / k)}
    if subset.controlled:
        block[("", "pair")] = (relation_pairs(sel, groups, rels, subset.opposites, n / 2), k**-2)
        full = relation_sets(sel, groups, rels, subset.relations, n / 4)
        block[("", "set")] = (full, k ** -len(subset.relations))
    for rel in dict.fromkeys(layout.rels) if breakdown else ():
        block[(f"/relation/{rel}", "individual")] = (share(sel, np.asarray(layout.rels) == rel, None), 1 / k)
    return block


def _two_way(sel: Selection, layout: _Layout, keep: np.ndarray) -> Block:
    """Li et al.: denominators use the subset's full size N, not the kept count."""
    subset, n = layout.subset, layout.n
    groups = [layout.groups[i] for i in keep]
    rels = [layout.rels[i] for i in keep]
    full = relation_sets(sel, groups, rels, subset.relations, n / 4)
    block: Block = {
        ("", "individual"): (share(sel, np.ones(len(keep), bool), n), 0.5),
        ("", "pair"): (relation_pairs(sel, groups, rels, subset.opposites, n / 2), 0.25),
        ("", "set"): (full, 2.0 ** -len(subset.relations)),
    }
    for a, b in subset.opposites:
        block[(f"/{a}-{b}", "individual")] = (share(sel, np.isin(rels, (a, b)), n / 2), 0.5)
        block[(f"/{a}-{b}", "pair")] = (relation_pairs(sel, groups, rels, [(a, b)], n / 4), 0.25)
    return block
