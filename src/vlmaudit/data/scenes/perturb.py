"""Caption perturbation hooks driven by the grammar's word tags, with truth computed, never assumed.

Every hook is `(scene, caption, rng) -> Perturbed | None`. It enumerates the edits it can make
to the caption's tokens, tries them in an rng-shuffled order, and returns the first whose truth
against the scene graph is what the hook is documented to produce; None when no edit qualifies
(callers resample). `Perturbed.is_true` is always `truth(parse(new tokens), scene)`.

Negative hooks (documented to produce a false caption): an edit qualifies only if the result is
false, and false even when relations are read loosely as centre order (`truth(..., loose=True)`),
so no "negative" is merely borderline. A swap that yields a true caption (e.g. both objects red)
is skipped.
  swap_attributes     swap the colour, size or shape words of two object phrases (ARO VG-A,
                      SugarCrepe swap-att / swap-obj); kind "swap-colour" / "swap-size" / "swap-shape"
  swap_relation_args  swap subject and object phrase of a relation (ARO VG-R); "swap-relation-args"
  replace_attribute   replace a colour or size word by another value; "replace-colour" / "replace-size"
  replace_object      replace a shape noun by another shape; "replace-shape"
  replace_relation    replace a relation by one on the other axis (left of -> above); "replace-relation"
  flip_relation       replace a relation by its opposite (left of <-> right of); "flip-relation"
  add_object          add "and <absent object>" (an absent shape+colour); "add-object"
  add_attribute       add a colour/size the described object does not have; "add-colour" / "add-size"
  negate              "there is no <an object phrase of the caption>"; "negate"
Positive hook (documented to produce a true caption):
  add_negation        append "and no <absent object>" to a true caption; "add-negation"
Shuffles (ARO's four order perturbations, `shuffle(scheme)`): the result is outside the grammar
and has no meaning, so `is_true` is None (not False-by-convention) and `caption.meaning` is None;
None is returned when the words come out identical to the input. Nouns = shape and context
words, adjectives = colour and size words (the tags that stand in for spaCy's NN*/JJ*).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from vlmaudit.data.scenes.grammar import describe, object_tokens, paraphrases
from vlmaudit.data.scenes.graph import Scene
from vlmaudit.data.scenes.meaning import Caption, ObjectDesc, Token, truth
from vlmaudit.data.scenes.rand import Rng, as_random
from vlmaudit.data.scenes.vocab import (
    ADJ_COLOUR,
    ADJ_SIZE,
    ADJ_TAGS,
    COLOURS,
    CONJ,
    CONTEXT,
    DET,
    EXIST,
    NEG,
    NOUN_SHAPE,
    NOUN_TAGS,
    OPPOSITE_RELATION,
    PREP,
    REL,
    RELATION_SURFACES,
    RELATIONS,
    SHAPES,
    SIZE_SURFACES,
    SIZES,
    SURFACE_TO_RELATION,
    SURFACE_TO_SIZE,
)
from vlmaudit.errors import SpecError

__all__ = [
    "NEGATIVE_HOOKS",
    "SHUFFLE_SCHEMES",
    "Perturbed",
    "add_attribute",
    "add_negation",
    "add_object",
    "flip_relation",
    "hard_triplet",
    "negate",
    "replace_attribute",
    "replace_object",
    "replace_relation",
    "shuffle",
    "swap_attributes",
    "swap_relation_args",
    "truth",
]

Tokens = list[Token]


@dataclass(frozen=True)
class Perturbed:
    caption: Caption
    is_true: bool | None  # None: no meaning (shuffles)
    kind: str


Hook = Callable[[Scene, Caption, Rng], Perturbed | None]


# --- token structure -------------------------------------------------------------------------


def _phrases(tokens: tuple[Token, ...]) -> list[tuple[int, int]]:
    """[start, end) of every object phrase (determiner or "no" .. shape noun)."""
    spans, start = [], None
    for k, tok in enumerate(tokens):
        if tok.tag in (DET, NEG) and start is None:
            start = k
        elif tok.tag == NOUN_SHAPE and start is not None:
            spans.append((start, k + 1))
            start = None
    return spans


def _relation_runs(tokens: tuple[Token, ...]) -> list[tuple[int, int]]:
    runs, k = [], 0
    while k < len(tokens):
        if tokens[k].tag == REL:
            end = k
            while end < len(tokens) and tokens[end].tag == REL:
                end += 1
            runs.append((k, end))
            k = end
        else:
            k += 1
    return runs


def _relation_edit(tokens: tuple[Token, ...], run: tuple[int, int], new_relation: str) -> Tokens:
    """Replace a relation run, keeping the synonym style ("to the left of" -> "to the right of")."""
    surface = " ".join(t.text for t in tokens[run[0] : run[1]])
    style = RELATION_SURFACES[SURFACE_TO_RELATION[surface]].index(surface)
    forms = RELATION_SURFACES[new_relation]
    words = forms[min(style, len(forms) - 1)].split()
    return [*tokens[: run[0]], *(Token(w, REL) for w in words), *tokens[run[1] :]]


def _body_end(tokens: tuple[Token, ...]) -> int:
    """Where a clause can be appended: before a trailing "on <context>", else at the end."""
    if len(tokens) >= 2 and tokens[-1].tag == CONTEXT and tokens[-2].tag == PREP:
        return len(tokens) - 2
    return len(tokens)


def _absent_descs(scene: Scene) -> list[ObjectDesc]:
    """(shape, colour) pairs no object of the scene has: clearly absent whatever the size."""
    present = {(o.shape, o.colour) for o in scene.objects}
    return [ObjectDesc(s, c) for s in SHAPES for c in COLOURS if (s, c) not in present]


def _size_style(tokens: tuple[Token, ...]) -> int:
    words = [t.text for t in tokens if t.tag == ADJ_SIZE]
    return SIZE_SURFACES[SURFACE_TO_SIZE[words[0]]].index(words[0]) if words else 0


# --- choosing an edit --------------------------------------------------------------------------


def _first(scene: Scene, candidates: list[tuple[Tokens, str]], rng: Rng, want: bool) -> Perturbed | None:
    """The first candidate (in rng-shuffled order) whose truth is `want` (negatives: clearly)."""
    r = as_random(rng)
    r.shuffle(candidates)
    for tokens, kind in candidates:
        cap = Caption.from_tokens(tokens)
        is_true = truth(cap.meaning, scene)
        if is_true == want and (want or not truth(cap.meaning, scene, loose=True)):
            return Perturbed(cap, is_true, kind)
    return None


def swap_attributes(
    scene: Scene, caption: Caption, rng: Rng, attributes: tuple[str, ...] = ("colour", "size", "shape")
) -> Perturbed | None:
    """Negative: swap one attribute's words between two object phrases that state different values."""
    tags = {"colour": ADJ_COLOUR, "size": ADJ_SIZE, "shape": NOUN_SHAPE}
    toks = caption.tokens
    spans = _phrases(toks)
    candidates = []
    for attribute in attributes:
        slots = [next((k for k in range(s, e) if toks[k].tag == tags[attribute]), None) for s, e in spans]
        for x, kx in enumerate(slots):
            for ky in slots[x + 1 :]:
                if kx is None or ky is None or toks[kx].text == toks[ky].text:
                    continue
                edited = list(toks)
                edited[kx], edited[ky] = toks[ky], toks[kx]
                candidates.append((edited, f"swap-{attribute}"))
    return _first(scene, candidates, rng, want=False)


