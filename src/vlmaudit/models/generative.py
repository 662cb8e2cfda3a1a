"""The generative-VLM interface: exact continuation log-probabilities, generation, hidden states.

A generative model is audited through what it assigns to text given an image: log P(continuation |
image, prompt), token by token, with the prompt/continuation boundary found exactly (the ids of the
templated prompt are checked to be a prefix of the ids of prompt + continuation, so no token of the
prompt is ever scored and none of the continuation is dropped). Every benchmark score of the family
is built from that one operation (`vlmaudit.scoring.generative`): caption likelihood, VQAScore and
their blind priors.

`prompt` is the user's turn in plain text; the backend wraps it in the model's own chat template and
places the image where the family expects it. `Query.image` is None for a text-only forward (the
language prior); backends that cannot run without an image raise, and the scorer's blind baseline
then uses a neutral image instead.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from PIL import Image

from vlmaudit.models.base import AuditedModel

Position = Literal["last", "mean"]


@dataclass(frozen=True)
class Query:
    """One image and prompt, and the continuations to score after it (they share the prefix)."""

    image: Image.Image | None
    prompt: str
    continuations: tuple[str, ...]


class GenerativeModel(AuditedModel):
    """An image-conditioned language model seen through the audit's eyes.

    `logprobs` is the one scoring primitive. Implementations encode each query's image and prompt
    once and score all of its continuations against that prefix (a KV cache, or one batched
    forward), and batch queries; batched results equal one query at a time to 1e-4.
    """

    family = "generative"
    logit_scale = 1.0  # scores are log-probabilities already: a softmax over options needs no scale
    caption_prompt: str = "Describe the image."  # the prompt under which captions are scored
    text_only: bool = True  # whether `Query.image=None` is supported (a language-only forward)

    @abstractmethod
    def logprobs(self, queries: Sequence[Query]) -> list[list[np.ndarray]]:
        """Per query, per continuation: [T] fp32 log P(token_t | image, prompt, tokens_<t)."""

    @abstractmethod
    def generate(self, images: Sequence[Image.Image | None], prompts: Sequence[str],
                 max_new_tokens: int = 16) -> list[str]:
        """Greedy continuations of each (image, prompt), special tokens stripped."""

    @abstractmethod
    def hidden_states(self, images: Sequence[Image.Image | None], prompts: Sequence[str], layer: int = -1,
                      position: Position = "last") -> torch.Tensor:
        """[N, H] fp32 decoder states at `layer` (negative: from the top) for probes: the last prompt
        token's state, or the mean over the prompt's tokens (image tokens included)."""

    def continuation_tokens(self, texts: Sequence[str]) -> list[list[str]]:
        """How each continuation is split into scored tokens (for reports and length normalisation)."""
        raise NotImplementedError(f"{self.spec} does not list its continuation tokens")
