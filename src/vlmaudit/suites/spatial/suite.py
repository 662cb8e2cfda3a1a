"""Suite `spatial`: What'sUp, Winoground and MMVP-VLM, on the released files or on generated scenes.

Questions: does the model tell left from right, on from under, front from behind (What'sUp, 4-way
and Li et al.'s 2-way test, with pair and set consistency); can it match two captions with the same
words to the right two images (Winoground); can it pick the right one of two similar images for a
statement (MMVP-VLM)? On generated scenes the gold is exact and the same three protocols run on
What'sUp-like sets (left/right/above/below of the same two objects), Winoground-like 2x2 groups
and MMVP-like image pairs.

Every metric carries its chance level, tie rate, bootstrap CI and the blind scorers' values on the
same items (`Metric.baselines`); metrics computed with a benchmark's original tie rule carry the
suffix `@legacy` (unless that rule is the configured one) and the published number when the
model spec matches (`references/spatial.json`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vlmaudit.data.images import ImageRef, file_image
from vlmaudit.data.items import ImageCaptions, ImagePair, SpatialChoice, WinogroundGroup
from vlmaudit.data.readers import mmvp as mmvp_reader
from vlmaudit.data.readers import whatsup as whatsup_reader
from vlmaudit.data.readers import winoground as winoground_reader
from vlmaudit.data.scenes.benchmarks import WHATSUP_LAYOUT
from vlmaudit.data.source import DataSource
from vlmaudit.errors import DataError, SpecError
from vlmaudit.metrics.baselines import hackable_flags
from vlmaudit.metrics.selection import check_tie_policy
from vlmaudit.results import Metric, SuiteResult
from vlmaudit.scoring.base import Scorer
from vlmaudit.scoring.blind import ReferencePriorScorer
from vlmaudit.scoring.cosine import check_score_dtype
from vlmaudit.suites.base import RunContext
from vlmaudit.suites.spatial import mmvp as spatial_mmvp
from vlmaudit.suites.spatial import whatsup as spatial_whatsup
from vlmaudit.suites.spatial import winoground as spatial_winoground
from vlmaudit.suites.spatial.common import MetricKit, references_for, variants

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
TABLE1 = {  # paper Table 1 columns: mean of two subsets' individual accuracies
    "whatsup": ("A", "B"), "coco-spatial": ("coco-one", "coco-two"), "gqa-spatial": ("gqa-one", "gqa-two"),
}


@dataclass
class Config:
    seed: int = 0
    tie_policy: str = "strict"  # main rule; each benchmark's own rule is added as @legacy
    legacy: bool = True
    score_dtype: str = "fp32"  # "fp16" rounds embeddings and dots in fp16, like the What'sUp code
    n_boot: int = 1000
    neutral_prompt: str = "a photo."  # blind scorers: caption prior and image prior
    prior_images: str = ""  # What'sUp caption prior: directory of reference images R ("" = auto)
    prior_max: int = 1000  # at most this many reference images (sorted by name)
    # generated sets on scenes; 0 = from the source's n (data.scenes.benchmarks.derived_sizes: about n
    # images per family, i.e. 40 sets, 80 groups and 80 pairs at the default n = 500)
    n_sets: int = 0  # What'sUp-like object pairs (4 images each)
    n_groups: int = 0  # Winoground-like 2x2 groups
    n_pairs: int = 0  # MMVP-like image pairs
    n_prior: int = 64  # generated reference images for the caption prior


class SpatialSuite:
    name = "spatial"
    Config = Config
    default_data = ("scenes",)
    accepts = (SpatialChoice, WinogroundGroup, ImagePair)

    def check(self, config: Config) -> None:
        check_tie_policy(config.tie_policy)
        check_score_dtype(config.score_dtype)
        counts = ("n_prior", "prior_max", "n_boot")
        if small := [f"{k}={getattr(config, k)}" for k in counts if getattr(config, k) < 1]:
            raise SpecError(f"{', '.join(small)}: must be >= 1")
        sizes = ("n_sets", "n_groups", "n_pairs")
        if negative := [f"{k}={getattr(config, k)}" for k in sizes if getattr(config, k) < 0]:
            raise SpecError(f"{', '.join(negative)}: must be >= 0 (0: from the source's n)")

    def run(self, ctx: RunContext, data: DataSource, config: Config) -> list[SuiteResult]:
        start = time.perf_counter()
        self.check(config)
        scorer = ctx.scorer.with_score_dtype(config.score_dtype)
        kit = MetricKit(config.seed, config.n_boot, references_for(ctx.model.spec))
        out = Collected()
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
        out.flags += hackable_flags(out.metrics)
        if config.score_dtype != "fp32":
            out.flags.append(f"scores computed in {config.score_dtype} (legacy emulation), not fp32")
        return [SuiteResult(
            suite=self.name, model=ctx.model.spec, data=data.spec.name, metrics=out.metrics,
            config=asdict(config), samples=out.samples, flags=out.flags, extra=out.extra,
            data_fingerprint=data.fingerprint(), seconds=time.perf_counter() - start, headline=out.headline,
        )]


SCENES_FLAG = ("generated scenes: exact gold; What'sUp-like has left/right + above/below where What'sUp A "
               "has left/right + on/under; sizes follow the source's n (spatial.n_sets/n_groups/n_pairs "
               "override)")
SUITE = SpatialSuite()


@dataclass
class Collected:
    """What the three benchmark families add to one result."""

    metrics: list[Metric] = field(default_factory=list)
    samples: dict[str, list[dict]] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    headline: list[str] = field(default_factory=list)


def _whatsup(ctx: RunContext, data, subsets: dict[str, list[SpatialChoice]], config: Config, scorer: Scorer,
             kit: MetricKit, out: Collected) -> None:
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
        out.samples.setdefault(prefix, []).extend(result.samples)
        out.flags += result.flags
        individual[name] = result.individual
        out.headline += [f"{key}/{m}" for m in ("individual", "pair", "set")]
        if prefix == "whatsup-like":
            out.headline += [f"{key}/two-way/individual", f"{key}/two-way/pair"]
            out.extra.setdefault("generated", {})["whatsup_like_sets"] = len(items) // 4
    if any(key.startswith("whatsup/") for key in subsets):
        sizes = {key.rsplit("/", 1)[1]: len(items) for key, items in subsets.items()}
        out.metrics += _table1(kit, individual, sizes, four)
        out.extra["benchmark"] = _jsonable(whatsup_reader.METADATA)
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


def _table1(kit: MetricKit, individual: dict[str, dict[str, float]], sizes: dict[str, int],
            four: list[tuple[str, str]]) -> list[Metric]:
    """Paper Table 1: What'sUp = mean(A, B) etc., and their average, for the subsets present."""
    out = []
    for suffix, policy in four:
        means, counts = {}, {}
        for name, parts in TABLE1.items():
            if all(p in individual for p in parts):
                means[name] = float(np.mean([individual[p][suffix] for p in parts]))
                counts[name] = sum(sizes[p] for p in parts)
        if len(means) == len(TABLE1):
            means["avg"] = float(np.mean(list(means.values())))
            counts["avg"] = sum(counts.values())
        for name, value in means.items():
            ref = kit.reference("whatsup/table1", name, policy)
            out.append(Metric(name=name + suffix, value=value, n=counts[name], group="whatsup/table1",
                              reference=ref, notes="mean of the subsets' individual accuracies; no CI"))
    return out