def swap_relation_args(scene: Scene, caption: Caption, rng: Rng) -> Perturbed | None:
    """Negative: "A rel B" -> "B rel A"."""
    toks = caption.tokens
    by_end = {e: s for s, e in _phrases(toks)}
    by_start = {s: e for s, e in _phrases(toks)}
    candidates = []
    for rs, re_ in _relation_runs(toks):
        if rs in by_end and re_ in by_start:
            s0, e1 = by_end[rs], by_start[re_]
            edited = [*toks[:s0], *toks[re_:e1], *toks[rs:re_], *toks[s0:rs], *toks[e1:]]
            candidates.append((edited, "swap-relation-args"))
    return _first(scene, candidates, rng, want=False)


def replace_attribute(scene: Scene, caption: Caption, rng: Rng) -> Perturbed | None:
    """Negative: one colour word -> another colour, or one size word -> the other size."""
    candidates = []
    for k, tok in enumerate(caption.tokens):
        if tok.tag == ADJ_COLOUR:
            new = [Token(c, ADJ_COLOUR) for c in COLOURS if c != tok.text]
            kind = "replace-colour"
        elif tok.tag == ADJ_SIZE:
            size = SURFACE_TO_SIZE[tok.text]
            style = SIZE_SURFACES[size].index(tok.text)
            new = [Token(SIZE_SURFACES[z][style], ADJ_SIZE) for z in SIZES if z != size]
            kind = "replace-size"
        else:
            continue
        candidates += [([*caption.tokens[:k], t, *caption.tokens[k + 1 :]], kind) for t in new]
    return _first(scene, candidates, rng, want=False)


