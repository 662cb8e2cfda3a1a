"""Classification labels from scene graphs: scenes -> `LabelledImage`s for one attribute.

A label must be readable from the pixels alone, so each attribute labels only the scenes where it
is unambiguous, and says how many it skipped and why:

- `shape`, `colour`, `size`: object 0, as `splits.py` labels it. By default only one-object scenes
  (with two objects "a photo of a circle" and "... a square" can both be true); with
  `multi="first"` also multi-object scenes in which no other object shares object 0's value, which
  is what `splits.biased_split(n_objects>1)` guarantees;
- `context`: every scene (the background);
- `count`: every scene; class names are "one object", "two objects", ... (prompt-ready);
- `relation`: two-object scenes whose objects 0 and 1 stand in a strict relation (`Scene.relation`,
  the margin rule in graph.py); the label is the relation ("left of", ...) of object 0 to object 1.
  Prompts must name the objects, so the attributes carry them ("subject", "object": "red circle").

Classes are the attribute's values present in the scenes, in vocabulary order (vocab.py), so K and
chance follow the data. Scenes carry no train/val/test split: `split` is "".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from vlmaudit.data.items import LabelledImage
from vlmaudit.data.scenes.graph import Scene, SceneObject
from vlmaudit.data.scenes.render import scene_ref
from vlmaudit.data.scenes.vocab import CONTEXTS, RELATIONS, VALUES
from vlmaudit.errors import DataError, SpecError

LabelAttribute = Literal["shape", "colour", "size", "context", "count", "relation"]
LABEL_ATTRIBUTES: tuple[str, ...] = get_args(LabelAttribute)
COUNT_NAMES: dict[int, str] = {1: "one object", 2: "two objects", 3: "three objects"}  # SceneConfig: 1-3


@dataclass(frozen=True)
class LabelledScenes:
    items: list[LabelledImage]
    classes: tuple[str, ...]
    skipped: int  # scenes this attribute cannot label unambiguously
    rule: str  # which scenes were labelled, for the result's notes


def _describe(obj: SceneObject) -> str:
    return f"{obj.size} {obj.colour} {obj.shape}"


def _label(scene: Scene, attribute: str, multi: str) -> str | None:
    """The scene's label, or None when the attribute does not determine one from the pixels."""
    objects = scene.objects
    if attribute in VALUES:
        if not objects or (len(objects) > 1 and multi == "only"):
            return None
        value = getattr(objects[0], attribute)
        return value if all(getattr(o, attribute) != value for o in objects[1:]) else None
    if attribute == "context":
        return scene.context
    if attribute == "count":
        if len(objects) not in COUNT_NAMES:
            raise DataError(f"scene(seed={scene.seed}, index={scene.index}) has {len(objects)} objects; "
                            f"count labels exist for {sorted(COUNT_NAMES)}")
        return COUNT_NAMES[len(objects)]
    return scene.relation(0, 1) if len(objects) == 2 else None


def _rule(attribute: str, multi: str) -> str:
    if attribute in VALUES:
        scope = "one-object scenes" if multi == "only" else "scenes where no other object shares it"
        return f"{attribute} of object 0; {scope}"
    if attribute == "relation":
        return "relation of object 0 to object 1; two-object scenes with a strict relation between them"
    return f"{attribute} of every scene"


def labelled_images(scenes: Sequence[Scene], attribute: str,
                    multi: Literal["only", "first"] = "only") -> LabelledScenes:
    """One `LabelledImage` per scene the attribute can label (see the module docstring)."""
    if attribute not in LABEL_ATTRIBUTES:
        raise SpecError(f"unknown label attribute {attribute!r} (known: {', '.join(LABEL_ATTRIBUTES)})")
    if multi not in ("only", "first"):
        raise SpecError(f"multi={multi!r} must be 'only' (one-object scenes) or 'first' (object 0)")
    items = []
    for scene in scenes:
        label = _label(scene, attribute, multi)
        if label is None:
            continue
        attributes = {"context": scene.context, "count": str(len(scene.objects))}
        if scene.objects:
            attributes |= {k: getattr(scene.objects[0], k) for k in VALUES}
        if attribute == "relation":
            attributes |= {"subject": _describe(scene.objects[0]), "object": _describe(scene.objects[1])}
        item_id = f"scene-{scene.seed}-{scene.index}"
        items.append(LabelledImage(scene_ref(scene), label, attributes, "", item_id))
    rule = _rule(attribute, multi)
    if not items:
        raise DataError(f"no scene of {len(scenes)} can be labelled by {attribute} ({rule})")
    orders = {"context": CONTEXTS, "relation": RELATIONS, "count": tuple(COUNT_NAMES.values()), **VALUES}
    present = {item.label for item in items}
    classes = tuple(v for v in orders[attribute] if v in present)
    return LabelledScenes(items, classes, len(scenes) - len(items), rule)
