"""Training batches generated on the fly from the scenes world, deterministic per step.

The batch for step s holds scenes `s*B .. s*B + B - 1` of the generator stream `seed` (the
generator's own seed scheme: every scene draws from `SeedSequence([seed, index])`), captioned by
`describe(scene, rng)` - a random true caption (paraphrases, synonyms, attribute dropout,
"A and B") - with `rng` drawn from `SeedSequence([seed, step, CAPTION_STREAM])`. Nothing depends on
earlier batches, so a resumed run sees exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vlmaudit.data.scenes import Caption, Scene, SceneConfig, describe, generate_scenes, render_array
from vlmaudit.train.trainer import Batch

CAPTION_STREAM = 0xCA9  # separates caption randomness from the generator's per-scene streams
# One to three objects; two-object scenes dominate because relations and binding live there.
# Three-object scenes (10 %) are not in the quality bar but appear in the audit suites' data.
TRAIN_SCENES = SceneConfig(image_size=64, min_objects=1, max_objects=3, object_weights=(0.35, 0.55, 0.10))

NegativeFn = Callable[[Scene, Caption, random.Random], Sequence[str]]


def scene_pixels(scenes: Sequence[Scene]) -> torch.Tensor:
    """[N, 3, S, S] float in [0, 1], straight from the renderer (no PIL round trip)."""
    arrays = np.stack([render_array(scene) for scene in scenes])
    return torch.from_numpy(arrays).permute(0, 3, 1, 2).float().div_(255.0)


def step_random(seed: int, step: int) -> random.Random:
    state = np.random.SeedSequence([seed, step, CAPTION_STREAM]).generate_state(2, dtype=np.uint64)
    return random.Random(int(state[0]) << 64 | int(state[1]))


@dataclass(frozen=True)
class SceneBatches:
    """Callable batch source `step -> Batch` for the trainer.

    `negatives(scene, caption, rng)` may add hard-negative captions per row (NegCLIP recipes);
    they become extra text columns of the batch.
    """

    seed: int
    batch_size: int
    config: SceneConfig = TRAIN_SCENES
    negatives: NegativeFn | None = None

    def scenes(self, step: int) -> list[Scene]:
        return generate_scenes(self.batch_size, self.seed, self.config, start=step * self.batch_size)

    def __call__(self, step: int) -> Batch:
        scenes = self.scenes(step)
        rng = step_random(self.seed, step)
        captions = [describe(scene, rng) for scene in scenes]
        neg = None
        if self.negatives is not None:
            neg = [text for s, c in zip(scenes, captions, strict=True) for text in self.negatives(s, c, rng)]
        return Batch(scene_pixels(scenes), [c.text for c in captions], neg or None)


def pixel_statistics(
    seed: int, config: SceneConfig = TRAIN_SCENES, n: int = 1024
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean/std of the stream's first `n` scenes, rounded to 4 decimals (the model's own)."""
    pixels = scene_pixels(generate_scenes(n, seed, config))
    mean = pixels.mean(dim=(0, 2, 3)).tolist()
    std = pixels.std(dim=(0, 2, 3)).tolist()
    return tuple(round(m, 4) for m in mean), tuple(round(s, 4) for s in std)
