"""Tagged captions, their structured meaning, and exact truth against a scene graph.

A caption's meaning is always *parsed from its tagged tokens* (never carried alongside them), so
any edit of the tokens - a perturbation, a synonym swap - yields the meaning of the words actually
written, and `truth` of a perturbed caption cannot disagree with its text.

Semantics (existential, per clause):
- an object description (any subset of shape/colour/size) holds if some object has all of them;
- a relation `A rel B` holds if some ordered pair of distinct objects (i, j) with i matching A and
  j matching B has `(i, rel, j)` in the scene's relations (two clauses may bind different objects);
- a negated description ("no green triangle") holds if no object matches it;
- a context holds if it is the scene's context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vlmaudit.data.scenes.graph import Scene, SceneObject, relation_holds
from vlmaudit.data.scenes.vocab import (
    ADJ_COLOUR,
    ADJ_SIZE,
    CONJ,
    CONTEXT,
    DET,
    NEG,
    NOUN_SHAPE,
    OPPOSITE_RELATION,
    REL,
    SURFACE_TO_RELATION,
    SURFACE_TO_SIZE,
    WORD_TAGS,
)
from vlmaudit.errors import DataError


@dataclass(frozen=True)
class Token:
    text: str
    tag: str


@dataclass(frozen=True)
class ObjectDesc:
    """A partial object description; None = not stated."""

    shape: str | None = None
    colour: str | None = None
    size: str | None = None

    def matches(self, obj: SceneObject) -> bool:
        return all(
            want is None or want == have
            for want, have in ((self.shape, obj.shape), (self.colour, obj.colour), (self.size, obj.size))
        )

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in (("shape", self.shape), ("colour", self.colour), ("size", self.size)) if v}


@dataclass(frozen=True)
class Meaning:
    """`relations` index into `objects`; `negated` descriptions are asserted absent."""

    objects: tuple[ObjectDesc, ...] = ()
    relations: tuple[tuple[int, str, int], ...] = ()
    negated: tuple[ObjectDesc, ...] = ()
    context: str | None = None

    def key(self) -> tuple:
        """Normal form: two captions mean the same iff their keys are equal. Relations are
        written in one direction (right of/below become left of/above with arguments swapped)."""
        triples = set()
        for i, rel, j in self.relations:
            a, b = self.objects[i], self.objects[j]
            triples.add((b, OPPOSITE_RELATION[rel], a) if rel in ("right of", "below") else (a, rel, b))
        return frozenset(self.objects), frozenset(triples), frozenset(self.negated), self.context

    def to_dict(self) -> dict[str, Any]:
        return {
            "objects": [o.to_dict() for o in self.objects],
            "relations": [list(t) for t in self.relations],
            "negated": [o.to_dict() for o in self.negated],
            "context": self.context,
        }


@dataclass(frozen=True)
class Caption:
    """Text, its tagged tokens, and its meaning (None for word orders outside the grammar,
    e.g. ARO shuffles, which have no meaning to evaluate)."""

    text: str
    tokens: tuple[Token, ...]
    meaning: Meaning | None

    @classmethod
    def from_tokens(cls, tokens: tuple[Token, ...] | list[Token]) -> Caption:
        """Caption of grammatical tokens; articles are fixed up ("a orange" -> "an orange")."""
        tokens = fix_articles(tokens)
        return cls(" ".join(t.text for t in tokens), tokens, parse(tokens))

    @classmethod
    def from_text(cls, text: str) -> Caption:
        """Tag and parse a grammatical caption given as plain text (e.g. read back from a file)."""
        words, tokens, k = text.split(), [], 0
        while k < len(words):
            n = next((n for n in (4, 3, 2, 1) if " ".join(words[k : k + n]) in SURFACE_TO_RELATION), 0)
            if n:
                tokens += [Token(w, REL) for w in words[k : k + n]]
                k += n
                continue
            if words[k] not in WORD_TAGS:
                raise DataError(f"caption {text!r}: word {words[k]!r} is not in the scene grammar")
            tokens.append(Token(words[k], WORD_TAGS[words[k]]))
            k += 1
        return cls.from_tokens(tokens)

    @classmethod
    def unparsed(cls, tokens: tuple[Token, ...] | list[Token]) -> Caption:
        """A word sequence kept verbatim, without a meaning."""
        tokens = tuple(tokens)
        return cls(" ".join(t.text for t in tokens), tokens, None)

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(t.text for t in self.tokens)

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(t.tag for t in self.tokens)


def fix_articles(tokens: tuple[Token, ...] | list[Token]) -> tuple[Token, ...]:
    """Articles agree with the next word ("a orange" -> "an orange"), so word edits stay English."""
    out = list(tokens)
    for k, tok in enumerate(out[:-1]):
        if tok.tag == DET and tok.text in ("a", "an"):
            out[k] = Token("an" if out[k + 1].text[0] in "aeiou" else "a", DET)
    return tuple(out)


def parse(tokens: tuple[Token, ...]) -> Meaning:
    """Meaning of a grammatical tagged token sequence (tags drive the parse; see grammar.py).

    An object phrase ends at its NOUN-shape; a run of REL words links the previous object phrase
    of the clause to the next one; NEG marks the next object phrase absent; CONJ ends a clause.
    """
    objects: list[ObjectDesc] = []
    negated: list[ObjectDesc] = []
    relations: list[tuple[int, str, int]] = []
    context: str | None = None
    attrs: dict[str, str] = {}
    negate = False
    subject: int | None = None  # last object phrase of the current clause
    pending: tuple[int, str] | None = None
    rel_words: list[str] = []
    text = " ".join(t.text for t in tokens)
    for tok in tokens:
        if rel_words and tok.tag != REL:
            surface = " ".join(rel_words)
            if surface not in SURFACE_TO_RELATION or subject is None:
                raise DataError(f"caption {text!r}: relation {surface!r} has no known form or no subject")
            pending, rel_words = (subject, SURFACE_TO_RELATION[surface]), []
        if tok.tag == ADJ_COLOUR:
            attrs["colour"] = tok.text
        elif tok.tag == ADJ_SIZE:
            attrs["size"] = SURFACE_TO_SIZE[tok.text]
        elif tok.tag == NOUN_SHAPE:
            desc = ObjectDesc(shape=tok.text, **attrs)
            attrs = {}
            if negate:
                negated.append(desc)
                negate = False
                continue
            objects.append(desc)
            if pending is not None:
                relations.append((pending[0], pending[1], len(objects) - 1))
                pending = None
            subject = len(objects) - 1
        elif tok.tag == REL:
            rel_words.append(tok.text)
        elif tok.tag == NEG:
            negate = True
        elif tok.tag == CONTEXT:
            context = tok.text
        elif tok.tag == CONJ:
            subject = None
    if rel_words or pending is not None or attrs or negate:
        raise DataError(f"caption {text!r} ends inside a phrase")
    return Meaning(tuple(objects), tuple(relations), tuple(negated), context)


def truth(meaning: Meaning, scene: Scene, loose: bool = False) -> bool:
    """Exact truth of `meaning` in `scene` (see the module docstring). `loose=True` reads
    relations as plain centre order, for checking that a negative is clearly false."""
    if meaning.context is not None and meaning.context != scene.context:
        return False
    objs = scene.objects
    if not all(any(d.matches(o) for o in objs) for d in meaning.objects):
        return False
    if any(d.matches(o) for d in meaning.negated for o in objs):
        return False
    strict = set(scene.relations)
    for a, rel, b in meaning.relations:
        da, db = meaning.objects[a], meaning.objects[b]
        if not any(
            i != j
            and da.matches(oi)
            and db.matches(oj)
            and (
                relation_holds(oi, oj, rel, scene.image_size, loose=True) if loose else (i, rel, j) in strict
            )
            for i, oi in enumerate(objs)
            for j, oj in enumerate(objs)
        ):
            return False
    return True
