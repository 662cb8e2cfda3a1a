"""A minimal suite for runner tests: scores captions for a few in-memory images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from vlmaudit.data.images import memory_image
from vlmaudit.data.source import DataSpec, fingerprint_of
from vlmaudit.errors import SpecError
from vlmaudit.metrics.kit import Kit
from vlmaudit.metrics.selection import select
from vlmaudit.results import SuiteResult

CALLS: list[str] = []


@dataclass
class FakeSource:
    spec: DataSpec
    kind: str = "fake"

    def fingerprint(self) -> str:
        return fingerprint_of(self.spec.name, self.spec.options)


def open_source(spec: DataSpec) -> FakeSource:
    return FakeSource(spec)


@dataclass
class Config:
    n: int = 4
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
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.plot(sel.correct)
        return [SuiteResult(
            suite=self.name, model=ctx.model.spec, data=data.spec.name,
            metrics=[Kit().metric("accuracy", sel.correct, tied=sel.tied, chance=1 / config.n)],
            config={"n": config.n}, samples={"trials": [{"i": i, "correct": float(c)}
                                                        for i, c in enumerate(sel.correct)]},
            figures={"curve": fig},
        )]


SUITE = FakeSuite()
