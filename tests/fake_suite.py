"""A minimal suite for runner tests: scores captions for a few in-memory images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from vlmaudit.data.images import memory_image
from vlmaudit.data.items import LabelledImage
from vlmaudit.data.source import DataSpec, check_item_type, fingerprint_of
from vlmaudit.errors import SpecError
from vlmaudit.metrics.kit import Kit
from vlmaudit.metrics.selection import select
from vlmaudit.suites.base import Evaluation, Suite, SuiteConfig

CALLS: list[str] = []


COLOURS = {"red": (255, 0, 0), "blue": (0, 0, 255), "green": (0, 255, 0), "yellow": (255, 255, 0)}


@dataclass
class FakeSource:
    """Four plain-colour images labelled with their colour name."""

    spec: DataSpec
    kind: str = "fake"

    @property
    def item_types(self) -> frozenset[type]:
        return frozenset({LabelledImage})

    def items_of(self, kind: type, *, seed: int = 0, count: int | None = None) -> dict[str, list]:
        check_item_type(self, kind)
        return {"fake": [LabelledImage(memory_image(Image.new("RGB", (16, 16), rgb)), name)
                         for name, rgb in COLOURS.items()]}

    def fingerprint(self) -> str:
        return fingerprint_of(self.spec.name, self.spec.options)


def open_source(spec: DataSpec) -> FakeSource:
    return FakeSource(spec)


class Config(SuiteConfig):
    n: int = 4  # checked by hand in `check`, so the runner's check-before-mkdir path stays tested
    fail: bool = False
    seed: int = 0


class FakeSuite(Suite):
    name = "fake"
    Config = Config
    default_data = ("fake",)
    accepts = (LabelledImage,)

    def check(self, config):
        if config.n < 1:
            raise SpecError(f"n must be >= 1, got {config.n}")

    def evaluate(self, ctx, data, config):
        CALLS.append(data.spec.name)
        if config.fail:
            raise RuntimeError("suite crashed half-way")
        items = data.items_of(LabelledImage)["fake"][: config.n]
        images = ctx.engine.images([item.image for item in items]).numpy()
        texts = ctx.engine.texts([item.label for item in items]).numpy()
        sel = select(images @ texts.T, np.arange(config.n))
        return Evaluation(
            metrics=[Kit().metric("accuracy", sel.correct, tied=sel.tied, chance=1 / config.n)],
            samples={"trials": [{"i": i, "correct": float(c)} for i, c in enumerate(sel.correct)]},
        )

    def figures(self, result, samples):
        """A curve of the stored per-trial outcomes: drawn from results.json and samples alone."""
        from matplotlib.figure import Figure

        figure = Figure()
        figure.subplots().plot([row["correct"] for row in samples["trials"]])
        return {"curve": figure}


SUITE = FakeSuite()
