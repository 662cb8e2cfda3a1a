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

Cost: one `engine.images` call with every (image, transform) pair and one `engine.texts` call;
transform ids do not depend on templates, so a rerun with another template re-encodes no image.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from itertools import chain
from typing import Any

import numpy as np
import torch
from PIL import Image

from vlmaudit.benchmarks import benchmark, reference_file, references_for
from vlmaudit.data.images import ImageRef, memory_image
from vlmaudit.data.source import DataSource
from vlmaudit.errors import DataError, SpecError
from vlmaudit.metrics.baselines import hackable_flags
from vlmaudit.metrics.selection import check_tie_policy
from vlmaudit.perturb.image_transforms import Transform, load_catalogue, select_transforms
from vlmaudit.results import SuiteResult
from vlmaudit.suites.base import RunContext
from vlmaudit.suites.transforms import plots as plots
from vlmaudit.suites.transforms import scoring as sc
from vlmaudit.suites.transforms.analysis import Setup, analyse

DEFAULT_TEMPLATE = "{caption}. The image is {description}."
DEFAULT_BARE_TEMPLATE = "The image is {description}."
FLAG_LIST = "reconstructed: transform list and descriptions (2503.09837 does not publish them)"
NEUTRAL_GREY = (128, 128, 128)


@dataclass
class Config:
    n_images: int = 500  # first n images of the data source (0 = all)
    transforms: tuple[str, ...] = ()  # catalogue names; empty = all
    template: str = DEFAULT_TEMPLATE  # C' from {caption} and {description}
    bare_template: str = DEFAULT_BARE_TEMPLATE  # Exp 3 bare option from {description}
    description_index: int = 0  # which description of each transform; -1 = hashed per (image, transform)
    tie_policy: str = "strict"
    probe_test_fraction: float = 0.25  # share of images held out for the linear probe
    seed: int = 0  # transform noise, description/wrong-partner choice, probe split, bootstrap
    transforms_file: str = ""  # JSON that extends or replaces the catalogue
    n_boot: int = 1000


@dataclass(frozen=True)
class Item:
    ref: ImageRef
    caption: str


def _validate(config: Config) -> None:
    for field_name, keys in (("template", ("caption", "description")), ("bare_template", ("description",))):
        template = getattr(config, field_name)
        probe = {"caption": "c", "description": "d"}
        try:
            template.format(**probe)
        except (KeyError, IndexError, ValueError) as err:
            message = f"{field_name} {template!r} may use only {{caption}} and {{description}}: {err}"
            raise SpecError(message) from None
        if missing := ["{" + k + "}" for k in keys if "{" + k + "}" not in template]:
            raise SpecError(f"{field_name} {template!r} must contain {', '.join(missing)}")
    check_tie_policy(config.tie_policy)
    if not 0.0 < config.probe_test_fraction < 1.0:
        raise SpecError(f"probe_test_fraction must be in (0, 1), got {config.probe_test_fraction}")
    if config.n_images < 0 or config.n_boot < 1 or config.description_index < -1:
        raise SpecError("n_images must be >= 0, n_boot >= 1 and description_index >= -1")


def load_items(data: DataSource, n_images: int) -> list[Item]:
    """(image, caption) pairs: scenes with their canonical caption, or each image's first caption."""
    limit = n_images or None
    if data.kind == "scenes":
        from vlmaudit.data.scenes import describe, scene_ref

        items = [Item(scene_ref(scene), describe(scene).text) for scene in data.scenes[:limit]]
    elif data.kind == "image-caption":
        items = [Item(item.ref, item.captions[0]) for item in data.items[:limit]]
    else:
        raise SpecError(f"transforms cannot run on data of kind {data.kind!r} (accepts {SUITE.accepts})")
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


