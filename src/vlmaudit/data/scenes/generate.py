"""Seeded scene sampling: attributes, unambiguous placements, background choice.

Seed scheme: scene `index` of stream `seed` draws all its randomness from
`SeedSequence([seed, index])`, independently of `n`, of other scenes and of the batch it is made
in; `generate_scenes(n, seed, start=k)` continues a stream. A stream's background textures come
from a bank seeded by the same `seed` (see textures.py). So two streams share neither scenes nor
textures. Convention: training uses stream seed 0 (and advances `start`), evaluation defaults to
the held-out stream 1234; never use the seed as a batch counter (batch 1234 of stream "step" would
be the held-out set).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vlmaudit.data.images import Box
from vlmaudit.data.scenes.graph import OFF_AXIS_RATIO, Scene, SceneObject, boxes_relation_holds, margin_px
from vlmaudit.data.scenes.textures import TEXTURE_BANK
from vlmaudit.data.scenes.vocab import ATTRIBUTES, COLOURS, CONTEXTS, RELATIONS, SHAPES, SIZE_FRACTION, SIZES
from vlmaudit.errors import DataError, SpecError

Identity = tuple[str, str, str]  # shape, colour, size
_MAX_TRIES = 200
_LAYOUT_TRIES = 40


MAX_IMAGE_SIZE = 1024


@dataclass(frozen=True)
class SceneConfig:
    """What a stream may contain. `object_weights[k]` weighs scenes with `min_objects + k` objects."""

    image_size: int = 64
    min_objects: int = 1
    max_objects: int = 3
    object_weights: tuple[float, ...] | None = None  # None: uniform over the allowed counts
    shapes: tuple[str, ...] = SHAPES
    colours: tuple[str, ...] = COLOURS
    sizes: tuple[str, ...] = SIZES
    contexts: tuple[str, ...] = CONTEXTS
    relations: tuple[str, ...] = RELATIONS
    colour_jitter: int = 6  # +- per channel
    brightness_jitter: float = 0.08  # +- fraction

    def __post_init__(self) -> None:
        if not 1 <= self.min_objects <= self.max_objects <= 3:
            raise SpecError(f"object count range {self.min_objects}-{self.max_objects} must lie within 1-3")
        if not 32 <= self.image_size <= MAX_IMAGE_SIZE:  # past the max, textures need tens of GB
            raise SpecError(f"image_size {self.image_size} must be in 32..{MAX_IMAGE_SIZE}")
        for name, allowed in (
            ("shapes", SHAPES),
            ("colours", COLOURS),
            ("sizes", SIZES),
            ("contexts", CONTEXTS),
            ("relations", RELATIONS),
        ):
            bad = set(getattr(self, name)) - set(allowed)
            if bad or not getattr(self, name):
                raise SpecError(
                    f"config {name} must be a non-empty subset of {allowed}, got {getattr(self, name)}"
                )
        counts = self.max_objects - self.min_objects + 1
        if self.object_weights is not None and len(self.object_weights) != counts:
            raise SpecError(f"object_weights needs {counts} entries, got {len(self.object_weights)}")

    def side(self, size: str) -> int:
        return round(SIZE_FRACTION[size] * self.image_size)


DEFAULT_CONFIG = SceneConfig()


def scene_random(seed: int, index: int) -> random.Random:
    """The private random stream of scene `index` in stream `seed` (see the module docstring)."""
    state = np.random.SeedSequence([seed, index]).generate_state(2, dtype=np.uint64)
    return random.Random(int(state[0]) << 64 | int(state[1]))


def _sample_identities(r: random.Random, cfg: SceneConfig, k: int, differ: Sequence[str]) -> list[Identity]:
    chosen: list[Identity] = []
    for _ in range(_MAX_TRIES):
        cand = (r.choice(cfg.shapes), r.choice(cfg.colours), r.choice(cfg.sizes))
        clash = any(
            cand == old or any(cand[ATTRIBUTES.index(a)] == old[ATTRIBUTES.index(a)] for a in differ)
            for old in chosen
        )
        if not clash:
            chosen.append(cand)
            if len(chosen) == k:
                return chosen
    raise DataError(f"cannot draw {k} distinct objects differing in {list(differ)} from this config")


def _place_first(r: random.Random, sides: list[int], relations: list[str], s: int) -> Box | None:
    """Object 0's box, leaving room along each axis for the objects the chain puts after or
    before it in the same direction (saves most rejected layouts); None if they cannot fit."""
    lo, hi = [1, 1], [s - 1 - sides[0]] * 2
    gap = margin_px(s)
    for axis, (forward, backward) in enumerate((("left of", "right of"), ("above", "below"))):
        ahead = behind = 0
        for k, rel in enumerate(relations):  # a same-direction run starting at object 0
            if rel not in (forward, backward) or rel != relations[0]:
                break
            ahead += (sides[k + 1] + gap) * (rel == forward)
            behind += (sides[k + 1] + gap) * (rel == backward)
        lo[axis], hi[axis] = lo[axis] + behind, hi[axis] - ahead
    if lo[0] > hi[0] or lo[1] > hi[1]:
        return None
    x, y = r.randint(lo[0], hi[0]), r.randint(lo[1], hi[1])
    return x, y, x + sides[0], y + sides[0]


def _place_relative(r: random.Random, a: Box, side: int, relation: str, s: int) -> Box | None:
    """A box for b such that `a <relation> b` holds strictly, or None if a leaves no room."""
    axis = 0 if relation in ("left of", "right of") else 1
    b_after_a = relation in ("left of", "above")
    lo, hi = 1, s - 1 - side
    gap = margin_px(s)
    if b_after_a:
        lo = max(lo, a[axis + 2] + gap)
    else:
        hi = min(hi, a[axis] - gap - side)
    if lo > hi:
        return None
    start = r.randint(lo, hi)
    tolerance = OFF_AXIS_RATIO * abs(start + side / 2 - (a[axis] + a[axis + 2]) / 2)
    a_off_centre = (a[1 - axis] + a[3 - axis]) / 2
    off_lo = max(1, math.ceil(a_off_centre - side / 2 - tolerance))
    off_hi = min(s - 1 - side, math.floor(a_off_centre - side / 2 + tolerance))
    if off_lo > off_hi:
        return None
    off = r.randint(off_lo, off_hi)
    return (start, off, start + side, off + side) if axis == 0 else (off, start, off + side, start + side)


def _separated(a: Box, b: Box, gap: int) -> bool:
    return a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1]


def _layout(r: random.Random, sides: list[int], relations: list[str], s: int) -> list[Box] | None:
    """Boxes where object i stands in relations[i] to object i + 1 (a chain), all pairs disjoint;
    None when random tries fail (some chains cannot fit, e.g. three large objects in a row)."""
    for _ in range(_LAYOUT_TRIES):
        first = _place_first(r, sides, relations, s)
        if first is None:
            return None
        boxes = [first]
        for i, rel in enumerate(relations):
            box = _place_relative(r, boxes[i], sides[i + 1], rel, s)
            if (
                box is None
                or not boxes_relation_holds(boxes[i], box, rel, s)
                or not all(_separated(box, old, margin_px(s)) for old in boxes)
            ):
                break
            boxes.append(box)
        else:
            return boxes
    return None


def generate_scene(seed: int, index: int, config: SceneConfig | None = None, **constraints) -> Scene:
    """Scene `index` of stream `seed` (constraints as in `sample_scene`)."""
    return sample_scene(
        scene_random(seed, index), config, texture_seed=seed, seed=seed, index=index, **constraints
    )


def sample_scene(
    r: random.Random,
    config: SceneConfig | None = None,
    *,
    texture_seed: int,
    seed: int = -1,
    index: int = -1,
    n_objects: int | None = None,
    context: str | None = None,
    relation: str | None = None,
    differ: Sequence[str] = (),
    identities: Sequence[Identity] | None = None,
) -> Scene:
    """A scene drawn from `r`, with its background from the bank of `texture_seed`.

    Constraints fix the object count, the context, the relation between objects 0 and 1,
    attributes all objects must pairwise differ in, or the objects' (shape, colour, size)
    outright. Objects i and i+1 always stand in a strict relation. `seed`/`index` are provenance.
    """
    cfg = config or DEFAULT_CONFIG
    if identities is not None:
        n_objects = len(identities)
    if n_objects is None:
        counts = range(cfg.min_objects, cfg.max_objects + 1)
        n_objects = (
            r.choices(counts, weights=cfg.object_weights)[0] if cfg.object_weights else r.choice(counts)
        )
    if not 1 <= n_objects <= 3:
        raise SpecError(f"n_objects must be 1-3, got {n_objects}")
    context = context or r.choice(cfg.contexts)
    if context not in CONTEXTS:
        raise SpecError(f"unknown context {context!r} (known: {', '.join(CONTEXTS)})")
    idents = list(identities) if identities is not None else _sample_identities(r, cfg, n_objects, differ)
    if len(set(idents)) < len(idents):
        raise SpecError(f"objects of one scene must not be identical: {idents}")
    if relation is not None and relation not in RELATIONS:
        raise SpecError(f"unknown relation {relation!r} (known: {', '.join(RELATIONS)})")
    sides = [cfg.side(size) for _, _, size in idents]
    for _ in range(_MAX_TRIES):
        chain = [relation or r.choice(cfg.relations)] + [
            r.choice(cfg.relations) for _ in range(n_objects - 2)
        ]
        boxes = _layout(r, sides, chain[: n_objects - 1], cfg.image_size)
        if boxes is not None:
            break
    else:
        raise DataError(f"cannot place objects {idents} with relation {relation!r} on {cfg.image_size} px")
    objects = tuple(
        SceneObject(
            shape,
            colour,
            size,
            box,
            tuple(r.randint(-cfg.colour_jitter, cfg.colour_jitter) for _ in range(3)),
        )
        for (shape, colour, size), box in zip(idents, boxes, strict=True)
    )
    return Scene.build(
        objects,
        context,
        cfg.image_size,
        texture_seed=texture_seed,
        texture_index=r.randrange(TEXTURE_BANK),
        flip=r.random() < 0.5,
        brightness=round(1 + r.uniform(-cfg.brightness_jitter, cfg.brightness_jitter), 4),
        seed=seed,
        index=index,
    )


def generate_scenes(
    n: int, seed: int, config: SceneConfig | None = None, *, start: int = 0, **constraints
) -> list[Scene]:
    """Scenes `start .. start + n - 1` of stream `seed` (deterministic; see the module docstring)."""
    if n < 0:
        raise SpecError(f"n must be >= 0, got {n}")
    return [generate_scene(seed, start + i, config, **constraints) for i in range(n)]
