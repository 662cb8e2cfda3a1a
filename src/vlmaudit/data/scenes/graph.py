"""Scene graphs: objects with attributes and boxes, relations derived from the boxes, JSON round-trip.

Relations are never sampled labels: they are recomputed from geometry for every ordered pair, so a
caption's truth can be checked against the pixels' layout. Two readings exist:
- strict (the one stored in `Scene.relations`): `a left of b` iff the gap between the boxes along x
  is >= `margin_px(image_size)` and the off-axis centre offset is <= OFF_AXIS_RATIO x the on-axis
  centre offset (same for the other three relations, with the axes swapped);
- loose: `a left of b` iff a's centre is left of b's centre. Perturbations call a caption clearly
  false only when it is false even under the loose reading (no ambiguous "negatives").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from vlmaudit.data.images import Box
from vlmaudit.data.scenes.vocab import COLOURS, CONTEXTS, RELATIONS, SHAPES, SIZES
from vlmaudit.errors import DataError

OFF_AXIS_RATIO = 0.35
Triple = tuple[int, str, int]  # (subject index, relation, object index)


@lru_cache(maxsize=16)
def margin_px(image_size: int) -> int:
    """Minimum gap between boxes along the relation axis: 2 px at 64 px, scaled with the image."""
    return max(2, round(2 * image_size / 64))


@dataclass(frozen=True)
class SceneObject:
    """One object. `box` = (left, top, right, bottom), right/bottom exclusive, in pixels."""

    shape: str
    colour: str
    size: str
    box: Box
    jitter: tuple[int, int, int] = (0, 0, 0)  # per-channel fill offset (render detail, not semantics)

    @property
    def centre(self) -> tuple[float, float]:
        return _centre(self.box)

    @property
    def identity(self) -> tuple[str, str, str]:
        """What must differ between two objects of one scene."""
        return self.shape, self.colour, self.size

    def to_dict(self) -> dict[str, Any]:
        return {
            "shape": self.shape,
            "colour": self.colour,
            "size": self.size,
            "box": list(self.box),
            "jitter": list(self.jitter),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SceneObject:
        for key, allowed in (("shape", SHAPES), ("colour", COLOURS), ("size", SIZES)):
            if data.get(key) not in allowed:
                raise DataError(f"scene object has invalid {key} {data.get(key)!r}")
        box = tuple(int(v) for v in data["box"])
        if len(box) != 4 or box[2] <= box[0] or box[3] <= box[1]:
            raise DataError(f"scene object has invalid box {data['box']!r}")
        return cls(
            data["shape"],
            data["colour"],
            data["size"],
            box,  # type: ignore[arg-type]
            tuple(int(v) for v in data.get("jitter", (0, 0, 0))),
        )  # type: ignore[arg-type]


def _centre(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def boxes_relation_holds(a: Box, b: Box, relation: str, image_size: int, loose: bool = False) -> bool:
    """Whether box `a` stands in `relation` to box `b` (strict margin rule, or loose centre order)."""
    if relation not in RELATIONS:
        raise DataError(f"unknown relation {relation!r} (known: {', '.join(RELATIONS)})")
    axis = 0 if relation in ("left of", "right of") else 1
    first, second = (a, b) if relation in ("left of", "above") else (b, a)
    on_axis = _centre(second)[axis] - _centre(first)[axis]
    if loose:
        return on_axis > 0
    off_axis = abs(_centre(a)[1 - axis] - _centre(b)[1 - axis])
    gap = second[axis] - first[axis + 2]
    return gap >= margin_px(image_size) and off_axis <= OFF_AXIS_RATIO * on_axis


def relation_holds(
    a: SceneObject, b: SceneObject, relation: str, image_size: int, loose: bool = False
) -> bool:
    """Whether `a <relation> b` holds geometrically."""
    return boxes_relation_holds(a.box, b.box, relation, image_size, loose)


def derive_relations(objects: tuple[SceneObject, ...], image_size: int) -> tuple[Triple, ...]:
    """Every strict (i, relation, j) over ordered pairs; at most one relation per ordered pair:
    the off-axis rule (<= 0.35 x on-axis) leaves only the axis with the larger centre offset."""
    triples = []
    for i, a in enumerate(objects):
        for j, b in enumerate(objects):
            if i == j:
                continue
            dx, dy = b.centre[0] - a.centre[0], b.centre[1] - a.centre[1]
            if abs(dx) >= abs(dy):
                rel = "left of" if dx > 0 else "right of"
            else:
                rel = "above" if dy > 0 else "below"
            if relation_holds(a, b, rel, image_size):
                triples.append((i, rel, j))
    return tuple(triples)


@dataclass(frozen=True)
class Scene:
    """A generated image's full description; `render(scene)` is a pure function of it.

    `texture_seed`/`texture_index`/`flip`/`brightness` pick and vary the background texture;
    `seed`/`index` record where in which stream the scene was generated (provenance only).
    """

    objects: tuple[SceneObject, ...]
    context: str
    relations: tuple[Triple, ...] = field(default=())
    image_size: int = 64
    texture_seed: int = 0
    texture_index: int = 0
    flip: bool = False
    brightness: float = 1.0
    seed: int = 0
    index: int = 0

    @classmethod
    def build(cls, objects: tuple[SceneObject, ...], context: str, image_size: int = 64, **kw: Any) -> Scene:
        """A scene whose relations are derived from the boxes (the only way they should be set)."""
        return cls(tuple(objects), context, derive_relations(tuple(objects), image_size), image_size, **kw)

    def relation(self, i: int, j: int) -> str | None:
        return next((rel for a, rel, b in self.relations if (a, b) == (i, j)), None)

    def mirrored(self) -> Scene:
        """Horizontal mirror: boxes reflected, background flip toggled, relations recomputed.

        `render(scene.mirrored())` equals the mirror image of `render(scene)` (all shapes are
        left-right symmetric), which is what ties the rendered pixels to the relations.
        """
        size = self.image_size
        objects = tuple(
            replace(o, box=(size - o.box[2], o.box[1], size - o.box[0], o.box[3])) for o in self.objects
        )
        return Scene.build(
            objects,
            self.context,
            size,
            texture_seed=self.texture_seed,
            texture_index=self.texture_index,
            flip=not self.flip,
            brightness=self.brightness,
            seed=self.seed,
            index=self.index,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "objects": [o.to_dict() for o in self.objects],
            "context": self.context,
            "relations": [list(t) for t in self.relations],
            "image_size": self.image_size,
            "texture_seed": self.texture_seed,
            "texture_index": self.texture_index,
            "flip": self.flip,
            "brightness": self.brightness,
            "seed": self.seed,
            "index": self.index,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scene:
        try:
            if data["context"] not in CONTEXTS:
                raise DataError(f"scene has invalid context {data['context']!r}")
            objects = tuple(SceneObject.from_dict(o) for o in data["objects"])
            relations = tuple((int(i), str(r), int(j)) for i, r, j in data["relations"])
            return cls(
                objects,
                data["context"],
                relations,
                int(data["image_size"]),
                int(data["texture_seed"]),
                int(data["texture_index"]),
                bool(data["flip"]),
                float(data["brightness"]),
                int(data["seed"]),
                int(data["index"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"malformed scene graph: {err!r}") from None

    @classmethod
    def from_json(cls, text: str) -> Scene:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"scene graph is not JSON: {err}") from None
        return cls.from_dict(data)
