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

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vlmaudit.benchmarks import benchmark, references_for
from vlmaudit.data.images import ImageRef, file_image
from vlmaudit.data.readers import whatsup as whatsup_reader
from vlmaudit.data.source import DataSource
from vlmaudit.errors import DataError, SpecError
from vlmaudit.metrics.aggregate import mean_over_subsets
from vlmaudit.metrics.baselines import hackable_flags
from vlmaudit.metrics.kit import Kit
from vlmaudit.metrics.selection import check_tie_policy
from vlmaudit.results import Metric, SuiteResult
from vlmaudit.suites.base import RunContext
from vlmaudit.suites.spatial import mmvp as spatial_mmvp
from vlmaudit.suites.spatial import whatsup as spatial_whatsup
from vlmaudit.suites.spatial import winoground as spatial_winoground
from vlmaudit.suites.spatial.common import Scorer, check_score_dtype, variants

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
TABLE1 = {  # paper Table 1 columns: mean of two subsets' individual accuracies
    "whatsup": ("A", "B"), "coco-spatial": ("coco-one", "coco-two"), "gqa-spatial": ("gqa-one", "gqa-two"),
}


@dataclass
class Config:
    seed: int = 0
    tie_policy: str = "strict"  # main rule; each benchmark's own rule is added as variant "legacy"
    legacy: bool = True
    score_dtype: str = "fp32"  # "fp16" rounds embeddings and dots in fp16, like the What'sUp code
    n_boot: int = 1000
    neutral_prompt: str = "a photo."  # blind scorers: caption prior and image prior
    prior_images: str = ""  # What'sUp caption prior: directory of reference images R ("" = auto)
    prior_max: int = 1000  # at most this many reference images (sorted by name)
    n_sets: int = 40  # generated What'sUp-like object pairs (4 images each)
    n_groups: int = 80  # generated Winoground-like 2x2 groups
    n_pairs: int = 80  # generated MMVP-like image pairs
    n_prior: int = 64  # generated reference images for the caption prior


class SpatialSuite:
    name = "spatial"
    Config = Config
    default_data = ("scenes",)
    accepts = ("scenes", "whatsup", "winoground", "mmvp-vlm")

    def check(self, config: Config) -> None:
        check_tie_policy(config.tie_policy)
        check_score_dtype(config.score_dtype)
        counts = ("n_sets", "n_groups", "n_pairs", "n_prior", "prior_max", "n_boot")
        if small := [f"{k}={getattr(config, k)}" for k in counts if getattr(config, k) < 1]:
            raise SpecError(f"{', '.join(small)}: must be >= 1")

    def run(self, ctx: RunContext, data: DataSource, config: Config) -> list[SuiteResult]:
        start = time.perf_counter()
        self.check(config)
        scorer = Scorer(ctx.engine, config.score_dtype, config.neutral_prompt)
        kit = Kit(config.seed, config.n_boot, references_for(ctx.model.spec, "spatial"))
        runners = {"whatsup": _whatsup, "winoground": _winoground, "mmvp-vlm": _mmvp, "scenes": _scenes}
        if data.kind not in runners:
            raise SpecError(f"suite spatial cannot run on {data.kind!r} data (accepts {self.accepts})")
        metrics, samples, flags, extra, headline = runners[data.kind](ctx, data, config, scorer, kit)
        flags += hackable_flags(metrics)
        if config.score_dtype != "fp32":
            flags.append(f"scores computed in {config.score_dtype} (legacy emulation), not fp32")
        return [SuiteResult(
            suite=self.name, model=ctx.model.spec, data=data.spec.name, metrics=metrics,
            config=asdict(config), samples=samples, flags=flags, extra=extra,
            data_fingerprint=data.fingerprint(), seconds=time.perf_counter() - start, headline=headline,
        )]


SUITE = SpatialSuite()