def _winoground(ctx: RunContext, data, subsets: dict[str, list[WinogroundGroup]], config: Config,
                scorer: Scorer, kit: MetricKit, out: Collected) -> None:
    runs = variants(config.tie_policy, spatial_winoground.LEGACY, config.legacy)
    for key, items in subsets.items():
        metrics, samples = spatial_winoground.evaluate(scorer, kit, items, prefix=key, variants=runs,
                                                       seed=config.seed, prompt=config.neutral_prompt)
        out.metrics += metrics
        out.samples[key] = samples
        out.headline += [f"{key}/text", f"{key}/image", f"{key}/group"]
        if key == "winoground":
            out.extra |= {"benchmark": _jsonable(winoground_reader.METADATA), "file": data.file}
        else:
            out.extra.setdefault("generated", {})["winoground_like_groups"] = len(items)


def _mmvp(ctx: RunContext, data, subsets: dict[str, list[ImagePair]], config: Config, scorer: Scorer,
          kit: MetricKit, out: Collected) -> None:
    runs = spatial_mmvp.variants_for(config.tie_policy, config.legacy)
    for key, items in subsets.items():
        metrics, samples = spatial_mmvp.evaluate(scorer, kit, items, prefix=key, variants=runs,
                                                 logit_scale=float(ctx.model.logit_scale), seed=config.seed,
                                                 prompt=config.neutral_prompt)
        out.metrics += metrics
        out.samples["mmvp" if key == "mmvp-vlm" else key] = samples
        out.headline += [f"{key}/pair"]
        if key == "mmvp-vlm":
            out.headline.append(f"{key}/pair@legacy")
            out.flags.append(f"reconstructed: {mmvp_reader.METADATA['reconstructed']}")
            out.extra |= {"benchmark": _jsonable(mmvp_reader.METADATA), "file": data.file}
        else:
            out.extra.setdefault("generated", {})["mmvp_like_pairs"] = len(items)


def _jsonable(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if k != "expected_format"} | {
        "expected_format": " ".join(str(meta.get("expected_format", "")).split())}
