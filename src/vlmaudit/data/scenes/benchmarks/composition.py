"""Generated-scene versions of ARO, SugarCrepe and hard positives, with gold from the scene graph.

One item per scene and benchmark (a scene is skipped when the hook has nothing to edit, e.g. a
one-object scene for a relation swap). Every negative is false by `truth` (the perturbation hooks
check it, loosely too), every positive true, so an error here is the model's, never the data's.
Each (benchmark, scene) pair has its own RNG, so adding a benchmark never changes another's items.

Choices where the papers give only the real-data recipe (flagged "reconstructed" in results):
- VG-Relation-like: canonical caption vs `swap_relation_args`; group = the swapped relation.
- VG-Attribution-like: canonical caption vs a colour/size swap; group = the ordered attribute pair.
- Order-like: canonical caption + ARO's 4 shuffles; a shuffle whose words are unchanged, or which
  happens to parse as a true caption, is redrawn (up to 10 times), else the scene is skipped.
- SugarCrepe-like: a random true caption (`describe(scene, rng)`, synonyms and attribute dropout,
  closer to SugarCrepe's fluent captions) vs replace-att/obj/rel, swap-att (colour/size words),
  swap-obj (shape nouns), add-att, add-obj.
- Hard positives: c = canonical caption; REPLACE: c_p a paraphrase with the objects in the same
  order (synonyms, "there is", context position), c_n from replace hooks; SWAP: c_p a paraphrase
  with the objects reordered, c_n from swap hooks.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from vlmaudit.data.items import CaptionChoice
from vlmaudit.data.readers.sugarcrepe import SUBSETS as SUGARCREPE_SUBSETS
from vlmaudit.data.scenes import Caption, Scene, describe, scene_ref, truth
from vlmaudit.data.scenes import perturb as P
from vlmaudit.data.scenes.grammar import assemble, flip_clause, scene_clauses
from vlmaudit.data.scenes.meaning import parse
from vlmaudit.data.scenes.vocab import ADJ_COLOUR, ADJ_SIZE, NOUN_SHAPE
from vlmaudit.errors import DataError
from vlmaudit.perturb.text_order import item_seed

MAX_TRIES = 10
# every caption-choice benchmark the scene world builds, in report order
CHOICE_BENCHMARKS = ("relation_swap", "attribute_swap", "order",
                     *(f"sugarcrepe_{k}" for k in SUGARCREPE_SUBSETS),
                     "hard_positives_replace", "hard_positives_swap")
ATTRS = ("colour", "size")


def _swap_att(scene, caption, rng):
    return P.swap_attributes(scene, caption, rng, attributes=ATTRS)


def _swap_obj(scene, caption, rng):
    return P.swap_attributes(scene, caption, rng, attributes=("shape",))


def _replace_rel(scene, caption, rng):
    """Another-axis or opposite relation (SugarCrepe's replace-rel takes any other relation)."""
    hooks = [P.replace_relation, P.flip_relation]
    random.Random(rng.random()).shuffle(hooks)
    return hooks[0](scene, caption, rng) or hooks[1](scene, caption, rng)


SUGARCREPE_HOOKS: dict[str, Callable] = {
    "replace_att": P.replace_attribute,
    "replace_obj": P.replace_object,
    "replace_rel": _replace_rel,
    "swap_att": _swap_att,
    "swap_obj": _swap_obj,
    "add_att": P.add_attribute,
    "add_obj": P.add_object,
}
TRIPLET_HOOKS: dict[str, tuple[Callable, ...]] = {
    "replace": (P.replace_attribute, P.replace_object, P.replace_relation),
    "swap": (_swap_att, P.swap_relation_args),
}


def _shapes(caption: Caption) -> list[str]:
    return [t.text for t in caption.tokens if t.tag == NOUN_SHAPE]


def _changed_relation(caption: Caption, negative: Caption) -> str:
    """The relation of the clause the swap changed (ARO groups VG-R by relation name)."""
    kept = caption.meaning.key()[1]
    for i, rel, j in negative.meaning.relations:
        probe = type(negative.meaning)(negative.meaning.objects, ((i, rel, j),))
        if not probe.key()[1] <= kept:
            return rel
    return "unknown"


def _swapped_pair(caption: Caption, negative: Caption) -> str:
    """Ordered pair of the swapped attribute words, as ARO's VG-A key `f"{a0}_{a1}"`."""
    moved = [a.text for a, b in zip(caption.tokens, negative.tokens, strict=False)
             if a.text != b.text and a.tag in (ADJ_COLOUR, ADJ_SIZE)]
    return "_".join(moved[:2])


def _order_options(scene: Scene, caption: Caption, rng: random.Random) -> list[str] | None:
    options = [caption.text]
    for scheme in P.SHUFFLE_SCHEMES:
        hook = P.shuffle(scheme)
        for _ in range(MAX_TRIES):
            out = hook(scene, caption, rng)
            if out is not None and not _parses_true(out.caption, scene):
                options.append(out.caption.text)
                break
        else:
            return None
    return options


def _parses_true(caption: Caption, scene: Scene) -> bool:
    """A shuffle that lands on a grammatical true caption is not a negative."""
    try:
        return truth(parse(caption.tokens), scene)
    except (DataError, KeyError, IndexError):
        return False


def _paraphrase(scene: Scene, caption: Caption, reorder: bool, rng: random.Random) -> Caption | None:
    """A random true paraphrase with the objects reordered (SWAP) or kept in order (REPLACE).

    Drawn from the grammar's meaning-preserving choices (clause order, relation direction, "there
    is", context position, synonyms) rather than enumerating `paraphrases(scene)`, which costs
    ~25 ms per three-object scene.
    """
    base = scene_clauses(scene)
    for _ in range(3 * MAX_TRIES):
        clauses = list(base)
        if reorder:
            rng.shuffle(clauses)
            clauses = [flip_clause(c) if rng.random() < 0.5 else c for c in clauses]
        cap = assemble(clauses, scene.context, there=rng.random() < 0.5, context_first=rng.random() < 0.5,
                       size_style=rng.randrange(2), rel_style=rng.randrange(3))
        if cap.text != caption.text and (_shapes(cap) != _shapes(caption)) == reorder:
            if not truth(cap.meaning, scene):
                raise DataError(f"scene paraphrase {cap.text!r} is false: grammar and scene disagree")
            return cap
    return None


def _first_negative(scene: Scene, caption: Caption, hooks: Sequence[Callable], rng: random.Random):
    order = list(hooks)
    rng.shuffle(order)
    for hook in order:
        negative = hook(scene, caption, rng)
        if negative is not None:
            return negative
    return None


def _item(name: str, scene: Scene, rng: random.Random) -> tuple[tuple[str, ...], int, str] | None:
    """(options, gold, group) of one scene for one benchmark, or None when it does not apply."""
    canonical = describe(scene)
    if name == "relation_swap":
        neg = P.swap_relation_args(scene, canonical, rng)
        return None if neg is None else ((neg.caption.text, canonical.text), 1,
                                         _changed_relation(canonical, neg.caption))
    if name == "attribute_swap":
        neg = _swap_att(scene, canonical, rng)
        return None if neg is None else ((neg.caption.text, canonical.text), 1,
                                         _swapped_pair(canonical, neg.caption))
    if name == "order":
        options = _order_options(scene, canonical, rng)
        return None if options is None else (tuple(options), 0, "")
    if name.startswith("sugarcrepe_"):
        hook = SUGARCREPE_HOOKS[name.removeprefix("sugarcrepe_")]
        for _ in range(MAX_TRIES):
            positive = describe(scene, rng)
            neg = hook(scene, positive, rng)
            if neg is not None:
                return (positive.text, neg.caption.text), 0, ""
        return None
    kind = name.removeprefix("hard_positives_")
    positive = _paraphrase(scene, canonical, kind == "swap", rng)
    neg = _first_negative(scene, canonical, TRIPLET_HOOKS[kind], rng) if positive is not None else None
    return None if neg is None else ((canonical.text, positive.text, neg.caption.text), 0, "")


def build_scene_benchmarks(
    scenes: Sequence[Scene], seed: int, names: Sequence[str], *, skip_unsupported: bool = False
) -> dict[str, list[CaptionChoice]]:
    """name -> items over `scenes`. A benchmark no scene supports (relations in one-object scenes)
    is a DataError, or left out with `skip_unsupported`, unless none at all is supported."""
    out: dict[str, list[CaptionChoice]] = {}
    for name in names:
        items = []
        for index, scene in enumerate(scenes):
            rng = random.Random(item_seed(seed, f"{name}/{index}"))
            built = _item(name, scene, rng)
            if built is not None:
                options, gold, group = built
                items.append(CaptionChoice(scene_ref(scene), options, gold, group, f"scene{index}"))
        if not items and not skip_unsupported:
            raise DataError(f"generated benchmark {name}: no scene among {len(scenes)} supports it")
        if items:
            out[name] = items
    if not out:
        raise DataError(f"no generated benchmark of {', '.join(names)} is supported by {len(scenes)} scenes")
    return out
