"""ARO's four word-order perturbations (COCO-/Flickr30k-Order), on tagged tokens.

Re-implemented from `dataset_zoo/perturbations.py::TextShuffler` of
mertyg/vision-language-models-are-bows (MIT): nouns (NN*) and adjectives (JJ*) permuted among
their own slots; every other token permuted among the rest; tokens shuffled inside consecutive
trigrams; trigram order shuffled. Options are `[pre_caption(c)] + [pre_caption(p(c)) for p]`.

Two things ARO left to chance are fixed here: each item has its own seed (a hash of the run seed
and the item id), and a perturbation whose tokens equal the positive's (a one-noun caption under
the noun shuffle, a 2-slot permutation that is the identity) is detected and resampled, because
it is an exact tie for any model and ARO's argmax-first rule then scores it correct.
The RNG stream differs from ARO's (`np.random` + `random` seeded once): ARO's shuffled captions
were never released and its authors averaged 5 seeds, so only the distribution is reproducible.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vlmaudit.errors import SpecError

NOUN_TAGS = frozenset({"NN", "NNS", "NNP", "NNPS"})
ADJ_TAGS = frozenset({"JJ", "JJR", "JJS"})
SCHEMES: tuple[str, ...] = (
    "shuffle_nouns_and_adj",
    "shuffle_allbut_nouns_and_adj",
    "shuffle_within_trigrams",
    "shuffle_trigrams",
)
TAGGED_SCHEMES = frozenset(SCHEMES[:2])  # need POS tags; the trigram schemes only need tokens

Tagged = Sequence[tuple[str, str]]  # (token, Penn-Treebank tag)


def pre_caption(caption: str, max_words: int = 30) -> str:
    """BLIP/ARO caption cleaning: lowercase, `.!"()*#:;~` -> space, collapse spaces, cut to max_words."""
    caption = re.sub(r"([.!\"()*#:;~])", " ", caption.lower())
    caption = re.sub(r"\s{2,}", " ", caption).rstrip("\n").strip(" ")
    return " ".join(caption.split(" ")[:max_words])


_CLIP_PRETOKEN = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+", re.IGNORECASE)


def token_key(text: str) -> tuple[str, ...]:
    """Tokens as a CLIP-style tokenizer splits them (lower-cased; punctuation and clitics split).

    "a yak ." and "a yak." give the same key, as they give the same BPE tokens: the test for a
    perturbation that changed nothing a model can see.
    """
    return tuple(_CLIP_PRETOKEN.findall(text.lower()))


@dataclass(frozen=True)
class TagSet:
    """Which tags count as nouns and adjectives (PTB by default; the scene grammar has its own)."""

    nouns: frozenset[str] = NOUN_TAGS
    adjectives: frozenset[str] = ADJ_TAGS


PTB = TagSet()


def shuffle_nouns_and_adj(tagged: Tagged, rng: np.random.Generator, tags: TagSet = PTB) -> list[str]:
    tokens = np.array([tok for tok, _ in tagged], dtype=object)
    nouns = [i for i, (_, tag) in enumerate(tagged) if tag in tags.nouns]
    adjs = [i for i, (_, tag) in enumerate(tagged) if tag in tags.adjectives]
    tokens[nouns] = rng.permutation(tokens[nouns])
    tokens[adjs] = rng.permutation(tokens[adjs])
    return tokens.tolist()


def shuffle_allbut_nouns_and_adj(tagged: Tagged, rng: np.random.Generator, tags: TagSet = PTB) -> list[str]:
    tokens = np.array([tok for tok, _ in tagged], dtype=object)
    rest = [i for i, (_, tag) in enumerate(tagged) if tag not in tags.nouns | tags.adjectives]
    tokens[rest] = rng.permutation(tokens[rest])
    return tokens.tolist()


def trigrams(tokens: Sequence[str]) -> list[list[str]]:
    """Consecutive chunks of 3 (the last may be shorter), as ARO's `get_trigrams`."""
    return [list(tokens[i : i + 3]) for i in range(0, len(tokens), 3)]


def shuffle_within_trigrams(tokens: Sequence[str], rng: np.random.Generator) -> list[str]:
    return [tok for chunk in trigrams(tokens) for tok in rng.permutation(np.array(chunk, dtype=object))]


def shuffle_trigrams(tokens: Sequence[str], rng: np.random.Generator) -> list[str]:
    chunks = trigrams(tokens)
    return [tok for i in rng.permutation(len(chunks)) for tok in chunks[i]]


def apply_scheme(
    scheme: str, tagged: Tagged, tokens: Sequence[str], rng: np.random.Generator, tags: TagSet = PTB
) -> str:
    """One perturbation as a string joined with spaces (ARO joins tokens the same way)."""
    if scheme == "shuffle_nouns_and_adj":
        out = shuffle_nouns_and_adj(tagged, rng, tags)
    elif scheme == "shuffle_allbut_nouns_and_adj":
        out = shuffle_allbut_nouns_and_adj(tagged, rng, tags)
    elif scheme == "shuffle_within_trigrams":
        out = shuffle_within_trigrams(tokens, rng)
    elif scheme == "shuffle_trigrams":
        out = shuffle_trigrams(tokens, rng)
    else:
        raise ValueError(f"unknown order scheme {scheme!r} (use one of {SCHEMES})")
    return " ".join(out)


