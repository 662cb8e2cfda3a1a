"""Word-level tokenizer for the built-in model: one id per grammar word, nothing learned.

The scene grammar has a few dozen words, so a closed word list is exact and needs no BPE files.
Text is normalised before lookup, so captions typed by a user still work:

- lowercased;
- every character that is not a letter or a digit becomes a space (punctuation is stripped,
  "left-of" reads as "left of", "isn't" as "isn t");
- split on whitespace; a word outside the vocabulary maps to `<unk>` (never an error);
- framed as `<bos> w1 ... wn <eos>` and right-padded with `<pad>`; a caption longer than the
  context keeps its first `context - 2` words and still ends with `<eos>` (the pooled token).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import torch

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalise(text: str) -> list[str]:
    """Lowercase, strip punctuation, split: the words the tokenizer looks up."""
    return _NON_WORD.sub(" ", text.lower()).split()


class WordTokenizer:
    """Closed-vocabulary tokenizer; ids 0-3 are the specials, then the words in the given order."""

    def __init__(self, words: Sequence[str], context: int = 32) -> None:
        words = list(dict.fromkeys(w for w in words if w not in SPECIALS))
        bad = [w for w in words if normalise(w) != [w]]
        if bad:
            raise ValueError(f"vocabulary words must be normalised single words, got {bad[:5]}")
        if context < 3:
            raise ValueError("context must hold at least <bos>, one word and <eos>")
        self.vocab: list[str] = [*SPECIALS, *words]
        self.index = {word: i for i, word in enumerate(self.vocab)}
        self.context = context
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = range(4)

    @classmethod
    def from_texts(cls, texts: Iterable[str], context: int = 32) -> WordTokenizer:
        """Vocabulary = every normalised word of `texts`, sorted (so it does not depend on order)."""
        words = sorted({w for text in texts for w in normalise(text)})
        return cls(words, context)

    def __len__(self) -> int:
        return len(self.vocab)

    @property
    def words(self) -> list[str]:
        return self.vocab[len(SPECIALS) :]

    def ids(self, text: str) -> list[int]:
        """`<bos> ... <eos>` ids of one text, truncated to the context (no padding)."""
        body = [self.index.get(w, self.unk_id) for w in normalise(text)][: self.context - 2]
        return [self.bos_id, *body, self.eos_id]

    def __call__(self, texts: Sequence[str], full_context: bool = False) -> torch.Tensor:
        """[N, L] int64 ids right-padded with `<pad>`, L = the longest text of the batch, or the
        whole context with `full_context` (one shape for every batch, as the audit engine needs).

        Trimming to the batch is safe for a causal text tower pooled at `<eos>` (padding after
        `<eos>` is never attended to) and makes short captions ~2x cheaper than full context.
        """
        rows = [self.ids(text) for text in texts]
        width = self.context if full_context else max((len(r) for r in rows), default=2)
        out = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        for row, ids in enumerate(rows):
            out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    def unknown_words(self, text: str) -> list[str]:
        """Words of `text` that will read as `<unk>` (for warnings and docs)."""
        return [w for w in normalise(text) if w not in self.index]
