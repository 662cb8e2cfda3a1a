"""Caption grammar driven by the scene graph: canonical captions, random true captions, paraphrases.

Forms (all lowercase words, single spaces, no punctuation):
    object phrase   a|an [size] [colour] shape                "a small red circle"
    clause          OBJ | OBJ REL OBJ                         "a red circle left of a blue square"
    body            clause (and clause)*                      clauses are joined by "and"
    caption         [on CONTEXT] [there is] body [on CONTEXT] context first or last, at most once
    negation        there is no OBJ | body and no OBJ         (see `negation_caption`)

Canonical caption (`describe(scene)`): every attribute of every object, the context last, no
"there is", canonical synonyms, and the chain of relations the generator placed: one object ->
"a small red circle on sand"; two -> "A rel B on ctx" with A = object 0; three ->
"A rel B and B rel C on ctx" (objects 0-1 and 1-2; the 0-2 pair is not mentioned).

Paraphrases vary only meaning-preserving choices: "there is" prefix, context first or last,
relation synonyms ("left of" / "to the left of" / "on the left of", "below" / "beneath"), size
synonyms ("small"/"little", "large"/"big"), clause order, and each relation's direction
("A left of B" == "B right of A"). Attribute dropout and "A and B" (no relation) are only used by
`describe(scene, rng)`, as they weaken the meaning.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from vlmaudit.data.scenes.graph import Scene
from vlmaudit.data.scenes.meaning import Caption, ObjectDesc, Token
from vlmaudit.data.scenes.rand import Rng, as_random
from vlmaudit.data.scenes.vocab import (
    ADJ_COLOUR,
    ADJ_SIZE,
    CONJ,
    CONTEXT,
    DET,
    EXIST,
    NEG,
    NOUN_SHAPE,
    OPPOSITE_RELATION,
    PREP,
    REL,
    RELATION_SURFACES,
    SIZE_SURFACES,
)

Clause = tuple[ObjectDesc] | tuple[ObjectDesc, str, ObjectDesc]

# Attribute dropout of random captions, as in the measured prototype: keep-probabilities of
# (size, colour, context) for one object / several objects; P("A and B") without a relation.
_KEEP_ONE = (0.6, 0.85, 0.7)
_KEEP_MANY = (0.8, 0.95, 0.8)
_P_AND = 0.2
_P_THERE = 0.25
_P_CONTEXT_FIRST = 0.3


def object_tokens(desc: ObjectDesc, size_style: int = 0, determiner: str = "a") -> list[Token]:
    """`a [size] [colour] shape`; `determiner="no"` makes a negated phrase."""
    tokens = [Token(determiner, NEG if determiner == "no" else DET)]
    if desc.size:
        tokens.append(Token(SIZE_SURFACES[desc.size][size_style], ADJ_SIZE))
    if desc.colour:
        tokens.append(Token(desc.colour, ADJ_COLOUR))
    tokens.append(Token(desc.shape or "", NOUN_SHAPE))
    return tokens


def relation_tokens(relation: str, style: int = 0) -> list[Token]:
    forms = RELATION_SURFACES[relation]
    return [Token(w, REL) for w in forms[min(style, len(forms) - 1)].split()]


def context_tokens(context: str) -> list[Token]:
    return [Token("on", PREP), Token(context, CONTEXT)]


def _clause_tokens(clause: Clause, size_style: int, rel_style: int) -> list[Token]:
    if len(clause) == 1:
        return object_tokens(clause[0], size_style)
    a, rel, b = clause
    return [*object_tokens(a, size_style), *relation_tokens(rel, rel_style), *object_tokens(b, size_style)]


def assemble(
    clauses: Sequence[Clause],
    context: str | None,
    *,
    there: bool = False,
    context_first: bool = False,
    size_style: int = 0,
    rel_style: int = 0,
) -> Caption:
    """Tokens of one caption (see the module docstring for the forms)."""
    body: list[Token] = [Token("there", EXIST), Token("is", EXIST)] if there else []
    for k, clause in enumerate(clauses):
        if k:
            body.append(Token("and", CONJ))
        body.extend(_clause_tokens(clause, size_style, rel_style))
    if context is not None:
        body = [*context_tokens(context), *body] if context_first else [*body, *context_tokens(context)]
    return Caption.from_tokens(body)


def _full_descs(scene: Scene) -> list[ObjectDesc]:
    return [ObjectDesc(o.shape, o.colour, o.size) for o in scene.objects]


def scene_clauses(scene: Scene, descs: Sequence[ObjectDesc] | None = None) -> list[Clause]:
    """The generator's chain: object i in its relation to object i + 1 (or the lone object)."""
    descs = list(descs) if descs is not None else _full_descs(scene)
    if len(descs) == 1:
        return [(descs[0],)]
    clauses: list[Clause] = []
    for i in range(len(descs) - 1):
        rel = scene.relation(i, i + 1)
        if rel is None:
            raise ValueError(f"scene {scene.seed}/{scene.index}: objects {i} and {i + 1} have no relation")
        clauses.append((descs[i], rel, descs[i + 1]))
    return clauses


