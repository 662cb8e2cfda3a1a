"""Winoground scoring: text, image and group scores, overall and per tag, with blind scorers.

Blind scorers are put into the same [N, caption, image] table: a caption-only scorer (length,
the model's caption prior) gives both images the same column, an image-only scorer (the model's
image prior: similarity to a neutral prompt) gives both captions the same row. Each can therefore
win at most one half of a 2x2 group, which is the point of the benchmark.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vlmaudit.benchmarks import benchmark
from vlmaudit.data.items import WinogroundGroup
from vlmaudit.data.readers.winoground import TAG_FIELDS
from vlmaudit.metrics.baselines import bow_equivalent
from vlmaudit.metrics.grouped import winoground
from vlmaudit.metrics.kit import Kit
from vlmaudit.results import Metric
from vlmaudit.scoring.base import Scorer
from vlmaudit.scoring.blind import ImagePriorScorer, caption_blind
from vlmaudit.suites.spatial.common import Block, emit

WINOGROUND = benchmark("winoground")
LEGACY = WINOGROUND.official_tie_policy  # the paper's `>`; CLIP_benchmark's argmax is argmax-first
CHANCE = WINOGROUND.chance  # text, image 1/4; group 1/6


def evaluate(scorer: Scorer, kit: Kit, items: Sequence[WinogroundGroup], *, prefix: str,
             variants: list[tuple[str, str]], seed: int = 0,
             prompt: str = "a photo.") -> tuple[list[Metric], list[dict]]:
    captions = [it.captions for it in items]
    scores = scorer.grid([it.images for it in items], captions)  # [N, caption, image]
    blind = blind_tables(scorer, captions, [it.images for it in items], prompt)
    extra = {"bow_equivalent": float(bow_equivalent(captions, 0).mean())}
    tags = {f: [it.tags.get(f) for it in items] for f in TAG_FIELDS}
    metrics: list[Metric] = []
    for variant, policy in variants:
        def block(table: np.ndarray, policy: str = policy) -> Block:
            return _block(table, policy, tags, seed)

        metrics += emit(kit, prefix, block, scores, blind, variant, policy, extra)
    main = winoground(scores, variants[0][1], seed)  # per-group outcomes under the configured rule
    samples = [
        {"id": it.id, "captions": list(it.captions), "images": [r.label for r in it.images],
         "scores": row.tolist(), **it.tags, "text_correct": float(main.text.outcomes[i]),
         "image_correct": float(main.image.outcomes[i]), "group_correct": float(main.group.outcomes[i]),
         "group_tied": bool(main.group.tied[i])}
        for i, (it, row) in enumerate(zip(items, scores, strict=True))
    ]
    return metrics, samples


def blind_tables(scorer: Scorer, captions: list[tuple[str, str]], images: Sequence[Sequence],
                 prompt: str = "a photo.") -> dict:
    """[N, 2, 2] image-blind and text-blind score tables (a caption-only scorer fills both image columns)."""
    scorers = [*caption_blind(scorer, prompt), ImagePriorScorer(scorer, prompt)]
    return {s.name: s.grid(images, captions) for s in scorers}


def _block(table: np.ndarray, policy: str, tags: dict[str, list], seed: int) -> Block:
    result = winoground(table, policy, seed)  # type: ignore[arg-type]
    scores = {"text": result.text, "image": result.image, "group": result.group}
    block: Block = {("", name): (g, CHANCE[name]) for name, g in scores.items()}
    for field, values in tags.items():
        for value in sorted({v for v in values if v is not None}):
            mask = np.array([v == value for v in values])
            for name, g in scores.items():
                block[(f"/{field}/{value}", name)] = (g.subset(mask), CHANCE[name])
    return block