def item_seed(seed: int, item_id: str) -> int:
    """A per-item seed, stable across machines and Python versions (unlike hash())."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{item_id}".encode()).digest()[:8], "little")


@dataclass(frozen=True)
class OrderOptions:
    """The 5 options of one Order item, gold first, and what resampling could not fix."""

    options: tuple[str, ...]  # [pre_caption(c), 4 perturbations], already pre_caption'd
    identical: tuple[str, ...]  # schemes still token-identical to the positive after resampling
    resampled: int  # extra draws that were needed

    def to_json(self) -> dict:
        return {"options": list(self.options), "identical": list(self.identical), "resampled": self.resampled}


def order_options(
    tagged: Tagged,
    tokens: Sequence[str],
    caption: str,
    seed: int,
    *,
    max_words: int = 30,
    max_tries: int = 10,
    schemes: Sequence[str] = SCHEMES,
) -> OrderOptions:
    """ARO's Order item for one caption, resampling token-identical perturbations up to max_tries."""
    rng = np.random.default_rng(seed)
    positive = pre_caption(caption, max_words)
    key = token_key(positive)
    options, identical, resampled = [positive], [], 0
    for scheme in schemes:
        text = pre_caption(apply_scheme(scheme, tagged, tokens, rng), max_words)
        tries = 1
        while token_key(text) == key and tries < max_tries:
            text = pre_caption(apply_scheme(scheme, tagged, tokens, rng), max_words)
            tries += 1
        resampled += tries - 1
        if token_key(text) == key:
            identical.append(scheme)
        options.append(text)
    return OrderOptions(tuple(options), tuple(identical), resampled)


class Tagger(Protocol):
    """Penn-Treebank POS tags and word tokens for real captions (ARO: spaCy tags, NLTK tokens)."""

    name: str  # recorded with frozen negatives: tags (and so the perturbations) depend on it

    def tag(self, text: str) -> list[tuple[str, str]]: ...

    def tokenize(self, text: str) -> list[str]: ...


class SpacyTagger:
    """spaCy tags (ARO used `en_core_web_sm`); NLTK word tokens for the trigram schemes when present."""

    def __init__(self, model: str = "en_core_web_sm") -> None:
        import spacy

        self.nlp = spacy.load(model, disable=["parser", "ner", "lemmatizer"])
        self.name = f"spacy:{model}-{self.nlp.meta.get('version', '?')}"
        self._words = _nltk_word_tokenize()

    def tag(self, text: str) -> list[tuple[str, str]]:
        return [(tok.text, tok.tag_) for tok in self.nlp(text)]

    def tokenize(self, text: str) -> list[str]:
        return self._words(text) if self._words else [tok.text for tok in self.nlp(text)]


class NltkTagger:
    """NLTK's averaged perceptron (PTB tags) over NLTK word tokens."""

    def __init__(self) -> None:
        import nltk

        _nltk_find("taggers/averaged_perceptron_tagger_eng", "taggers/averaged_perceptron_tagger")
        self._pos_tag = nltk.pos_tag
        self._words = _nltk_word_tokenize() or nltk.tokenize.TreebankWordTokenizer().tokenize
        self.name = f"nltk:averaged_perceptron-{nltk.__version__}"

    def tag(self, text: str) -> list[tuple[str, str]]:
        return list(self._pos_tag(self._words(text)))

    def tokenize(self, text: str) -> list[str]:
        return list(self._words(text))


def _nltk_find(*resources: str) -> str:
    import nltk

    for resource in resources:
        try:
            nltk.data.find(resource)
            return resource
        except LookupError:
            continue
    raise LookupError(f"none of the NLTK resources {resources} is installed")


def _nltk_word_tokenize() -> Callable[[str], list[str]] | None:
    """ARO's tokenizer (`nltk.word_tokenize`) if NLTK and its Punkt data are installed."""
    try:
        import nltk

        _nltk_find("tokenizers/punkt_tab", "tokenizers/punkt")
    except (ImportError, LookupError):
        return None
    return nltk.word_tokenize


_INSTALL_HINT = (
    "install a POS tagger: `pip install spacy && python -m spacy download en_core_web_sm` (what ARO used), "
    "or `pip install nltk && python -m nltk.downloader averaged_perceptron_tagger_eng punkt_tab`; "
    "or pass frozen perturbations with negatives=FILE"
)


def load_tagger(name: str = "auto") -> Tagger:
    """"spacy", "nltk", or "auto" (spaCy if a model is installed, else NLTK if its data is present)."""
    candidates = {"auto": ("spacy", "nltk"), "spacy": ("spacy",), "nltk": ("nltk",)}.get(name)
    if candidates is None:
        raise SpecError(f"unknown tagger {name!r} (use auto, spacy or nltk)")
    problems = []
    for kind in candidates:
        try:
            return SpacyTagger() if kind == "spacy" else NltkTagger()
        except (ImportError, LookupError, OSError) as err:
            problems.append(f"{kind}: {str(err).splitlines()[0] if str(err) else type(err).__name__}")
    found = "; ".join(problems)
    raise SpecError(f"no POS tagger available for order perturbations ({found}); {_INSTALL_HINT}")