def replace_object(scene: Scene, caption: Caption, rng: Rng) -> Perturbed | None:
    """Negative: one shape noun -> another shape."""
    toks = caption.tokens
    candidates = [
        ([*toks[:k], Token(s, NOUN_SHAPE), *toks[k + 1 :]], "replace-shape")
        for k, tok in enumerate(toks)
        if tok.tag == NOUN_SHAPE
        for s in SHAPES
        if s != tok.text
    ]
    return _first(scene, candidates, rng, want=False)


def _relation_of(tokens: tuple[Token, ...], run: tuple[int, int]) -> str:
    return SURFACE_TO_RELATION[" ".join(t.text for t in tokens[run[0] : run[1]])]


def replace_relation(scene: Scene, caption: Caption, rng: Rng) -> Perturbed | None:
    """Negative: a relation -> one of the two relations on the other axis."""
    toks = caption.tokens
    candidates = []
    for run in _relation_runs(toks):
        rel = _relation_of(toks, run)
        for new in RELATIONS:
            if new not in (rel, OPPOSITE_RELATION[rel]):
                candidates.append((_relation_edit(toks, run, new), "replace-relation"))
    return _first(scene, candidates, rng, want=False)


def flip_relation(scene: Scene, caption: Caption, rng: Rng) -> Perturbed | None:
    """Negative: a relation -> its opposite (left of <-> right of, above <-> below)."""
    toks = caption.tokens
    candidates = [
        (_relation_edit(toks, run, OPPOSITE_RELATION[_relation_of(toks, run)]), "flip-relation")
        for run in _relation_runs(toks)
    ]
    return _first(scene, candidates, rng, want=False)


def add_object(scene: Scene, caption: Caption, rng: Rng) -> Perturbed | None:
    """Negative: append "and <absent object>" to the body (before a trailing context)."""
    toks, at = caption.tokens, _body_end(caption.tokens)
    style = _size_style(toks)
    candidates = [
        ([*toks[:at], Token("and", CONJ), *object_tokens(d, style), *toks[at:]], "add-object")
        for d in _absent_descs(scene)
    ]
    return _first(scene, candidates, rng, want=False)


def add_attribute(scene: Scene, caption: Caption, rng: Rng) -> Perturbed | None:
    """Negative: give a phrase that states no colour (size) a colour (size) that makes it false."""
    toks = caption.tokens
    style = _size_style(toks)
    candidates = []
    for start, end in _phrases(toks):
        tags = {t.tag for t in toks[start:end]}
        if ADJ_SIZE not in tags:
            for z in SIZES:
                edited = [*toks[: start + 1], Token(SIZE_SURFACES[z][style], ADJ_SIZE), *toks[start + 1 :]]
                candidates.append((edited, "add-size"))
        if ADJ_COLOUR not in tags:
            for c in COLOURS:
                candidates.append(([*toks[: end - 1], Token(c, ADJ_COLOUR), *toks[end - 1 :]], "add-colour"))
    return _first(scene, candidates, rng, want=False)


def negate(scene: Scene, caption: Caption, rng: Rng) -> Perturbed | None:
    """Negative: "there is no <X>" for an object phrase X of the caption (X is present)."""
    toks = caption.tokens
    candidates = [
        ([Token("there", EXIST), Token("is", EXIST), Token("no", NEG), *toks[s + 1 : e]], "negate")
        for s, e in _phrases(toks)
        if toks[s].tag == DET
    ]
    return _first(scene, candidates, rng, want=False)


