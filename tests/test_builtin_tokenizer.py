"""The built-in model's word tokenizer: normalisation, unknown words, truncation, padding."""

from __future__ import annotations

import pytest

from vlmaudit.data.scenes import VOCABULARY
from vlmaudit.models.tokenizer import WordTokenizer, normalise


@pytest.fixture
def tok() -> WordTokenizer:
    return WordTokenizer(VOCABULARY, context=12)


def test_normalise_lowercases_and_strips_punctuation() -> None:
    words = ["a", "red", "circle", "left", "of", "the", "square"]
    assert normalise("A Red, CIRCLE left-of the   square!") == words
    assert normalise("isn't") == ["isn", "t"]
    assert normalise("  ...  ") == []


def test_unknown_words_map_to_unk_and_never_raise(tok: WordTokenizer) -> None:
    ids = tok.ids("a magenta dodecahedron on sand")
    assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id
    assert ids[2] == ids[3] == tok.unk_id
    assert ids[1] == tok.index["a"] and ids[-2] == tok.index["sand"]
    assert tok.unknown_words("A magenta circle") == ["magenta"]
    assert tok.ids("") == [tok.bos_id, tok.eos_id]
    assert tok.ids("日本語 ☃") == [tok.bos_id, tok.eos_id]  # non-ASCII letters are stripped like punctuation


def test_case_and_punctuation_do_not_change_ids(tok: WordTokenizer) -> None:
    assert tok.ids("A RED circle.") == tok.ids("a red circle")


def test_batch_is_padded_to_its_longest_text_and_long_texts_keep_eos(tok: WordTokenizer) -> None:
    batch = tok(["a red circle", "a"])
    assert batch.shape == (2, 5)
    assert batch[1].tolist() == [tok.bos_id, tok.index["a"], tok.eos_id, tok.pad_id, tok.pad_id]
    long = tok(["a red circle " * 10])
    assert long.shape == (1, 12) and long[0, -1] == tok.eos_id


def test_vocabulary_covers_the_grammar_and_rejects_unnormalised_words() -> None:
    tok = WordTokenizer(VOCABULARY)
    assert len(tok) == len(VOCABULARY) + 4
    assert tok.words == list(VOCABULARY)
    with pytest.raises(ValueError, match="normalised"):
        WordTokenizer(["Red"])
    with pytest.raises(ValueError, match="normalised"):
        WordTokenizer(["left of"])


def test_full_context_padding_gives_every_batch_one_shape(tok: WordTokenizer) -> None:
    """Catches `full_context` ignored: the audit's built-in text forwards would again take the
    batch's longest caption as their length, and a caption's row would depend on its companions."""
    short, mixed = tok(["a"], full_context=True), tok(["a red circle", "a"], full_context=True)
    assert short.shape == (1, 12) and mixed.shape == (2, 12)
    alone = [tok.bos_id, tok.index["a"], tok.eos_id] + [tok.pad_id] * 9
    assert mixed[1].tolist() == short[0].tolist() == alone
    assert mixed[:, :5].tolist() == tok(["a red circle", "a"]).tolist()
