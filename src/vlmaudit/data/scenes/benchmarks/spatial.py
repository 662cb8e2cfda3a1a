"""Generated What'sUp-, Winoground- and MMVP-like benchmarks with exact gold, from scene graphs.

- What'sUp-like: for each object pair, four images of the same two objects (same look and
  background) with object 0 left of / right of / above / below object 1; options are the four
  captions "A <rel> B", gold first. Subset layout = What'sUp A with on/under -> above/below, so
  individual, pair (/ N/2), set (/ N/4) and Li et al.'s two-way variant apply unchanged.
- Winoground-like: `pairs.winoground_group` 2x2 groups, kind "relation" (arguments swapped) or
  "colour" (colours swapped), tagged as `tag`.
- MMVP-like: two images that differ in one visual pattern, one true statement per image:
  "position" (an opposite pair) or "colour" (one object recoloured, layout kept).
Gold holds by construction: relations are recomputed from the boxes and every caption is checked
with `truth` against its own and the other image (an item that fails is a generator bug: error).
"""

from __future__ import annotations

import random
from dataclasses import replace

from vlmaudit.data.items import ImagePair, SpatialChoice, WinogroundGroup
from vlmaudit.data.readers.whatsup import Subset
from vlmaudit.data.scenes import (
    OPPOSITE_RELATION,
    Caption,
    ObjectDesc,
    Scene,
    SceneConfig,
    describe,
    scene_ref,
    truth,
)
from vlmaudit.data.scenes.generate import sample_scene
from vlmaudit.data.scenes.grammar import assemble
from vlmaudit.data.scenes.pairs import EVAL_TEXTURE_SEED, opposite_pair, winoground_group
from vlmaudit.errors import DataError

SET_RELATIONS = ("left of", "right of", "above", "below")
KEY = {"left of": "left", "right of": "right", "above": "above", "below": "below"}
# the What'sUp A layout with on/under -> above/below: individual, pair and set apply unchanged
WHATSUP_LAYOUT = Subset("scenes", (), "", tuple(KEY.values()), (("left", "right"), ("above", "below")))
WINOGROUND_KINDS = ("relation", "colour")
MMVP_KINDS = ("position", "colour")


def whatsup_like(r: random.Random, cfg: SceneConfig, n_sets: int) -> list[SpatialChoice]:
    """n_sets x 4 items: the same two objects in each of the four relations."""
    items = []
    for g in range(n_sets):
        first, _ = opposite_pair(r, SET_RELATIONS[0], cfg)
        idents = [o.identity for o in first.objects]
        scenes = [first] + [
            _same_look(first, sample_scene(r, cfg, texture_seed=EVAL_TEXTURE_SEED, identities=idents,
                                           relation=rel, context=first.context))
            for rel in SET_RELATIONS[1:]
        ]
        a, b = (ObjectDesc(o.shape, o.colour, o.size) for o in first.objects)
        captions = {rel: assemble([(a, rel, b)], first.context) for rel in SET_RELATIONS}
        for rel, scene in zip(SET_RELATIONS, scenes, strict=True):
            _check(captions[rel], scene, True, f"whatsup-like set {g} {rel}")
            order = [rel] + [other for other in SET_RELATIONS if other != rel]
            for other in order[1:]:  # strictly false; the opposite one even under the loose reading
                loose = other == OPPOSITE_RELATION[rel]
                _check(captions[other], scene, False, f"whatsup-like set {g} {rel} vs {other}", loose)
            options = tuple(captions[o].text for o in order)
            opposite = order.index(OPPOSITE_RELATION[rel])
            items.append(SpatialChoice(scene_ref(scene), options, KEY[rel], f"set{g}", opposite,
                                       WHATSUP_LAYOUT.name))
    return items


def winoground_like(r: random.Random, cfg: SceneConfig, n_groups: int) -> list[WinogroundGroup]:
    items = []
    for g in range(n_groups):
        group = winoground_group(r, WINOGROUND_KINDS[g % len(WINOGROUND_KINDS)], cfg)
        for i in (0, 1):
            _check(group.captions[i], group.scenes[i], True, f"winoground-like group {g}")
            _check(group.captions[i], group.scenes[1 - i], False, f"winoground-like group {g}", loose=True)
        refs = (scene_ref(group.scenes[0]), scene_ref(group.scenes[1]))
        items.append(WinogroundGroup(f"g{g}", refs, (group.captions[0].text, group.captions[1].text),
                                    {"tag": group.kind}))
    return items


def mmvp_like(r: random.Random, cfg: SceneConfig, n_pairs: int) -> list[ImagePair]:
    items = []
    for p in range(n_pairs):
        kind = MMVP_KINDS[p % len(MMVP_KINDS)]
        if kind == "position":
            scenes = opposite_pair(r, r.choice(SET_RELATIONS), cfg)
        else:
            first = sample_scene(r, cfg, texture_seed=EVAL_TEXTURE_SEED, n_objects=2)
            x, y = first.objects
            colour = r.choice([c for c in cfg.colours if c not in (x.colour, y.colour)])
            scenes = (first, replace(first, objects=(replace(x, colour=colour), y)))
        captions = [describe(s) for s in scenes]
        for i in (0, 1):
            _check(captions[i], scenes[i], True, f"mmvp-like pair {p}")
            _check(captions[i], scenes[1 - i], False, f"mmvp-like pair {p}", loose=True)
        refs = (scene_ref(scenes[0]), scene_ref(scenes[1]))
        qids = (f"{2 * p + 1}", f"{2 * p + 2}")  # odd qid -> image 1, as in the released CSV
        items.append(ImagePair(qids, refs, (captions[0].text, captions[1].text), (0, 1), kind))
    return items


def _same_look(template: Scene, other: Scene) -> Scene:
    """`other`'s boxes with `template`'s objects (attributes, jitter), context and background."""
    objects = tuple(replace(t, box=o.box) for t, o in zip(template.objects, other.objects, strict=True))
    return Scene.build(objects, template.context, template.image_size, texture_seed=template.texture_seed,
                       texture_index=template.texture_index, flip=template.flip,
                       brightness=template.brightness, seed=template.seed, index=template.index)


def _check(caption: Caption, scene: Scene, expected: bool, where: str, loose: bool = False) -> None:
    if caption.meaning is None or truth(caption.meaning, scene, loose=loose) != expected:
        raise DataError(f"{where}: caption {caption.text!r} is not {expected} of its scene (generator bug)")


def derived_sizes(n_scenes: int) -> dict[str, int]:
    """How many generated spatial items `scenes?n=N` stands for: about N images in each benchmark
    family (What'sUp-like sets hold 4 images, Winoground-like groups and MMVP-like pairs 2), which
    at the default N = 500 is 40 sets, 80 groups and 80 pairs."""
    return {"sets": max(1, round(0.08 * n_scenes)), "groups": max(1, round(0.16 * n_scenes)),
            "pairs": max(1, round(0.16 * n_scenes))}
