"""Suite `spatial`: What'sUp, Winoground and MMVP-VLM, on the released files or on generated scenes.

Questions: does the model tell left from right, on from under, front from behind (What'sUp, 4-way
and Li et al.'s 2-way test, with pair and set consistency); can it match two captions with the same
words to the right two images (Winoground); can it pick the right one of two similar images for a
statement (MMVP-VLM)? On generated scenes the gold is exact and the same three protocols run on
What'sUp-like sets (left/right/above/below of the same two objects), Winoground-like 2x2 groups
and MMVP-like image pairs.

Every metric carries its chance level, tie rate, bootstrap CI and the blind scorers' values on the
same items (`Metric.baselines`); metrics computed with a benchmark's original tie rule carry
`variant="legacy"` (unless that rule is the configured one) and the published number when the
model spec matches (`vlmaudit/benchmarks/data/references/spatial.json`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field, field_validator

from vlmaudit.benchmarks import benchmark, references_for
from vlmaudit.data.images import ImageRef, file_image
from vlmaudit.data.items import ImageCaptions, ImagePair, SpatialChoice, WinogroundGroup
from vlmaudit.data.readers import whatsup as whatsup_reader
from vlmaudit.data.scenes.benchmarks import WHATSUP_LAYOUT
from vlmaudit.data.source import DataSource
from vlmaudit.errors import DataError, SpecError
from vlmaudit.metrics.aggregate import mean_over_subsets
from vlmaudit.metrics.kit import Kit
from vlmaudit.results import Metric
from vlmaudit.scoring.base import Scorer
from vlmaudit.scoring.blind import ReferencePriorScorer
from vlmaudit.scoring.cosine import check_score_dtype
from vlmaudit.suites.base import Evaluation, RunContext, Suite, SuiteConfig, TiePolicy
from vlmaudit.suites.spatial import mmvp as spatial_mmvp
from vlmaudit.suites.spatial import whatsup as spatial_whatsup
from vlmaudit.suites.spatial import winoground as spatial_winoground
from vlmaudit.suites.spatial.common import variants

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
TABLE1 = {  # paper Table 1 columns: mean of two subsets' individual accuracies
    "whatsup": ("A", "B"), "coco-spatial": ("coco-one", "coco-two"), "gqa-spatial": ("gqa-one", "gqa-two"),
}


class Config(SuiteConfig):
    seed: int = 0
    tie_policy: TiePolicy = "strict"  # main rule; each benchmark's own rule is added as variant "legacy"
    legacy: bool = True
    score_dtype: str = "fp32"  # "fp16" rounds embeddings and dots in fp16, like the What'sUp code
    n_boot: int = Field(1000, ge=1)
    neutral_prompt: str = "a photo."  # blind scorers: caption prior and image prior
    prior_images: str = ""  # What'sUp caption prior: directory of reference images R ("" = auto)
    prior_max: int = Field(1000, ge=1)  # at most this many reference images (sorted by name)
    # generated sets on scenes; 0 = from the source's n (data.scenes.benchmarks.derived_sizes: about n
    # images per family, i.e. 40 sets, 80 groups and 80 pairs at the default n = 500)
    n_sets: int = Field(0, ge=0)  # What'sUp-like object pairs (4 images each)
    n_groups: int = Field(0, ge=0)  # Winoground-like 2x2 groups
    n_pairs: int = Field(0, ge=0)  # MMVP-like image pairs
    n_prior: int = Field(64, ge=1)  # generated reference images for the caption prior

    @field_validator("score_dtype")
    @classmethod
    def _score_dtype(cls, dtype: str) -> str:
        return check_score_dtype(dtype)


class SpatialSuite(Suite):
    name = "spatial"
    Config = Config
    default_data = ("scenes",)
    accepts = (SpatialChoice, WinogroundGroup, ImagePair)
    families = ("dual", "generative")
    comparison_data = ("scenes",)

    def evaluate(self, ctx: RunContext, data: DataSource, config: Config) -> Evaluation:
        scorer = ctx.scorer.with_score_dtype(config.score_dtype)
        kit = Kit(config.seed, config.n_boot, references_for(ctx.model.spec, "spatial"))
        out = Evaluation(metrics=[])
        counts = {SpatialChoice: config.n_sets, WinogroundGroup: config.n_groups, ImagePair: config.n_pairs}
        for kind, run_kind in ((SpatialChoice, _whatsup), (WinogroundGroup, _winoground), (ImagePair, _mmvp)):
            if kind in data.item_types:
                subsets = data.items_of(kind, seed=config.seed, count=counts[kind] or None)
                run_kind(ctx, data, subsets, config, scorer, kit, out)
        if not out.metrics:
            raise SpecError(f"suite spatial found no spatial items in {data.spec.name!r}")
        if "generated" in out.extra:
            out.flags.append(SCENES_FLAG)
        if info := getattr(data, "info", {}):  # what the reader did to the files (What'sUp: repeated rows)
            out.extra["data_notes"] = info
            if dropped := [f"{k}: {v}" for k, v in info.get("duplicate_rows_dropped", {}).items() if v]:
                out.flags.append("dropped repeated What'sUp rows (same group and preposition; the last kept, "
                                 f"as the official eval_dict does): {', '.join(dropped)}")
        if config.score_dtype != "fp32":
            out.flags.append(f"scores computed in {config.score_dtype} (legacy emulation), not fp32")
        return out


SCENES_FLAG = ("generated scenes: exact gold; What'sUp-like has left/right + above/below where What'sUp A "
               "has left/right + on/under; sizes follow the source's n (spatial.n_sets/n_groups/n_pairs "
               "override)")
SUITE = SpatialSuite()


def _whatsup(ctx: RunContext, data, subsets: dict[str, list[SpatialChoice]], config: Config, scorer: Scorer,
             kit: Kit, out: Evaluation) -> None:
    """What'sUp subsets ("whatsup/A", ...) or the generated What'sUp-like one ("whatsup-like/scenes")."""
    individual: dict[str, dict[str, float]] = {}
    four = variants(config.tie_policy, spatial_whatsup.LEGACY_4WAY, config.legacy)
    two = variants(config.tie_policy, spatial_whatsup.LEGACY_2WAY, config.legacy)
    for key, items in subsets.items():
        prefix, name = key.rsplit("/", 1)
        if prefix == "whatsup-like":  # generated: the source's own random scenes are the corpus R
            reference = [item.ref for item in data.items_of(ImageCaptions)["scenes"][: config.n_prior]]
            note = ""
        else:
            reference, note = _prior_reference(config, subsets, key)
        if note:
            out.flags.append(note)
        layout = WHATSUP_LAYOUT if prefix == "whatsup-like" else whatsup_reader.SUBSETS[name]
        prior = _caption_prior(scorer, items, reference)
        result = spatial_whatsup.evaluate(scorer, kit, layout, items, prefix=prefix, variants=four,
                                          two_way_variants=two, prior=prior, seed=config.seed,
                                          prompt=config.neutral_prompt)
        out.metrics += result.metrics
        out.samples[key] = result.samples  # one table per metric group, so compare can pair by it
        out.flags += result.flags
        individual[name] = result.individual
        out.headline += [f"{key}/{m}" for m in ("individual", "pair", "set")]
        if prefix == "whatsup-like":
            out.headline += [f"{key}/two-way/individual", f"{key}/two-way/pair"]
            out.extra.setdefault("generated", {})["whatsup_like_sets"] = len(items) // 4
    if any(key.startswith("whatsup/") for key in subsets):
        sizes = {key.rsplit("/", 1)[1]: len(items) for key, items in subsets.items()}
        out.metrics += _table1(kit, individual, sizes, four)
        out.extra["benchmark"] = benchmark("whatsup").model_dump()
        out.extra["files"] = data.files


def _prior_reference(config: Config, subsets: dict[str, list[SpatialChoice]],
                     key: str) -> tuple[list[ImageRef], str]:
    """Reference images R for the caption prior: the user's directory, else the other subsets."""
    if config.prior_images:
        root = Path(config.prior_images)
        if not root.is_dir():
            raise DataError(f"prior_images={root} is not a directory")
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[: config.prior_max]
        if not files:
            raise DataError(f"prior_images={root} holds no .jpg/.jpeg/.png images")
        return [file_image(p) for p in files], ""
    others = [it.image for other, items in subsets.items() if other != key for it in items]
    if others:
        return others[: config.prior_max], (
            f"reconstructed: {key} caption prior uses the other loaded subsets' images as R "
            "(paper: COCO val2017 or VG images; set prior_images=DIR)")
    return [], f"{key}: no reference images for the caption prior (set prior_images=DIR); skipped"


