"""Paired items built from scene graphs: What'sUp-style opposite pairs, Winoground-style 2x2 groups.

Both keep everything but the tested difference fixed: the same two objects (attributes and colour
jitter), the same context and the same background texture, flip and brightness. Each item's
captions are the canonical captions of the two scenes, so the truth pattern holds by
construction (and is tested).
Random layouts come from the caller's rng; the background bank from `texture_seed` (default: the
held-out evaluation stream 1234, see generate.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from vlmaudit.data.scenes.generate import SceneConfig, sample_scene
from vlmaudit.data.scenes.grammar import assemble, describe
from vlmaudit.data.scenes.graph import Scene
from vlmaudit.data.scenes.meaning import Caption, ObjectDesc
from vlmaudit.data.scenes.rand import Rng, as_random
from vlmaudit.data.scenes.vocab import OPPOSITE_RELATION, RELATIONS
from vlmaudit.errors import SpecError

EVAL_TEXTURE_SEED = 1234


def _same_look(template: Scene, other: Scene) -> Scene:
    """`other`'s boxes with `template`'s objects' attributes and jitter, context and background."""
    objects = tuple(replace(t, box=o.box) for t, o in zip(template.objects, other.objects, strict=True))
    return Scene.build(
        objects,
        template.context,
        template.image_size,
        texture_seed=template.texture_seed,
        texture_index=template.texture_index,
        flip=template.flip,
        brightness=template.brightness,
        seed=template.seed,
        index=template.index,
    )


def opposite_pair(
    rng: Rng, relation: str, config: SceneConfig | None = None, texture_seed: int = EVAL_TEXTURE_SEED
) -> tuple[Scene, Scene]:
    """Two scenes with the same two objects: object 0 `relation` object 1 in the first, object 0
    `opposite(relation)` object 1 in the second (fresh placement, same background)."""
    if relation not in RELATIONS:
        raise SpecError(f"unknown relation {relation!r} (known: {', '.join(RELATIONS)})")
    r = as_random(rng)
    first = sample_scene(r, config, texture_seed=texture_seed, n_objects=2, relation=relation)
    idents = [o.identity for o in first.objects]
    moved = sample_scene(
        r,
        config,
        texture_seed=texture_seed,
        identities=idents,
        relation=OPPOSITE_RELATION[relation],
        context=first.context,
    )
    return first, _same_look(first, moved)


@dataclass(frozen=True)
class WinogroundGroup:
    """captions[i] is true for scenes[i] and false for scenes[1 - i]; both captions have the
    same words in a different order."""

    scenes: tuple[Scene, Scene]
    captions: tuple[Caption, Caption]
    kind: str  # "relation" (arguments swapped) or "colour" (colours swapped between objects)


def winoground_group(
    rng: Rng, kind: str = "relation", config: SceneConfig | None = None, texture_seed: int = EVAL_TEXTURE_SEED
) -> WinogroundGroup:
    """A 2x2 group. "relation": "A rel B" / "B rel A" over two placements of the same objects
    (an opposite pair); "colour": "a red X rel a blue Y" / "a blue X rel a red Y" over one layout
    with the two objects' colours exchanged (the objects differ in both colour and shape)."""
    r = as_random(rng)
    if kind == "relation":
        first, second = opposite_pair(r, r.choice(RELATIONS), config, texture_seed)
        a, b = (ObjectDesc(o.shape, o.colour, o.size) for o in first.objects)
        rel = first.relation(0, 1)
        captions = (assemble([(a, rel, b)], first.context), assemble([(b, rel, a)], first.context))
    elif kind == "colour":
        first = sample_scene(r, config, texture_seed=texture_seed, n_objects=2, differ=("colour", "shape"))
        x, y = first.objects
        second = replace(first, objects=(replace(x, colour=y.colour), replace(y, colour=x.colour)))
        captions = (describe(first), describe(second))
    else:
        raise SpecError(f"unknown Winoground group kind {kind!r} (known: relation, colour)")
    return WinogroundGroup((first, second), captions, kind)
