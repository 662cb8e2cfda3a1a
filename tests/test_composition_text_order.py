"""ARO's four order perturbations, token-identical detection, taggers and frozen negatives."""

import itertools
import json
from collections import Counter

import numpy as np
import pytest

from vlmaudit.errors import DataError, SpecError
from vlmaudit.perturb.order_file import frozen_order_options
from vlmaudit.perturb.text_order import (
    SCHEMES,
    TagSet,
    apply_scheme,
    item_seed,
    load_tagger,
    order_options,
    pre_caption,
    shuffle_allbut_nouns_and_adj,
    shuffle_nouns_and_adj,
    shuffle_trigrams,
    shuffle_within_trigrams,
    token_key,
    trigrams,
)

LEXICON = {"a": "DT", "the": "DT", "man": "NN", "dog": "NN", "hat": "NN", "beach": "NN", "dogs": "NNS",
           "red": "JJ", "big": "JJ", "small": "JJ", "on": "IN", "with": "IN", "walks": "VBZ", ".": "."}


class LexiconTagger:
    """A fake POS tagger: whitespace tokens (punctuation split off), tags from a lexicon."""

    name = "lexicon-test"

    def __init__(self):
        self.calls = 0

    def tokenize(self, text):
        return text.replace(".", " .").split()

    def tag(self, text):
        self.calls += 1
        return [(tok, LEXICON.get(tok.lower(), "NN")) for tok in self.tokenize(text)]


CAPTION = "A big man walks a small dog on the red beach."


def test_pre_caption_matches_blip():
    assert pre_caption('A man (standing) on: the~beach!  "Nice"', 30) == "a man standing on the beach nice"
    assert pre_caption("one, two's three-four.") == "one, two's three-four"
    assert pre_caption(" ".join(["w"] * 40), 30) == " ".join(["w"] * 30)


def test_token_key_ignores_spacing_of_punctuation_only():
    assert token_key("a yak .") == token_key("A yak.")
    assert token_key("a yak") != token_key("yak a")


def test_noun_and_adjective_shuffles_move_only_their_slots():
    tagged = LexiconTagger().tag(CAPTION)
    tokens = [t for t, _ in tagged]
    rng = np.random.default_rng(0)
    out = shuffle_nouns_and_adj(tagged, rng)
    nouns = [i for i, (_, tag) in enumerate(tagged) if tag.startswith("NN")]
    adjs = [i for i, (_, tag) in enumerate(tagged) if tag.startswith("JJ")]
    fixed = [i for i in range(len(tokens)) if i not in nouns + adjs]
    assert [out[i] for i in fixed] == [tokens[i] for i in fixed]
    assert Counter(out[i] for i in nouns) == Counter(tokens[i] for i in nouns)
    assert Counter(out[i] for i in adjs) == Counter(tokens[i] for i in adjs)
    rest = shuffle_allbut_nouns_and_adj(tagged, np.random.default_rng(1))
    assert [rest[i] for i in nouns + adjs] == [tokens[i] for i in nouns + adjs]
    assert Counter(rest) == Counter(tokens)


def test_custom_tag_set_replaces_ptb():
    tagged = [("a", "DET"), ("red", "ADJ-colour"), ("circle", "NOUN-shape"), ("left", "REL"), ("of", "REL"),
              ("a", "DET"), ("blue", "ADJ-colour"), ("square", "NOUN-shape")]
    tags = TagSet(nouns=frozenset({"NOUN-shape"}), adjectives=frozenset({"ADJ-colour"}))
    outs = {tuple(shuffle_nouns_and_adj(tagged, np.random.default_rng(s), tags)) for s in range(20)}
    assert ("a", "blue", "square", "left", "of", "a", "red", "circle") in outs
    assert all(o[0] == "a" and o[3:5] == ("left", "of") for o in outs)