def _caption_prior(scorer: Scorer, items, reference: list[ImageRef]) -> np.ndarray | None:
    if not reference:
        return None
    return ReferencePriorScorer(scorer, reference).image_options([it.image for it in items],
                                                                 [it.options for it in items])


def _table1(kit: Kit, individual: dict[str, dict[str, float]], sizes: dict[str, int],
            four: list[tuple[str, str]]) -> list[Metric]:
    """Paper Table 1: What'sUp = mean(A, B) etc., and their average, for the subsets present."""
    out = []
    for variant, policy in four:
        means, counts = {}, {}
        for name, parts in TABLE1.items():
            if all(p in individual for p in parts):
                means[name] = mean_over_subsets({p: individual[p][variant] for p in parts})
                counts[name] = sum(sizes[p] for p in parts)
        if len(means) == len(TABLE1):
            means["avg"] = float(np.mean(list(means.values())))
            counts["avg"] = sum(counts.values())
        for name, value in means.items():
            out.append(kit.derived(name, value, n=counts[name], group="whatsup/table1", variant=variant,
                                   rule=policy, notes="mean of the subsets' individual accuracies; no CI"))
    return out


def _winoground(ctx: RunContext, data, subsets: dict[str, list[WinogroundGroup]], config: Config,
                scorer: Scorer, kit: Kit, out: Evaluation) -> None:
    runs = variants(config.tie_policy, spatial_winoground.LEGACY, config.legacy)
    for key, items in subsets.items():
        metrics, samples = spatial_winoground.evaluate(scorer, kit, items, prefix=key, variants=runs,
                                                       seed=config.seed, prompt=config.neutral_prompt)
        out.metrics += metrics
        out.samples[key] = samples
        out.headline += [f"{key}/text", f"{key}/image", f"{key}/group"]
        if key == "winoground":
            out.extra |= {"benchmark": benchmark("winoground").model_dump(), "file": data.file}
        else:
            out.extra.setdefault("generated", {})["winoground_like_groups"] = len(items)


def _mmvp(ctx: RunContext, data, subsets: dict[str, list[ImagePair]], config: Config, scorer: Scorer,
          kit: Kit, out: Evaluation) -> None:
    runs = spatial_mmvp.variants_for(config.tie_policy, config.legacy)
    for key, items in subsets.items():
        metrics, samples = spatial_mmvp.evaluate(scorer, kit, items, prefix=key, variants=runs,
                                                 logit_scale=float(ctx.model.logit_scale), seed=config.seed,
                                                 prompt=config.neutral_prompt)
        out.metrics += metrics
        out.samples[key] = samples
        out.headline += [f"{key}/pair"]
        if key == "mmvp-vlm":
            out.headline.append(f"{key}/pair@legacy")
            meta = benchmark("mmvp-vlm")
            out.flags.append(f"reconstructed: {meta.reconstructed}")
            out.extra |= {"benchmark": meta.model_dump(), "file": data.file}
        else:
            out.extra.setdefault("generated", {})["mmvp_like_pairs"] = len(items)
