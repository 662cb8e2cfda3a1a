"""Scores of a generative VLM on the seam: caption likelihood and VQAScore, and their blind priors.

Both are built from one cached primitive, `Engine.continuation_logprobs` (the exact log-probability
of a continuation's tokens after the model's own chat-templated prompt), so every benchmark rule,
tie policy and CI applies to a LLaVA exactly as to a CLIP.

- **likelihood**: s = log P(caption | image, caption prompt), summed over the caption's tokens
  (`normalize="sum"`, the headline: the exact log-probability, lm-eval's `acc`) or divided by the
  token count (`"mean"`, per-token, lm-eval's `acc_norm` in tokens). Options of equal token count
  rank identically under both; the sum favours shorter captions, so benchmarks whose options differ
  in length (SugarCrepe ADD) should be read beside the length baselines.
- **vqa**: VQAScore (Lin et al. 2024), s = P(answer | image, template.format(caption)) with the
  t2v_metrics v3.0 template 'Does this figure show "{caption}"? Please answer yes or no.' and
  answer "Yes" (v3.1 capitalises "Yes or No"; the template is an option and recorded). The
  probability is exp of the answer's summed token log-probs (for a one-token "Yes" the softmax
  entry itself; t2v_metrics' geometric mean differs only for multi-token answers). `vqa_diff`:
  P("Yes") - P("No"), the variant its author calls robust (t2v_metrics#9).
- **blind prior** (`language_prior`): the same score with the image removed (a text-only forward)
  where the model supports it, else a neutral grey image: what the language model alone prefers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from PIL import Image

from vlmaudit.data.images import ImageRef, memory_image
from vlmaudit.errors import SpecError
from vlmaudit.scoring.base import Images, Scorer, Texts, View

Method = Literal["likelihood", "vqa", "vqa_diff"]
METHODS = ("likelihood", "vqa", "vqa_diff")
VQA_TEMPLATE = 'Does this figure show "{caption}"? Please answer yes or no.'
NEUTRAL_GREY = (128, 128, 128)
ImageMode = Literal["given", "none", "neutral"]


@dataclass(frozen=True)
class GenerativeSettings:
    """Everything that changes a generative score; recorded in every result's provenance."""

    method: Method = "likelihood"
    normalize: Literal["sum", "mean"] = "sum"
    prompt: str | None = None  # the caption prompt (None: the model's own `caption_prompt`)
    template: str = VQA_TEMPLATE
    answer: str = "Yes"
    negative: str = "No"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SpecError(f"score={self.method!r}: use one of {', '.join(METHODS)}")
        if self.normalize not in ("sum", "mean"):
            raise SpecError(f"normalize={self.normalize!r}: use sum or mean")
        if "{caption}" not in self.template:
            raise SpecError(f"template {self.template!r} has no {{caption}} slot")

    @classmethod
    def from_options(cls, options: dict[str, str]) -> GenerativeSettings:
        """From model-spec options (`?score=vqa&template=...`); unknown keys are an error."""
        known = {"score": "method", "normalize": "normalize", "prompt": "prompt", "template": "template",
                 "answer": "answer", "negative": "negative"}
        if unknown := sorted(set(options) - set(known)):
            raise SpecError(f"unknown generative scoring option(s) {unknown} (known: {sorted(known)})")
        return cls(**{known[key]: value for key, value in options.items()})  # type: ignore[arg-type]

    def to_dict(self) -> dict:
        return {"method": self.method, "normalize": self.normalize, "prompt": self.prompt,
                "template": self.template, "answer": self.answer, "negative": self.negative}


class GenerativeScorer(Scorer):
    """s(image, text) of a generative VLM under `settings`, from the engine's cached log-probs."""

    def __init__(self, engine, settings: GenerativeSettings | None = None, image_mode: ImageMode = "given",
                 name: str = "model") -> None:
        self.engine, self.settings, self.image_mode, self.name = engine, settings or GenerativeSettings(), \
            image_mode, name
        self.blind = image_mode != "given"
        self._neutral = memory_image(Image.new("RGB", (64, 64), NEUTRAL_GREY), label="neutral grey")

    @property
    def prompt(self) -> str:
        return self.settings.prompt if self.settings.prompt is not None else self.engine.model.caption_prompt

    def language_prior(self) -> GenerativeScorer:
        """The same score without the image: text only where the model can, else a neutral image."""
        mode: ImageMode = "none" if getattr(self.engine.model, "text_only", False) else "neutral"
        return GenerativeScorer(self.engine, self.settings, mode, "text_prior")

    def with_settings(self, **changes) -> GenerativeScorer:
        return GenerativeScorer(self.engine, replace(self.settings, **changes), self.image_mode, self.name)

    def _images(self, images: Images, views: Sequence[View]) -> tuple[list[ImageRef | None], list[View]]:
        if self.image_mode == "given":
            return list(images), list(views)
        stand_in = None if self.image_mode == "none" else self._neutral
        return [stand_in] * len(images), [None] * len(images)

    def score_unique(self, images: Images, views: Sequence[View], texts: Texts) -> np.ndarray:
        refs, views = self._images(images, views)
        s = self.settings
        if s.method == "likelihood":
            rows = self.engine.continuation_logprobs(refs, views, [self.prompt] * len(texts), list(texts))
            total = rows[:, 0].astype(np.float64)
            return (total if s.normalize == "sum" else total / np.maximum(rows[:, 1], 1)).astype(np.float32)
        questions = [s.template.format(caption=text.strip()) for text in texts]
        answers = [s.answer] if s.method == "vqa" else [s.answer, s.negative]
        k = len(answers)  # one call: a question's answers share its prefix (one query, k continuations)
        rows = self.engine.continuation_logprobs(
            [r for r in refs for _ in answers], [v for v in views for _ in answers],
            [q for q in questions for _ in answers], answers * len(texts))
        probs = np.exp(rows[:, 0].astype(np.float64)).reshape(len(texts), k)
        return (probs[:, 0] if k == 1 else probs[:, 0] - probs[:, 1]).astype(np.float32)

    def image_embeddings(self, images: Sequence[ImageRef], views: Sequence[View] | None = None) -> np.ndarray:
        """[N, H] the decoder's last-token state under the caption prompt: what probes read."""
        return self.engine.hidden_states(list(images), None if views is None else list(views),
                                         self.prompt).numpy()

    def describe(self) -> dict:
        return {"scorer": "generative", **self.settings.to_dict(), "image": self.image_mode}
