"""The closed world of the generated scenes: attribute words, their pixels, and the synonym table.

Everything else (generator, renderer, grammar, perturbations) reads its words from here, so a new
colour or shape is one edit. Synonyms are listed only where they are exactly meaning-preserving in
this world (e.g. "big" == "large" because there are exactly two sizes); "box" for "square" or
"over" for "above" are deliberately absent because they change or blur the meaning.
"""

from __future__ import annotations

GENERATOR_VERSION = "scenes-2"  # bump whenever pixels, placements or captions of a seed change

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "diamond")
COLOURS: tuple[str, ...] = ("red", "green", "blue", "yellow", "purple", "orange", "white", "black")
SIZES: tuple[str, ...] = ("small", "large")
CONTEXTS: tuple[str, ...] = ("grass", "sand", "water", "snow")
RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")
OPPOSITE_RELATION: dict[str, str] = {
    "left of": "right of",
    "right of": "left of",
    "above": "below",
    "below": "above",
}
MIRROR_RELATION: dict[str, str] = {
    "left of": "right of",
    "right of": "left of",
    "above": "above",
    "below": "below",
}
ATTRIBUTES: tuple[str, ...] = ("shape", "colour", "size")
VALUES: dict[str, tuple[str, ...]] = {"shape": SHAPES, "colour": COLOURS, "size": SIZES}

# Fill colours (RGB) before the per-object +-6 jitter.
COLOUR_RGB: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (40, 200, 40),
    "blue": (40, 80, 235),
    "yellow": (245, 225, 30),
    "purple": (150, 50, 200),
    "orange": (250, 140, 20),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
}
# Side of the (square) bounding box as a fraction of the image side: 12 px / 22 px at 64 px.
SIZE_FRACTION: dict[str, float] = {"small": 12 / 64, "large": 22 / 64}

# Surface forms, canonical first. Each list is a set of exact synonyms in this world.
RELATION_SURFACES: dict[str, tuple[str, ...]] = {
    "left of": ("left of", "to the left of", "on the left of"),
    "right of": ("right of", "to the right of", "on the right of"),
    "above": ("above",),
    "below": ("below", "beneath"),
}
SIZE_SURFACES: dict[str, tuple[str, ...]] = {"small": ("small", "little"), "large": ("large", "big")}
SURFACE_TO_RELATION: dict[str, str] = {s: r for r, forms in RELATION_SURFACES.items() for s in forms}
SURFACE_TO_SIZE: dict[str, str] = {s: z for z, forms in SIZE_SURFACES.items() for s in forms}

# Word tags: every caption token carries one, so perturbations never need a POS tagger.
DET, NEG, EXIST, CONJ, PREP = "DET", "NEG", "EXIST", "CONJ", "PREP"
ADJ_COLOUR, ADJ_SIZE, NOUN_SHAPE, REL, CONTEXT = "ADJ-colour", "ADJ-size", "NOUN-shape", "REL", "CONTEXT"
TAGS: tuple[str, ...] = (DET, ADJ_SIZE, ADJ_COLOUR, NOUN_SHAPE, REL, PREP, CONTEXT, NEG, EXIST, CONJ)
# ARO's shuffles act on Penn-Treebank nouns (NN*) and adjectives (JJ*); these tags play that part.
NOUN_TAGS: frozenset[str] = frozenset({NOUN_SHAPE, CONTEXT})
ADJ_TAGS: frozenset[str] = frozenset({ADJ_COLOUR, ADJ_SIZE})

_FUNCTION_WORDS = ("a", "an", "the", "no", "there", "is", "and", "on")
# The tag of every word outside relation phrases (relation words are all REL).
WORD_TAGS: dict[str, str] = {
    "a": DET,
    "an": DET,
    "no": NEG,
    "there": EXIST,
    "is": EXIST,
    "and": CONJ,
    "on": PREP,
    **{w: NOUN_SHAPE for w in SHAPES},
    **{w: ADJ_COLOUR for w in COLOURS},
    **{w: ADJ_SIZE for forms in SIZE_SURFACES.values() for w in forms},
    **{w: CONTEXT for w in CONTEXTS},
}
VOCABULARY: tuple[str, ...] = tuple(
    sorted(
        set(_FUNCTION_WORDS)
        | set(SHAPES)
        | set(COLOURS)
        | set(CONTEXTS)
        | {w for forms in SIZE_SURFACES.values() for w in forms}
        | {w for forms in RELATION_SURFACES.values() for s in forms for w in s.split()}
    )
)
"""Every word the grammar can emit (for word-level tokenizers)."""