def flip_clause(clause: Clause) -> Clause:
    """`A rel B` -> `B opposite(rel) A` (same meaning)."""
    if len(clause) == 1:
        return clause
    a, rel, b = clause
    return b, OPPOSITE_RELATION[rel], a


def describe(scene: Scene, rng: Rng | None = None) -> Caption:
    """Canonical full caption (rng None), or a random true caption: random form, synonyms,
    relation directions, attribute dropout, sometimes "A and B" without the relation."""
    if rng is None:
        return assemble(scene_clauses(scene), scene.context)
    r = as_random(rng)
    keep_size, keep_colour, keep_context = _KEEP_ONE if len(scene.objects) == 1 else _KEEP_MANY
    descs = [
        ObjectDesc(
            o.shape,
            o.colour if r.random() < keep_colour else None,
            o.size if r.random() < keep_size else None,
        )
        for o in scene.objects
    ]
    if len(descs) > 1 and r.random() < _P_AND:
        clauses: list[Clause] = [(d,) for d in descs]
        r.shuffle(clauses)
    else:
        clauses = [flip_clause(c) if r.random() < 0.5 else c for c in scene_clauses(scene, descs)]
        r.shuffle(clauses)
    context = scene.context if r.random() < keep_context else None
    return assemble(
        clauses,
        context,
        there=r.random() < _P_THERE,
        context_first=context is not None and r.random() < _P_CONTEXT_FIRST,
        size_style=r.randrange(2),
        rel_style=r.randrange(3),
    )


def paraphrases(scene: Scene) -> list[Caption]:
    """All distinct captions meaning exactly what the canonical caption means, canonical excluded,
    in a deterministic order (hard positives)."""
    base = scene_clauses(scene)
    canonical = describe(scene).text
    seen = {canonical}
    out: list[Caption] = []
    for order in itertools.permutations(base):
        for flips in itertools.product((False, True), repeat=len(order)):
            clauses = [flip_clause(c) if f else c for c, f in zip(order, flips, strict=True)]
            for there, first, size_style, rel_style in itertools.product(
                (False, True), (False, True), range(2), range(3)
            ):
                cap = assemble(
                    clauses,
                    scene.context,
                    there=there,
                    context_first=first,
                    size_style=size_style,
                    rel_style=rel_style,
                )
                if cap.text not in seen:
                    seen.add(cap.text)
                    out.append(cap)
    return out


def negation_caption(absent: ObjectDesc, present: Sequence[Clause] = (), size_style: int = 0) -> Caption:
    """`there is no X`, or `<clauses> and no X` when positive clauses are given."""
    if not present:
        return Caption.from_tokens(
            [Token("there", EXIST), Token("is", EXIST), *object_tokens(absent, size_style, "no")]
        )
    body = assemble(present, None, size_style=size_style).tokens
    return Caption.from_tokens([*body, Token("and", CONJ), *object_tokens(absent, size_style, "no")])
