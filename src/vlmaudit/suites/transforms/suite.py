"""Suite `transforms`: does the model know an image was rotated, flipped, blurred, recoloured...?

Reproduces arXiv 2503.09837's three experiments (I original image, I' transformed, C caption,
C' = template(C, description), s = cosine similarity):

- Exp 1: s(I', C') > s(I, C').   Exp 2: s(I', C') > s(I', C), with the gap distribution.
- Exp 3: rank the K transform descriptions for I' (bare, caption-prefixed, and all-descriptions
  ensemble); top-1, top-5, K x K confusion.

and the controls the paper lacks: Exp 2 against C'_wrong (another transform's description) and on
the untransformed image, a "visual gap" (Exp 2's gap on I' minus the same gap on I), a linear
probe on frozen I' embeddings, blind baselines (plain caption for Exp 1; longer caption and a
neutral grey image for Exp 2; the neutral image's constant ranking for Exp 3), chance levels,
tie rates and image-clustered bootstrap CIs.

Defaults where the paper is silent (all flagged "reconstructed" in results): the 25-transform
catalogue (`perturb.transform_catalogue`), every transform applied to every image, template
"{caption}. The image is {description}." (trailing periods/spaces of the caption dropped first),
bare option "The image is {description}.", the first description of each transform
(`description_index=-1` picks one per (image, transform) from a hash of seed, image key and name),
the first caption of each image.

Cost: the scorer embeds each distinct (image, transform) pair and each distinct text once (the
engine caches them); transform ids do not depend on templates, so a rerun with another template
re-encodes no image.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from pydantic import Field, ValidationInfo, field_validator

from vlmaudit.benchmarks import benchmark, reference_file, references_for
from vlmaudit.data.images import ImageRef, memory_image
from vlmaudit.data.items import ImageCaptions
from vlmaudit.data.source import DataSource
from vlmaudit.errors import DataError, SpecError
from vlmaudit.perturb.image_transforms import Transform, load_catalogue, select_transforms
from vlmaudit.scoring.base import Scorer
from vlmaudit.suites.base import Evaluation, Names, RunContext, Suite, SuiteConfig, TiePolicy
from vlmaudit.suites.transforms import plots as plots
from vlmaudit.suites.transforms import scoring as sc
from vlmaudit.suites.transforms.analysis import Setup, analyse

DEFAULT_TEMPLATE = "{caption}. The image is {description}."
DEFAULT_BARE_TEMPLATE = "The image is {description}."
FLAG_LIST = "reconstructed: transform list and descriptions (2503.09837 does not publish them)"
NEUTRAL_GREY = (128, 128, 128)


class Config(SuiteConfig):
    n_images: int = Field(500, ge=0)  # first n images of the data source (0 = all)
    transforms: Names = ()  # catalogue names; empty = all
    template: str = DEFAULT_TEMPLATE  # C' from {caption} and {description}
    bare_template: str = DEFAULT_BARE_TEMPLATE  # Exp 3 bare option from {description}
    description_index: int = Field(0, ge=-1)  # which description of each transform; -1 = hashed per trial
    tie_policy: TiePolicy = "strict"
    probe_test_fraction: float = Field(0.25, gt=0.0, lt=1.0)  # share of images held out for the linear probe
    seed: int = 0  # transform noise, description/wrong-partner choice, probe split, bootstrap
    transforms_file: str = ""  # JSON that extends or replaces the catalogue
    n_boot: int = Field(1000, ge=1)

    @field_validator("template", "bare_template")
    @classmethod
    def _template(cls, template: str, info: ValidationInfo) -> str:
        keys = ("caption", "description") if info.field_name == "template" else ("description",)
        try:
            template.format(caption="c", description="d")
        except (KeyError, IndexError, ValueError) as err:
            message = f"{info.field_name} {template!r} may use only {{caption}} and {{description}}: {err}"
            raise SpecError(message) from None
        if missing := ["{" + k + "}" for k in keys if "{" + k + "}" not in template]:
            raise SpecError(f"{info.field_name} {template!r} must contain {', '.join(missing)}")
        return template


@dataclass(frozen=True)
class Item:
    ref: ImageRef
    caption: str


def configured_transforms(config: Config) -> list[Transform]:
    """The configured transforms, checked against their catalogue (a user's file included)."""
    catalogue = load_catalogue(config.transforms_file or None, seed=config.seed)
    transforms = select_transforms(catalogue, config.transforms)
    if len(transforms) < 2:
        raise SpecError("the transforms suite needs at least two transforms")
    # an index past a transform's descriptions would wrap silently while the flag names the index
    if short := [t.name for t in transforms if config.description_index >= len(t.descriptions)]:
        fewest = min(len(t.descriptions) for t in transforms)
        raise SpecError(f"description_index {config.description_index} is out of range for "
                        f"{', '.join(short[:4])}{' ...' if len(short) > 4 else ''} (use -1 .. {fewest - 1})")
    return transforms


def load_items(data: DataSource, n_images: int) -> list[Item]:
    """(image, caption) pairs: each image with its first caption (a scene's is its canonical one)."""
    limit = n_images or None
    items = [Item(entry.ref, entry.captions[0]) for subset in data.items_of(ImageCaptions).values()
             for entry in subset][:limit]
    if not items:
        raise DataError(f"{data.spec.name}: no images to transform")
    return items


def description_choice(items: list[Item], transforms: list[Transform], index: int, seed: int) -> np.ndarray:
    """[N, K] index into each transform's descriptions: fixed `index`, or hashed per trial if -1."""
    out = np.empty((len(items), len(transforms)), dtype=np.int64)
    for j, t in enumerate(transforms):
        for i, item in enumerate(items):
            pick = index if index >= 0 else zlib.crc32(f"{seed}|{item.ref.key}|{t.name}|desc".encode())
            out[i, j] = pick % len(t.descriptions)
    return out


def fill(template: str, caption: str, description: str) -> str:
    return template.format(caption=caption.strip().rstrip(" ."), description=description)


def transform_scores(scorer: Scorer, items: list[Item], transforms: list[Transform],
                     cap_desc: list[list[str]], bare: list[list[str]],
                     every: list[list[str]]) -> tuple[sc.Scores, np.ndarray]:
    """Every similarity of the three experiments (each (image, view, text) pair scored once) and the
    [N, K, D] embeddings of the transformed images, which the linear probe reads.

    The ensemble option is the mean of a transform's description *embeddings*, so it needs a scorer
    that embeds texts (a dual encoder); for a generative scorer it is None (not defined). The probe
    reads a generative model's decoder state under its caption prompt (`image_embeddings`).
    """
    neutral = memory_image(Image.new("RGB", (64, 64), NEUTRAL_GREY), label="neutral grey")
    n, k = len(items), len(transforms)
    refs = [item.ref for item in items]
    captions = [item.caption for item in items]
    each_view = [t for _ in items for t in transforms]  # trial (i, k) at i * K + k
    each_ref = [ref for ref in refs for _ in transforms]

    def trials(texts: list[str], views=each_view, images=each_ref) -> np.ndarray:
        return scorer.pairs(images, texts, views).reshape(n, k)

    def options(texts: list[list[str]]) -> np.ndarray:  # [N, K, K] s(I'_ik, text_ij)
        flat = [texts[i][j] for i in range(n) for _ in range(k) for j in range(k)]
        views = [t for _ in items for t in transforms for _ in range(k)]
        return scorer.pairs([ref for ref in refs for _ in range(k * k)], flat, views).reshape(n, k, k)

    flat_cd = [text for row in cap_desc for text in row]
    image_t = scorer.image_embeddings(each_ref, each_view).reshape(n, k, -1)
    ensemble_scores = None
    if hasattr(scorer, "text_embeddings"):
        ensemble = torch.nn.functional.normalize(
            torch.stack([torch.from_numpy(scorer.text_embeddings(texts)).mean(0) for texts in every]), dim=-1)
        ensemble_scores = torch.einsum("nkd,jd->nkj", torch.from_numpy(image_t), ensemble).numpy()
        ensemble_scores = ensemble_scores.astype(np.float32)
    blank = [neutral] * (n * k)
    return sc.Scores(
        tc=trials(flat_cd),
        oc=trials(flat_cd, views=[None] * (n * k)),
        tC=trials([c for c in captions for _ in transforms]),
        oC=scorer.pairs(refs, captions),
        captioned=options(cap_desc),
        bare=options(bare),
        ensemble=ensemble_scores,
        neutral_c=trials(flat_cd, views=[None] * (n * k), images=blank),
        neutral_C=scorer.pairs([neutral] * n, captions),
        neutral_bare=trials([text for row in bare for text in row], views=[None] * (n * k), images=blank),
    ), image_t


def view_geometry(items: list[Item], transforms: list[Transform], resize_mode: str,
                  limit: int = 5) -> tuple[dict[str, dict[str, float]], list[str]]:
    """What the model's preprocessing leaves of each transform's geometry, on the first images.

    Shortest-side resize + centre crop shows min(w,h)^2 / (w*h) of a non-square image (a stretched
    or rotated photo loses its edges); squash shows everything but resizes to a square, which
    undoes a stretch on a square input. Both are reported so a "blind" result can be read right.
    """
    def shown(size: tuple[int, int]) -> float:
        w, h = size
        return 1.0 if resize_mode == "squash" else min(w, h) ** 2 / (w * h)

    images = [item.ref.load() for item in items[:limit]]
    base = float(np.mean([shown(image.size) for image in images]))
    squares = all(image.size[0] == image.size[1] for image in images)
    table, cropped, undone = {}, [], []
    for t in transforms:
        out = [t(image).size for image in images]
        visible = float(np.mean([shown(size) for size in out]))
        changed = any(w * b != h * a for (w, h), (a, b) in zip(out, (i.size for i in images), strict=True))
        table[t.name] = {"aspect_ratio": float(np.mean([w / h for w, h in out])), "visible_fraction": visible,
                         "aspect_changed": changed}
        if visible < base - 0.01:
            cropped.append(f"{t.name} ({1 - visible:.0%})")
        if changed and squares and resize_mode == "squash":
            undone.append(t.name)
    flags = []
    if cropped:
        flags.append(f"model preprocessing centre-crops away part of: {', '.join(cropped)}; "
                     f"originals lose {1 - base:.0%}")
    if undone:
        flags.append(f"model preprocessing squashes to a square, undoing the aspect change of: "
                     f"{', '.join(undone)}")
    return table, flags


def _evaluate(ctx: RunContext, data: DataSource, config: Config) -> Evaluation:
    transforms = configured_transforms(config)
    items = load_items(data, config.n_images)
    names = [t.name for t in transforms]
    categories = [t.category for t in transforms]
    n, k = len(items), len(transforms)
    chosen = description_choice(items, transforms, config.description_index, config.seed)
    desc = [[transforms[j].descriptions[chosen[i, j]] for j in range(k)] for i in range(n)]
    captions = [item.caption for item in items]
    cap_desc = [[fill(config.template, captions[i], desc[i][j]) for j in range(k)] for i in range(n)]
    bare = [[config.bare_template.format(description=desc[i][j]) for j in range(k)] for i in range(n)]
    every = [[config.bare_template.format(description=d) for d in t.descriptions] for t in transforms]

    scores, img_t = transform_scores(ctx.scorer, items, transforms, cap_desc, bare, every)
    wrong = sc.wrong_partners([item.ref.key for item in items], names, config.seed)
    setup = Setup(names, categories, config.tie_policy, config.seed, config.n_boot,
                  config.probe_test_fraction, references_for(ctx.model.spec, "transforms"))
    analysis = analyse(scores, wrong, img_t, (cap_desc, captions), setup)
    geometry, model_flags = view_geometry(items, transforms, ctx.model.preprocessing.resize_mode)
    indistinct = (sc.identical_groups(torch.from_numpy(ctx.scorer.text_embeddings(bare[0])), names)
                  if hasattr(ctx.scorer, "text_embeddings") else [])
    if scores.ensemble is None:
        model_flags.append("exp3/ensemble not computed: it averages description embeddings, which a "
                           "generative scorer does not have")
    if indistinct:
        count = sum(map(len, indistinct))
        model_flags.append(f"text encoder embeds the descriptions of {count} transforms identically in "
                           f"{len(indistinct)} group(s): Exp 3 ties among them by construction")
    extra = analysis.extra | {
        "transforms": [t.row() for t in transforms], "n_images": n, "n_transforms": k,
        "template": config.template, "bare_template": config.bare_template,
        "preprocessing": ctx.model.preprocessing.to_dict(), "view_geometry": geometry,
        "indistinct_descriptions": indistinct,
        "benchmark": benchmark("transforms").model_dump(), "paper_notes": reference_file("transforms").notes,
        "paper_exp2_gap_range": reference_file("transforms").extra["exp2_gap_range"],
    }
    samples = {"trials": _samples(items, transforms, chosen, desc, wrong, scores, analysis.outcomes)}
    flags = _flags(config, data, k) + analysis.flags + model_flags
    return Evaluation(analysis.metrics, samples, flags, extra, HEADLINE)


HEADLINE = ["exp1/accuracy", "exp2/accuracy", "exp2/gap_mean", "exp3/bare/top1", "exp3/bare/top5",
            "exp3/captioned/top1", "control/exp2_wrong/accuracy", "control/exp2_untransformed/accuracy",
            "control/visual_gap/gap_mean", "control/probe/accuracy"]


def _samples(items: list[Item], transforms: list[Transform], chosen: np.ndarray, desc: list[list[str]],
             wrong: np.ndarray, scores: sc.Scores, outcomes: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """One row per (image, transform) with every similarity and decision, to recompute any metric."""
    rows = []
    for i, item in enumerate(items):
        for j, t in enumerate(transforms):
            record = {
                "image_key": item.ref.key, "image": item.ref.label, "caption": item.caption,
                "transform": t.name, "category": t.category, "description": desc[i][j],
                "description_index": int(chosen[i, j]), "wrong_transform": transforms[wrong[i, j]].name,
                "s_IpCp": float(scores.tc[i, j]), "s_ICp": float(scores.oc[i, j]),
                "s_IpC": float(scores.tC[i, j]), "s_IC": float(scores.oC[i]),
                "s_IpCwrong": float(scores.captioned[i, j, wrong[i, j]]),
                "s_neutralCp": float(scores.neutral_c[i, j]), "s_neutralC": float(scores.neutral_C[i]),
            }
            for key, table in outcomes.items():
                value = table[i, j]
                if key.endswith("_pred"):
                    record[key] = transforms[int(value)].name if value >= 0 else None
                elif key.endswith("_tied"):
                    record[key] = bool(value)
                else:
                    record[key] = None if np.isnan(value) else float(value)
            rows.append(record)
    return rows


def _flags(config: Config, data: DataSource, k: int) -> list[str]:
    choice = (f"description {config.description_index} of each transform" if config.description_index >= 0
              else "one description per (image, transform), hashed from seed, image and transform")
    flags = [
        FLAG_LIST,
        f"reconstructed: K = {k} transforms (paper: 24 per its abstract, 27 per a seed summary)",
        "reconstructed: every transform is applied to every image (the paper sampled transforms per image)",
        f"reconstructed: caption template {config.template!r} and Exp 3 option {config.bare_template!r}",
        f"reconstructed: {choice}; the first caption of each image",
        "reconstructed: Exp 3 option format unknown; bare, caption-prefixed and ensemble all reported",
    ]
    if config.transforms_file:
        flags.append(f"transforms from user file {config.transforms_file}")
    if data.kind == "scenes":
        flags.append("data: generated scenes, not the paper's augmented Flickr8k: paper numbers are context")
    return flags


class TransformsSuite(Suite):
    name = "transforms"
    Config = Config
    default_data = ("scenes",)
    accepts = (ImageCaptions,)
    families = ("dual", "generative")
    comparison_data = ("scenes?n=50",)  # K x K decoder-scored options per image: 50 images, not 500

    def check(self, config: Config) -> None:
        configured_transforms(config)  # reads the catalogue (a user file too) before the run directory exists

    def evaluate(self, ctx: RunContext, data: DataSource, config: Config) -> Evaluation:
        return _evaluate(ctx, data, config)

    def figures(self, result: dict[str, Any], samples: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        return plots.figures(result, samples)


SUITE = TransformsSuite()
