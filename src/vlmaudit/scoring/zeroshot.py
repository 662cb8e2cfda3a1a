"""Zero-shot classification: class names x prompt templates -> a classifier matrix -> top-k.

The classifier is built as open_clip's `build_zero_shot_classifier` builds it: embed every
(class, template) prompt, L2-normalise, average over templates per class, renormalise. Each
distinct prompt is embedded once (the engine dedups) and indexed, and scores are computed once
per distinct (image row, class row) pair, then indexed back (`scoring.cosine.dot_table`): two
identical images, or two classes whose embeddings coincide, score bit-identically, so their ties
are real ties. A CPU GEMM over duplicated rows gives no such guarantee (its blocking can round
equal rows differently).

Scores are cosine similarities in fp32. CLIP's logits are `logit_scale x` these; the ranking is
the same, and rounding the product could merge two distinct cosines into a spurious tie, so the
scale is left out. Top-1/top-5 go through `metrics.selection` with an explicit tie policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vlmaudit.data.items import LabelledImage
from vlmaudit.errors import DataError, SpecError
from vlmaudit.metrics.selection import Selection, TiePolicy, check_tie_policy, select, top_k
from vlmaudit.scoring.cosine import dot_table


def _open_clip_sets() -> dict[str, tuple[str, ...]]:
    """open_clip ships CLIP's template lists as callables; as format strings they can be recorded."""
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES, SIMPLE_IMAGENET_TEMPLATES

    return {"openai": tuple(t("{}") for t in OPENAI_IMAGENET_TEMPLATES),
            "simple": tuple(t("{}") for t in SIMPLE_IMAGENET_TEMPLATES)}


PHOTO = ("a photo of a {}.",)
TEMPLATE_SETS_DOC = {
    "photo": "a photo of a {}. (CLIP's single prompt)",
    "vlmclassifier": "A photo of a {} (2405.18415's CLIP baseline, no ensembling)",
    "simple": "CLIP's 7-template ImageNet subset (open_clip SIMPLE_IMAGENET_TEMPLATES)",
    "openai": "CLIP's 80 ImageNet templates (open_clip OPENAI_IMAGENET_TEMPLATES)",
    "default": "photo + simple: 8 templates, the project's default ensemble",
}


def template_set(name: str) -> tuple[str, ...]:
    """A named template set (TEMPLATE_SETS_DOC says what each is)."""
    if name == "photo":
        return PHOTO
    if name == "vlmclassifier":
        return ("A photo of a {}",)
    if name in ("simple", "openai"):
        return _open_clip_sets()[name]
    if name == "default":
        return PHOTO + _open_clip_sets()["simple"]
    raise SpecError(f"unknown template set {name!r} (known: {', '.join(TEMPLATE_SETS_DOC)})")


def resolve_templates(templates: str | Sequence[str]) -> tuple[str, ...]:
    """A set name, or the user's own templates; each must hold exactly one `{}` for the class name."""
    if isinstance(templates, str):
        return template_set(templates)
    out = tuple(templates)
    if not out:
        raise SpecError("zero-shot needs at least one prompt template")
    for template in out:
        try:
            ok = template.count("{}") == 1 and template.format("x") == template.replace("{}", "x")
        except (IndexError, KeyError, ValueError):
            ok = False
        if not ok:
            raise SpecError(f"prompt template {template!r} must contain exactly one {{}} and no other braces")
    if len(set(out)) < len(out):
        raise SpecError(f"prompt templates repeat: {out}")
    return out


def prompts(classes: Sequence[str], templates: Sequence[str]) -> list[list[str]]:
    """The exact texts embedded: prompts[c][t] = templates[t] with classes[c] (for the result)."""
    return [[template.format(name) for template in templates] for name in classes]


def _check_classes(classes: Sequence[str]) -> tuple[str, ...]:
    out = tuple(classes)
    if len(out) < 2:
        raise DataError(f"zero-shot classification needs at least two classes, got {list(out)}")
    if len(set(out)) < len(out):
        raise DataError(f"class names repeat: {sorted(c for c in set(out) if out.count(c) > 1)}")
    return out