def _embed(ctx: RunContext, items: list[Item], transforms: list[Transform], texts: list[str]):
    """One image call (originals, every pair, the neutral image) and one text call."""
    neutral = memory_image(Image.new("RGB", (64, 64), NEUTRAL_GREY), label="neutral grey")
    refs: list[ImageRef] = []
    applied: list[Transform | None] = []
    for item in items:
        refs += [item.ref] * (len(transforms) + 1)
        applied += [None, *transforms]
    images = ctx.engine.images([*refs, neutral], [*applied, None])
    n, k = len(items), len(transforms)
    grid = images[:-1].reshape(n, k + 1, -1)
    return grid[:, 0], grid[:, 1:], images[-1], ctx.engine.texts(texts)


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


def run(ctx: RunContext, data: DataSource, config: Config) -> list[SuiteResult]:
    _validate(config)
    catalogue = load_catalogue(config.transforms_file or None, seed=config.seed)
    transforms = select_transforms(catalogue, config.transforms)
    if len(transforms) < 2:
        raise SpecError("the transforms suite needs at least two transforms")
    # an index past a transform's descriptions would wrap silently while the flag names the index
    if short := [t.name for t in transforms if config.description_index >= len(t.descriptions)]:
        fewest = min(len(t.descriptions) for t in transforms)
        raise SpecError(f"description_index {config.description_index} is out of range for "
                        f"{', '.join(short[:4])}{' ...' if len(short) > 4 else ''} (use -1 .. {fewest - 1})")
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

    text_list = list(dict.fromkeys(chain(captions, *cap_desc, *bare, *every)))
    img_o, img_t, neutral, text_emb = _embed(ctx, items, transforms, text_list)
    row = {text: i for i, text in enumerate(text_list)}

    def lookup(texts: list[list[str]]) -> torch.Tensor:
        return text_emb[torch.tensor([[row[t] for t in line] for line in texts])]

    ensemble = torch.nn.functional.normalize(torch.stack([lookup([e])[0].mean(0) for e in every]), dim=-1)
    scores = sc.cosine_scores(img_o, img_t, neutral, text_emb[[row[c] for c in captions]], lookup(cap_desc),
                              lookup(bare), ensemble)
    wrong = sc.wrong_partners([item.ref.key for item in items], names, config.seed)
    setup = Setup(names, categories, config.tie_policy, config.seed, config.n_boot,
                  config.probe_test_fraction, references_for(ctx.model.spec, "transforms"))
    analysis = analyse(scores, wrong, img_t.numpy(), (cap_desc, captions), setup)
    geometry, model_flags = view_geometry(items, transforms, ctx.model.preprocessing.resize_mode)
    indistinct = sc.identical_groups(lookup(bare)[0], names)
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
    figures = {
        "per_transform_accuracy": plots.per_transform_bars(analysis.panels, names, categories),
        "exp2_gap_histogram": plots.gap_histogram(analysis.gaps),
        "exp3_confusion": plots.confusion_matrices(
            {f"Exp 3, {v} options": np.asarray(analysis.extra["exp3_confusion"][v])
             for v in ("bare", "captioned")}, names),
    }
    return [SuiteResult(
        suite=SUITE.name, model=ctx.model.spec, data=data.spec.name, metrics=analysis.metrics,
        config=asdict(config), samples={"trials": _samples(items, transforms, chosen, desc, wrong, scores,
                                                           analysis.outcomes)},
        flags=_flags(config, data, k) + analysis.flags + model_flags + hackable_flags(analysis.metrics),
        figures=figures, extra=extra,
        data_fingerprint=data.fingerprint(), headline=HEADLINE,
    )]


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


class TransformsSuite:
    name = "transforms"
    Config = Config
    default_data = ("scenes",)
    accepts = ("scenes", "image-caption")

    def check(self, config: Config) -> None:
        _validate(config)

    def run(self, ctx: RunContext, data: DataSource, config: Config) -> list[SuiteResult]:
        return run(ctx, data, config)


SUITE = TransformsSuite()