def test_trigram_shuffles_keep_chunks():
    tokens = list("abcdefgh")
    assert trigrams(tokens) == [["a", "b", "c"], ["d", "e", "f"], ["g", "h"]]
    within = shuffle_within_trigrams(tokens, np.random.default_rng(0))
    assert [set(within[i : i + 3]) for i in (0, 3, 6)] == [set("abc"), set("def"), set("gh")]
    orders = {"".join(shuffle_trigrams(tokens, np.random.default_rng(s))) for s in range(30)}
    assert orders == {"".join(p) for p in itertools.permutations(["abc", "def", "gh"])}
    with pytest.raises(ValueError):
        apply_scheme("shuffle_everything", [], tokens, np.random.default_rng(0))


def test_order_options_is_deterministic_and_pre_captioned():
    tagger = LexiconTagger()
    args = (tagger.tag(CAPTION), tagger.tokenize(CAPTION), CAPTION, item_seed(1, "img.jpg#0"))
    first, second = order_options(*args), order_options(*args)
    assert first == second
    assert first.options[0] == "a big man walks a small dog on the red beach"
    assert len(first.options) == 5 and not first.identical
    assert all(token_key(o) != token_key(first.options[0]) for o in first.options[1:])
    assert all(Counter(o.split()) == Counter(first.options[0].split()) for o in first.options[1:])
    assert item_seed(1, "a") != item_seed(1, "b") != item_seed(2, "a")


def test_unpermutable_caption_is_reported_identical_after_resampling():
    tagger = LexiconTagger()
    caption = "a dog."  # one noun, no adjective, one trigram: two shuffles can only return it
    out = order_options(tagger.tag(caption), tagger.tokenize(caption), caption, 0, max_tries=4)
    assert out.identical == ("shuffle_nouns_and_adj", "shuffle_trigrams")
    assert out.resampled >= 6  # every draw of both identity shuffles was token-identical
    assert out.options[1] == out.options[4] == "a dog"
    assert out.options[2] != "a dog" or out.options[3] != "a dog"


def test_frozen_file_is_written_once_and_reused_without_a_tagger(tmp_path):
    path = tmp_path / "neg.json"
    captions = [("img1.jpg#0", CAPTION), ("img1.jpg#1", "The dogs walk with a man.")]
    tagger = LexiconTagger()
    first, name = frozen_order_options(captions, path, tagger, seed=1)
    assert name == "lexicon-test" and path.exists()
    stored = json.loads(path.read_text())
    assert stored["seed"] == 1 and stored["items"]["img1.jpg#0"]["caption"] == CAPTION

    def no_tagger():
        raise AssertionError("the tagger must not be built when every item is frozen")

    again, _ = frozen_order_options(captions, path, no_tagger, seed=1)
    assert again == first
    more, _ = frozen_order_options([*captions, ("img2.jpg#0", "a red hat")], path, LexiconTagger(), seed=1)
    assert more["img1.jpg#0"] == first["img1.jpg#0"] and len(json.loads(path.read_text())["items"]) == 3
    with pytest.raises(DataError, match="seed"):
        frozen_order_options(captions, path, tagger, seed=2)
    with pytest.raises(DataError, match="another caption"):
        frozen_order_options([("img1.jpg#0", "a different caption")], path, tagger, seed=1)
    path.write_text("{not json")
    with pytest.raises(DataError, match=r"neg\.json"):
        frozen_order_options(captions, path, tagger, seed=1)


def test_load_tagger_without_nlp_packages_says_how_to_install():
    try:
        import spacy  # noqa: F401
        pytest.skip("spaCy is installed here")
    except ImportError:
        pass
    try:
        load_tagger("nltk")
        pytest.skip("NLTK with tagger data is installed here")
    except SpecError:
        pass
    with pytest.raises(SpecError, match="en_core_web_sm") as err:
        load_tagger("auto")
    assert "\n" not in str(err.value)
    with pytest.raises(SpecError, match="unknown tagger"):
        load_tagger("stanza")


def test_all_schemes_are_listed_in_aro_order():
    assert SCHEMES == ("shuffle_nouns_and_adj", "shuffle_allbut_nouns_and_adj",
                       "shuffle_within_trigrams", "shuffle_trigrams")