@dataclass(frozen=True)
class ZeroShotClassifier:
    classes: tuple[str, ...]
    templates: tuple[str, ...]
    weights: np.ndarray  # [C, D] fp32 unit rows: mean of the normalised prompt embeddings, renormalised

    def prompts(self) -> list[list[str]]:
        return prompts(self.classes, self.templates)

    def scores(self, image_embeddings: np.ndarray | torch.Tensor) -> np.ndarray:
        """[N, C] fp32 cosine scores, one computation per distinct (image row, class row) pair."""
        images = np.asarray(image_embeddings, dtype=np.float32)
        if images.ndim != 2 or images.shape[1] != self.weights.shape[1]:
            raise ValueError(f"image embeddings {images.shape} do not match classifier {self.weights.shape}")
        return dot_table(images, self.weights)


def build_classifier(engine, classes: Sequence[str], templates: str | Sequence[str] = "default"
                     ) -> ZeroShotClassifier:
    """Template-ensembled class embeddings from `engine.texts` (open_clip's recipe, in torch fp32)."""
    names, templates = _check_classes(classes), resolve_templates(templates)
    texts = [text for row in prompts(names, templates) for text in row]
    unique = list(dict.fromkeys(texts))
    slot = {text: i for i, text in enumerate(unique)}
    embedded = engine.texts(unique)  # [U, D] fp32, L2-normalised
    index = torch.tensor([slot[text] for text in texts], dtype=torch.long)
    per_class = embedded[index].reshape(len(names), len(templates), -1).mean(dim=1)
    weights = per_class / per_class.norm(dim=1, keepdim=True)
    return ZeroShotClassifier(names, templates, weights.numpy().astype(np.float32, copy=False))


@dataclass(frozen=True)
class ZeroShotResult:
    classes: tuple[str, ...]
    templates: tuple[str, ...]
    scores: np.ndarray  # [N, C] fp32 cosine scores
    gold: np.ndarray  # [N] class indices
    top1: Selection
    top5: Selection | None  # None with <= 5 classes, where top-5 is trivially right
    tie_policy: str

    def prompts(self) -> list[list[str]]:
        """The exact texts embedded, prompts[c][t] (for the result's provenance)."""
        return prompts(self.classes, self.templates)

    @property
    def predicted(self) -> np.ndarray:
        """[N] first top-scoring class (for per-sample records; `top1.tied` flags the ties)."""
        return self.scores.argmax(axis=1)


def gold_indices(items: Sequence[LabelledImage], classes: Sequence[str]) -> np.ndarray:
    """[N] index of each item's label in `classes`; a label outside them is a DataError."""
    position = {name: i for i, name in enumerate(classes)}
    missing = [item for item in items if item.label not in position]
    if missing:
        first = missing[0]
        raise DataError(f"{len(missing)} item(s) have labels outside the classes, e.g. "
                        f"{first.item_id or first.image.label}: {first.label!r}")
    return np.array([position[item.label] for item in items], dtype=np.int64)


def classify(engine, items: Sequence[LabelledImage], classes: Sequence[str],
             templates: str | Sequence[str] = "default", tie_policy: TiePolicy = "strict",
             seed: int = 0) -> ZeroShotResult:
    """Zero-shot top-1 / top-5 of `items` against `classes` (seed: only for tie_policy=random)."""
    check_tie_policy(tie_policy)
    if not items:
        raise DataError("zero-shot classification got no items")
    classifier = build_classifier(engine, classes, templates)
    gold = gold_indices(items, classifier.classes)
    scores = classifier.scores(engine.images([item.image for item in items]))
    top5 = top_k(scores, gold, 5, tie_policy) if len(classifier.classes) > 5 else None
    return ZeroShotResult(classifier.classes, classifier.templates, scores, gold,
                          select(scores, gold, tie_policy, seed), top5, tie_policy)