def add_negation(scene: Scene, caption: Caption, rng: Rng) -> Perturbed | None:
    """Positive: append "and no <absent object>" (before a trailing context) to a true caption."""
    toks, at = caption.tokens, _body_end(caption.tokens)
    style = _size_style(toks)
    candidates = [
        ([*toks[:at], Token("and", CONJ), *object_tokens(d, style, "no"), *toks[at:]], "add-negation")
        for d in _absent_descs(scene)
    ]
    return _first(scene, candidates, rng, want=True)


# --- ARO word-order shuffles -------------------------------------------------------------------


def _permute_slots(words: list[Token], slots: list[int], r: random.Random) -> None:
    picked = [words[k] for k in slots]
    r.shuffle(picked)
    for k, tok in zip(slots, picked, strict=True):
        words[k] = tok


def _chunks(tokens: list[Token]) -> list[list[Token]]:
    return [tokens[k : k + 3] for k in range(0, len(tokens), 3)]


def _shuffle_nouns_and_adj(tokens: list[Token], r: random.Random) -> list[Token]:
    _permute_slots(tokens, [k for k, t in enumerate(tokens) if t.tag in NOUN_TAGS], r)
    _permute_slots(tokens, [k for k, t in enumerate(tokens) if t.tag in ADJ_TAGS], r)
    return tokens


def _shuffle_allbut_nouns_and_adj(tokens: list[Token], r: random.Random) -> list[Token]:
    _permute_slots(tokens, [k for k, t in enumerate(tokens) if t.tag not in NOUN_TAGS | ADJ_TAGS], r)
    return tokens


def _shuffle_within_trigrams(tokens: list[Token], r: random.Random) -> list[Token]:
    chunks = _chunks(tokens)
    for chunk in chunks:
        r.shuffle(chunk)
    return [t for chunk in chunks for t in chunk]


def _shuffle_trigrams(tokens: list[Token], r: random.Random) -> list[Token]:
    chunks = _chunks(tokens)
    r.shuffle(chunks)
    return [t for chunk in chunks for t in chunk]


SHUFFLE_SCHEMES: dict[str, Callable[[list[Token], random.Random], list[Token]]] = {
    "shuffle_nouns_and_adj": _shuffle_nouns_and_adj,
    "shuffle_allbut_nouns_and_adj": _shuffle_allbut_nouns_and_adj,
    "shuffle_within_trigrams": _shuffle_within_trigrams,
    "shuffle_trigrams": _shuffle_trigrams,
}


def shuffle(scheme: str) -> Hook:
    """The hook for one of ARO's shuffles (names as in ARO's TextShuffler)."""
    if scheme not in SHUFFLE_SCHEMES:
        raise SpecError(f"unknown shuffle {scheme!r} (known: {', '.join(SHUFFLE_SCHEMES)})")
    permute = SHUFFLE_SCHEMES[scheme]

    def hook(scene: Scene, caption: Caption, rng: Rng) -> Perturbed | None:
        shuffled = permute(list(caption.tokens), as_random(rng))
        if [t.text for t in shuffled] == list(caption.words):
            return None
        return Perturbed(Caption.unparsed(shuffled), None, scheme)

    hook.__name__ = scheme
    return hook


NEGATIVE_HOOKS: dict[str, Hook] = {
    "swap_attributes": swap_attributes,
    "swap_relation_args": swap_relation_args,
    "replace_attribute": replace_attribute,
    "replace_object": replace_object,
    "replace_relation": replace_relation,
    "flip_relation": flip_relation,
    "add_object": add_object,
    "add_attribute": add_attribute,
    "negate": negate,
}


def hard_triplet(
    scene: Scene, rng: Rng, hooks: dict[str, Hook] | None = None
) -> tuple[Caption, Caption, Perturbed] | None:
    """(c, c_p, c_n): the canonical caption, a random true paraphrase of it, and a negative from a
    random hook (hooks tried in random order until one applies); None if none applies."""
    r = as_random(rng)
    caption = describe(scene)
    positive = r.choice(paraphrases(scene))
    hooks = hooks or NEGATIVE_HOOKS
    names = sorted(hooks)
    r.shuffle(names)
    for name in names:
        negative = hooks[name](scene, caption, r)
        if negative is not None:
            return caption, positive, negative
    return None
