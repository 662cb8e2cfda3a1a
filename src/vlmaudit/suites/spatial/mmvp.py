"""MMVP-VLM scoring: text->image pair accuracy, overall and per visual pattern.

Three rules on the same [P, statement, image] table: the configured tie policy on a plain argmax
(strict by default), the official softmax threshold (variant `legacy`: image 1 iff p > 0.5, ties pick
image 2) and numpy's argmax (variant `argmax`: ties pick image 1). Text-only scorers cannot choose between
two images, so the blind scorers here are the model's image prior (similarity to a neutral
prompt) and a constant table, which shows what the tie rule alone earns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vlmaudit.benchmarks import benchmark
from vlmaudit.data.items import ImagePair
from vlmaudit.metrics.grouped import image_pairs
from vlmaudit.metrics.kit import Kit
from vlmaudit.metrics.selection import Selection
from vlmaudit.results import Metric
from vlmaudit.scoring.base import Scorer
from vlmaudit.scoring.blind import ConstantScorer, ImagePriorScorer
from vlmaudit.suites.spatial.common import Block, emit, variants

MMVP = benchmark("mmvp-vlm")
LEGACY = MMVP.official_tie_policy  # "softmax": image 1 iff p > 0.5
CHANCE = MMVP.chance  # pair 1/4, single 1/2


def variants_for(tie_policy: str, legacy: bool) -> list[tuple[str, str]]:
    """The configured policy, the official softmax rule (legacy) and numpy's argmax (argmax)."""
    runs = variants(tie_policy, LEGACY, legacy)
    if legacy and tie_policy != "argmax-first":
        runs.append(("argmax", "argmax-first"))
    return runs


def evaluate(scorer: Scorer, kit: Kit, items: Sequence[ImagePair], *, prefix: str,
             variants: list[tuple[str, str]], logit_scale: float,
             seed: int = 0, prompt: str = "a photo.") -> tuple[list[Metric], list[dict]]:
    scores = scorer.grid([it.images for it in items], [it.texts for it in items])  # [P, statement, image]
    gold = np.array([it.gold for it in items], dtype=np.int64)
    blind_scorers = [ImagePriorScorer(scorer, prompt), ConstantScorer()]
    blind = {s.name: s.grid([it.images for it in items], [it.texts for it in items]) for s in blind_scorers}
    categories = [it.category for it in items]
    metrics: list[Metric] = []
    for variant, mode in variants:
        def block(table: np.ndarray, mode: str = mode) -> Block:
            return _block(table, gold, mode, categories, logit_scale, seed)

        metrics += emit(kit, prefix, block, scores, blind, variant, mode, {})
    main = image_pairs(scores, gold, variants[0][1], logit_scale, seed)  # under the configured rule
    samples = [
        {"qids": list(it.qids), "category": it.category, "texts": list(it.texts),
         "images": [r.label for r in it.images], "gold": list(it.gold), "scores": row.tolist(),
         "pair": float(main.pairs.outcomes[i]), "pair_tied": bool(main.pairs.tied[i])}
        for i, (it, row) in enumerate(zip(items, scores, strict=True))
    ]
    return metrics, samples


def _block(table: np.ndarray, gold: np.ndarray, mode: str, categories: list[str], logit_scale: float,
           seed: int) -> Block:
    result = image_pairs(table, gold, mode, logit_scale, seed)
    block: Block = {("", "pair"): (result.pairs, CHANCE["pair"]),
                    ("", "single"): (result.single, CHANCE["single"])}
    for category in sorted(set(categories)):
        mask = np.array([c == category for c in categories])
        rows = np.repeat(mask, 2)
        single = Selection(result.single.correct[rows], result.single.tied[rows])
        block[(f"/category/{category}", "pair")] = (result.pairs.subset(mask), CHANCE["pair"])
        block[(f"/category/{category}", "single")] = (single, CHANCE["single"])
    return block
