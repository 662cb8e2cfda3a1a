"""A minimal suite for runner tests: scores captions for a few in-memory images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from vlmaudit.data.images import memory_image
from vlmaudit.data.source import DataSpec, fingerprint_of
from vlmaudit.errors import SpecError
from vlmaudit.metrics.selection import select
from vlmaudit.metrics.summary import selection_metric
from vlmaudit.results import SuiteResult
from vlmaudit.suites.base import SuiteConfig

CALLS: list[str] = []


@dataclass
class FakeSource:
    spec: DataSpec
    kind: str = "fake"

    def fingerprint(self) -> str:
        return fingerprint_of(self.spec.name, self.spec.options)


def open_source(spec: DataSpec) -> FakeSource:
    return FakeSource(spec)


class Config(SuiteConfig):
    n: int = 4  # checked by hand in `check`, so the runner's check-before-mkdir path stays tested
    fail: bool = False
    seed: int = 0


class FakeSuite:
    name = "fake"
    Config = Config
    default_data = ("fake",)
    accepts = ("fake",)

    def check(self, config):
        if config.n < 1:
            raise SpecError(f"n must be >= 1, got {config.n}")

    def run(self, ctx, data, config):
        CALLS.append(data.spec.name)
        if config.fail:
            raise RuntimeError("suite crashed half-way")
        colours = [(255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 255, 0)][: config.n]
        refs = [memory_image(Image.new("RGB", (16, 16), c)) for c in colours]
        images = ctx.engine.images(refs).numpy()
        texts = ctx.engine.texts(["red", "blue", "green", "yellow"][: config.n]).numpy()
        sel = select(images @ texts.T, np.arange(config.n))
        return [SuiteResult(
            suite=self.name, model=ctx.model.spec, data=data.spec.name,
            metrics=[selection_metric("accuracy", sel, chance=1 / config.n)],
            config={"n": config.n}, samples={"trials": [{"i": i, "correct": float(c)}
                                                        for i, c in enumerate(sel.correct)]},
        )]

    def figures(self, result, samples):
        """A curve of the stored per-trial outcomes: drawn from results.json and samples alone."""
        from matplotlib.figure import Figure

        figure = Figure()
        figure.subplots().plot([row["correct"] for row in samples["trials"]])
        return {"curve": figure}


SUITE = FakeSuite()
