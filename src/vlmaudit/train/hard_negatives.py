"""Hard-negative captions for NegCLIP-style training, picked by name from the scene perturbation hooks.

`HardNegatives(kinds)` is a `SceneBatches.negatives` function: for a row's true caption it tries
the named hooks in an rng-shuffled order and keeps the first `per_row` distinct results whose truth
against the row's scene graph is False (the hooks only return clearly-false edits; the check here is the
guarantee the trainer relies on, so a hook change can never slip a true caption in as a negative).
A row whose caption offers no edit (e.g. a one-object caption for a swap) gets no negative.

Names describe the edit; the defaults are NegCLIP's three swap families (Yuksekgonul et al. 2023
swap noun phrases around a relation, nouns, and adjectives), all three verified false here:
  relation_swap      "A rel B" -> "B rel A"                      (perturb.swap_relation_args)
  attribute_swap     colour/size words swapped between objects   (perturb.swap_attributes)
  object_swap        shape nouns swapped between objects         (perturb.swap_attributes, shape)
Also available (SugarCrepe's other families, not NegCLIP's, so they stay held out by default):
  relation_flip, relation_replace, attribute_replace, object_replace, attribute_add, object_add, negate.
Word-order shuffles are not offered: they have no meaning, so they cannot be verified false.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from vlmaudit.data.scenes import Caption, Scene, truth
from vlmaudit.data.scenes import perturb as P
from vlmaudit.errors import SpecError

NEGATIVE_KINDS: dict[str, P.Hook] = {
    "relation_swap": P.swap_relation_args,
    "attribute_swap": partial(P.swap_attributes, attributes=("colour", "size")),
    "object_swap": partial(P.swap_attributes, attributes=("shape",)),
    "relation_flip": P.flip_relation,
    "relation_replace": P.replace_relation,
    "attribute_replace": P.replace_attribute,
    "object_replace": P.replace_object,
    "attribute_add": P.add_attribute,
    "object_add": P.add_object,
    "negate": P.negate,
}
DEFAULT_NEGATIVES = ("relation_swap", "attribute_swap", "object_swap")


def parse_kinds(text: str | Sequence[str]) -> tuple[str, ...]:
    """"a,b" or ["a", "b"] -> ("a", "b"), checked against NEGATIVE_KINDS (order kept, duplicates dropped)."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in NEGATIVE_KINDS]
    if unknown or not names:
        raise SpecError(f"unknown or missing negative kind(s) {', '.join(unknown) or '(none)'} "
                        f"(known: {', '.join(NEGATIVE_KINDS)})")
    return tuple(dict.fromkeys(names))


def is_false(text: str, scene: Scene) -> bool:
    """The caption text, re-parsed from its words, is false in `scene` (the check tests use too)."""
    return not truth(Caption.from_text(text).meaning, scene)


@dataclass(frozen=True)
class HardNegatives:
    """`(scene, caption, rng) -> [negative caption text]`: up to `per_row` verified-false edits."""

    kinds: tuple[str, ...] = DEFAULT_NEGATIVES
    per_row: int = 1

    def __post_init__(self) -> None:
        parse_kinds(self.kinds)
        if self.per_row < 1:
            raise SpecError(f"per_row must be >= 1, got {self.per_row}")

    def __call__(self, scene: Scene, caption: Caption, rng: random.Random) -> list[str]:
        order = list(self.kinds)
        rng.shuffle(order)
        out: list[str] = []
        for kind in order:
            edit = NEGATIVE_KINDS[kind](scene, caption, rng)
            if edit is None or edit.is_true is not False or truth(edit.caption.meaning, scene):
                continue
            if edit.caption.text in out:  # two kinds can give the same words (size swap = relation swap)
                continue
            out.append(edit.caption.text)
            if len(out) == self.per_row:
                break
        return out
