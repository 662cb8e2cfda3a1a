"""Suite `colour_names`, written step by step in docs/adding_a_suite.md.

Items: labelled images (`LabelledImage`). Trial: each image against every class name, as a K-way
caption choice. Rule: `select` with an explicit tie policy. Baselines: the caption-length and
text-prior scorers through the same rule. Metric: through the kit, with its chance level.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from vlmaudit.data.items import LabelledImage
from vlmaudit.metrics.kit import Kit
from vlmaudit.metrics.selection import select
from vlmaudit.scoring.blind import caption_blind
from vlmaudit.suites.base import Evaluation, Suite, SuiteConfig, TiePolicy


class Config(SuiteConfig):
    template: str = "a {} image."
    tie_policy: TiePolicy = "strict"
    n_boot: int = Field(200, ge=1)
    seed: int = 0


class ColourNames(Suite):
    name = "colour_names"
    Config = Config
    default_data = ("fake",)
    accepts = (LabelledImage,)

    def evaluate(self, ctx, data, config: Config) -> Evaluation:
        kit = Kit(config.seed, config.n_boot)
        metrics, samples = [], {}
        for key, items in data.items_of(LabelledImage).items():
            classes = sorted({item.label for item in items})
            options = [[config.template.format(c) for c in classes]] * len(items)
            gold = np.array([classes.index(item.label) for item in items])
            images = [item.image for item in items]
            scorers = [ctx.scorer, *caption_blind(ctx.scorer)]  # the model, then the blind baselines
            tables = {s.name: s.image_options(images, options) for s in scorers}
            outcomes = {name: select(t, gold, config.tie_policy, config.seed) for name, t in tables.items()}
            model = outcomes.pop("model")
            metrics.append(kit.metric("accuracy", model.correct, group=key, chance=1 / len(classes),
                                      tied=model.tied, rule=config.tie_policy,
                                      baselines={name: sel.correct for name, sel in outcomes.items()}))
            samples[key] = [{"label": item.label, "scores": tables["model"][i].tolist(),
                             "correct": float(model.correct[i])} for i, item in enumerate(items)]
        return Evaluation(metrics, samples, headline=[m.key for m in metrics])


SUITE = ColourNames()
