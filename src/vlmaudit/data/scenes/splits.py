"""Classification labels and context-biased / balanced splits for spurious-correlation studies.

A biased split ties each class of one attribute (e.g. shape circle / square) to a majority context
(grass / sand): exactly `round(m * minority_fraction)` of a class's m scenes get another context
(the minority), the rest the majority one. A balanced split has every (class, context)
combination equally often (up to one scene). Scenes have one object by default, so the label is
unambiguous. Scene k of a split is scene k of stream `seed` (same seed scheme as generate.py), with
its class, context and minority status assigned deterministically from the seed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from vlmaudit.data.scenes.generate import SceneConfig, sample_scene, scene_random
from vlmaudit.data.scenes.graph import Scene
from vlmaudit.data.scenes.vocab import ATTRIBUTES, CONTEXTS, VALUES
from vlmaudit.errors import SpecError


@dataclass(frozen=True)
class SceneLabels:
    """Labels of a scene: attributes of object 0 (the only one in classification splits),
    context, object count, and the relation of object 0 to object 1 (None with one object)."""

    shape: str
    colour: str
    size: str
    context: str
    count: int
    relation: str | None


def labels(scene: Scene) -> SceneLabels:
    first = scene.objects[0]
    relation = scene.relation(0, 1) if len(scene.objects) > 1 else None
    return SceneLabels(first.shape, first.colour, first.size, scene.context, len(scene.objects), relation)


@dataclass(frozen=True)
class BiasedSplit:
    scenes: tuple[Scene, ...]
    attribute: str
    majority: dict[str, str]  # class value -> its majority context
    minority_fraction: float

    def is_minority(self, scene: Scene) -> bool:
        return scene.context != self.majority[getattr(scene.objects[0], self.attribute)]


def _labelled_scene(
    seed: int, index: int, cfg: SceneConfig, attribute: str, value: str, context: str, n_objects: int
) -> Scene:
    """Scene `index` of stream `seed` whose object 0 has `attribute == value`, on `context`."""
    r = scene_random(seed, index)
    slot = ATTRIBUTES.index(attribute)
    combos = list(itertools.product(cfg.shapes, cfg.colours, cfg.sizes))
    labelled = [c for c in combos if c[slot] == value]
    others = [c for c in combos if c[slot] != value]  # other objects must not carry the label value
    if not labelled or len(others) < n_objects - 1:
        raise SpecError(f"config cannot make {n_objects} objects with exactly one {attribute} = {value!r}")
    identities = [r.choice(labelled), *r.sample(others, n_objects - 1)]
    return sample_scene(
        r, cfg, texture_seed=seed, seed=seed, index=index, identities=identities, context=context
    )


def _check(attribute: str, values: tuple[str, ...], contexts: tuple[str, ...]) -> None:
    if attribute not in ATTRIBUTES:
        raise SpecError(f"unknown attribute {attribute!r} (known: {', '.join(ATTRIBUTES)})")
    if len(values) < 2 or set(values) - set(VALUES[attribute]) or len(set(values)) < len(values):
        raise SpecError(f"split needs >= 2 {attribute} values from {VALUES[attribute]}, got {values}")
    if len(contexts) < 2 or set(contexts) - set(CONTEXTS):
        raise SpecError(f"split needs >= 2 contexts from {CONTEXTS}, got {contexts}")


def biased_split(
    n: int,
    seed: int,
    *,
    attribute: str = "shape",
    values: tuple[str, ...] = ("circle", "square"),
    contexts: tuple[str, ...] = ("grass", "sand"),
    minority_fraction: float = 0.05,
    n_objects: int = 1,
    config: SceneConfig | None = None,
) -> BiasedSplit:
    """Class `values[i]` mostly on `contexts[i % len(contexts)]`; a `minority_fraction` of each
    class on the other contexts (spread evenly)."""
    _check(attribute, values, contexts)
    if not 0 <= minority_fraction <= 1:
        raise SpecError(f"minority_fraction must be in [0, 1], got {minority_fraction}")
    cfg = config or SceneConfig()
    majority = {v: contexts[i % len(contexts)] for i, v in enumerate(values)}
    order = np.random.default_rng(np.random.SeedSequence([seed, 0x5B17])).permutation(n)
    classes = [values[k % len(values)] for k in range(n)]
    scenes = []
    for value in values:
        members = [int(k) for k in order if classes[k] == value]  # a random subset becomes minority
        n_minority = round(len(members) * minority_fraction)
        others = [c for c in contexts if c != majority[value]]
        for rank, k in enumerate(members):
            context = others[rank % len(others)] if rank < n_minority else majority[value]
            scenes.append(_labelled_scene(seed, k, cfg, attribute, value, context, n_objects))
    scenes.sort(key=lambda s: s.index)
    return BiasedSplit(tuple(scenes), attribute, majority, minority_fraction)


def balanced_split(
    n: int,
    seed: int,
    *,
    attribute: str = "shape",
    values: tuple[str, ...] = ("circle", "square"),
    contexts: tuple[str, ...] = ("grass", "sand"),
    n_objects: int = 1,
    config: SceneConfig | None = None,
) -> list[Scene]:
    """Every (value, context) combination equally often: scene k gets combination k mod |combos|."""
    _check(attribute, values, contexts)
    cfg = config or SceneConfig()
    combos = list(itertools.product(values, contexts))
    return [_labelled_scene(seed, k, cfg, attribute, *combos[k % len(combos)], n_objects) for k in range(n)]
