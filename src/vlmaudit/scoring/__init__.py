"""Scorers: items -> score tables, one seam for dual encoders, generative VLMs and blind baselines."""

from __future__ import annotations

from vlmaudit.errors import SpecError
from vlmaudit.scoring.base import Scorer


def scorer_for(model, engine, options: dict[str, str] | None = None) -> Scorer:
    """The model's own scorer on the seam: cosine of embeddings for a dual encoder; caption
    likelihood (or VQAScore, by the spec's `?score=` option) for a generative model."""
    options = options or {}
    if getattr(model, "family", "dual") == "generative":
        from vlmaudit.scoring.generative import GenerativeScorer, GenerativeSettings

        return GenerativeScorer(engine, GenerativeSettings.from_options(options))
    if options:
        raise SpecError(f"{model.spec}: scoring options {sorted(options)} apply to generative models only")
    from vlmaudit.scoring.cosine import CosineScorer

    return CosineScorer(engine)


__all__ = ["Scorer", "scorer_for"]