def _whatsup(ctx: RunContext, data, config: Config, scorer: Scorer, kit: Kit):
    metrics: list[Metric] = []
    samples: list[dict] = []
    flags: list[str] = []
    individual: dict[str, dict[str, float]] = {}
    four = variants(config.tie_policy, spatial_whatsup.LEGACY_4WAY, config.legacy)
    two = variants(config.tie_policy, spatial_whatsup.LEGACY_2WAY, config.legacy)
    for name, items in data.subsets.items():
        reference, note = _prior_reference(config, data, name)
        prior = _caption_prior(scorer, items, reference)
        if note:
            flags.append(note)
        subset = whatsup_reader.SUBSETS[name]
        out = spatial_whatsup.evaluate(scorer, kit, subset, items, prefix="whatsup", variants=four,
                                       two_way_variants=two, prior=prior, seed=config.seed)
        metrics += out.metrics
        samples += out.samples
        flags += out.flags
        individual[name] = out.individual
    metrics += _table1(kit, individual, {name: len(items) for name, items in data.subsets.items()}, four)
    headline = [f"whatsup/{name}/{m}" for name in data.subsets for m in ("individual", "pair", "set")]
    extra = {"benchmark": benchmark("whatsup").model_dump(), "files": data.files}
    return metrics, {"whatsup": samples}, flags, extra, headline


def _prior_reference(config: Config, data, name: str) -> tuple[list[ImageRef], str]:
    """Reference images R for the caption prior: the user's directory, else the other subsets."""
    if config.prior_images:
        root = Path(config.prior_images)
        if not root.is_dir():
            raise DataError(f"prior_images={root} is not a directory")
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[: config.prior_max]
        if not files:
            raise DataError(f"prior_images={root} holds no .jpg/.jpeg/.png images")
        return [file_image(p) for p in files], ""
    others = [it.image for other, items in data.subsets.items() if other != name for it in items]
    if others:
        return others[: config.prior_max], (
            f"reconstructed: whatsup/{name} caption prior uses the other loaded subsets' images as R "
            "(paper: COCO val2017 or VG images; set prior_images=DIR)")
    return [], f"whatsup/{name}: no reference images for the caption prior (set prior_images=DIR); skipped"


def _caption_prior(scorer: Scorer, items, reference: list[ImageRef]) -> np.ndarray | None:
    if not reference:
        return None
    texts = list(dict.fromkeys(t for it in items for t in it.options))
    prior = dict(zip(texts, scorer.text_prior_on(texts, reference), strict=True))
    return np.array([[prior[t] for t in it.options] for it in items], dtype=np.float32)


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


def _winoground(ctx: RunContext, data, config: Config, scorer: Scorer, kit: Kit):
    runs = variants(config.tie_policy, spatial_winoground.LEGACY, config.legacy)
    metrics, samples = spatial_winoground.evaluate(scorer, kit, data.items, prefix="winoground",
                                                   variants=runs, seed=config.seed)
    extra = {"benchmark": benchmark("winoground").model_dump(), "file": data.file}
    headline = ["winoground/text", "winoground/image", "winoground/group"]
    return metrics, {"winoground": samples}, [], extra, headline


def _mmvp(ctx: RunContext, data, config: Config, scorer: Scorer, kit: Kit):
    runs = spatial_mmvp.variants_for(config.tie_policy, config.legacy)
    metrics, samples = spatial_mmvp.evaluate(scorer, kit, data.items, prefix="mmvp-vlm", variants=runs,
                                             logit_scale=float(ctx.model.logit_scale), seed=config.seed)
    meta = benchmark("mmvp-vlm")
    flags = [f"reconstructed: {meta.reconstructed}"]
    extra = {"benchmark": meta.model_dump(), "file": data.file}
    return metrics, {"mmvp": samples}, flags, extra, ["mmvp-vlm/pair", "mmvp-vlm/pair@legacy"]


def _scenes(ctx: RunContext, data, config: Config, scorer: Scorer, kit: Kit):
    from vlmaudit.suites.spatial import scenes as spatial_scenes  # the generator is only needed here

    return spatial_scenes.run(ctx, data, config, scorer, kit)
