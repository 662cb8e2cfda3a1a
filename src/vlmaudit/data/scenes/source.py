"""`--data scenes?n=..&seed=..&size=..&objects=..&split=..&label=..`: generated scenes as a data source.

Defaults: n=500 scenes of the held-out stream seed=1234 (the built-in model trains on stream 0;
see generate.py for the seed scheme), 64 px, 1-3 objects, split=random. `split=biased` or
`split=balanced` draws a classification split (splits.py) over `attribute` (shape) with classes
`values` (circle,square) tied to `contexts` (grass,sand); `minority` is the biased split's
minority fraction (0.05). `label` is the attribute the LabelledImage items are labelled by
(shape, colour, size, context, count or relation; default shape; see labels.py for which scenes
each can label). The fingerprint covers the options and GENERATOR_VERSION, so caches and
results are invalidated when the generator changes.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Literal

from pydantic import Field

from vlmaudit.data.images import ImageRef
from vlmaudit.data.items import (
    CaptionChoice,
    ImageCaptions,
    ImagePair,
    LabelledImage,
    SpatialChoice,
    WinogroundGroup,
)
from vlmaudit.data.scenes import benchmarks
from vlmaudit.data.scenes.generate import SceneConfig, generate_scenes
from vlmaudit.data.scenes.grammar import describe
from vlmaudit.data.scenes.graph import Scene
from vlmaudit.data.scenes.labels import LabelAttribute, labelled_images
from vlmaudit.data.scenes.render import scene_ref
from vlmaudit.data.scenes.splits import balanced_split, biased_split
from vlmaudit.data.scenes.vocab import GENERATOR_VERSION
from vlmaudit.data.source import CommaList, DataOptions, DataSpec, check_item_type, fingerprint_of
from vlmaudit.errors import SpecError

DEFAULT_N = 500
HELD_OUT_SEED = 1234
# options that change the items beyond SceneConfig/n/seed (given ones only, so defaults keep old fingerprints)
ITEM_OPTIONS = ("split", "attribute", "values", "contexts", "minority", "label")


class ScenesOptions(DataOptions):
    n: int = Field(DEFAULT_N, ge=1)
    seed: int = HELD_OUT_SEED
    size: int = 64
    objects: str | None = None  # N or MIN-MAX; default 1-3, or 1 for a classification split
    split: Literal["random", "biased", "balanced"] = "random"
    attribute: str = "shape"
    values: CommaList = ("circle", "square")
    contexts: CommaList = ("grass", "sand")
    minority: float = 0.05
    label: LabelAttribute = "shape"  # the attribute LabelledImage items are labelled by


def parse_objects(text: str) -> tuple[int, int]:
    """ "2" -> (2, 2); "1-3" -> (1, 3)."""
    low, _, high = text.partition("-")
    try:
        return int(low), int(high or low)
    except ValueError:
        raise SpecError(f"data option objects={text!r} must look like 2 or 1-3") from None


@dataclass
class ScenesSource:
    spec: DataSpec
    config: SceneConfig
    n: int
    seed: int
    scenes: list[Scene] = field(repr=False)
    label: str = "shape"  # the attribute LabelledImage items are labelled by
    kind: str = "scenes"

    def fingerprint(self) -> str:
        return fingerprint_of(
            "scenes", GENERATOR_VERSION, self.n, self.seed, asdict(self.config),
            sorted((k, v) for k, v in self.spec.options.items() if k in ITEM_OPTIONS),
        )

    def refs(self) -> list[ImageRef]:
        return [scene_ref(s) for s in self.scenes]

    @property
    def item_types(self) -> frozenset[type]:
        return frozenset({ImageCaptions, CaptionChoice, SpatialChoice, WinogroundGroup, ImagePair,
                          LabelledImage})

    def items_of(self, kind: type, *, seed: int = 0, count: int | None = None) -> dict[str, list]:
        """Items of every benchmark, built exactly from the scene graphs (`data.scenes.benchmarks`).

        ImageCaptions: each scene with its canonical caption. CaptionChoice: one item per scene and
        generated benchmark that the scene supports ("scenes/<benchmark>"). SpatialChoice,
        WinogroundGroup, ImagePair: generated image sets at this source's size and seed, `count`
        of them if given, else `derived_sizes(n)`. LabelledImage: "scenes/<label>", the scenes the
        `label` attribute can label (`labels.labelled_images`).
        """
        check_item_type(self, kind)
        if kind is LabelledImage:
            return {f"scenes/{self.label}": labelled_images(self.scenes, self.label).items}
        if kind is ImageCaptions:
            return {"scenes": [ImageCaptions(scene_ref(s), (describe(s).text,)) for s in self.scenes]}
        if kind is CaptionChoice:
            built = benchmarks.build_scene_benchmarks(self.scenes, seed, benchmarks.CHOICE_BENCHMARKS,
                                                      skip_unsupported=True)
            return {f"scenes/{name}": items for name, items in built.items()}
        cfg = SceneConfig(image_size=self.config.image_size)
        sizes = benchmarks.derived_sizes(self.n)
        stream = f"{self.seed}/{seed}"
        if kind is SpatialChoice:
            rng = random.Random(f"spatial/whatsup/{stream}")
            return {"whatsup-like/scenes": benchmarks.whatsup_like(rng, cfg, count or sizes["sets"])}
        if kind is WinogroundGroup:
            rng = random.Random(f"spatial/winoground/{stream}")
            return {"winoground-like": benchmarks.winoground_like(rng, cfg, count or sizes["groups"])}
        rng = random.Random(f"spatial/mmvp/{stream}")
        return {"mmvp-like": benchmarks.mmvp_like(rng, cfg, count or sizes["pairs"])}


def open_source(spec: DataSpec) -> ScenesSource:
    if spec.path:
        raise SpecError(f"the scenes dataset is generated and takes no path (got {spec.path!r})")
    options = spec.parse(ScenesOptions)
    # classification splits label object 0: one object unless asked otherwise
    low, high = parse_objects(options.objects or ("1-3" if options.split == "random" else "1"))
    config = SceneConfig(image_size=options.size, min_objects=low, max_objects=high)
    return ScenesSource(spec, config, options.n, options.seed, _draw(options, config), options.label)


def _draw(options: ScenesOptions, config: SceneConfig) -> list[Scene]:
    n, seed, split = options.n, options.seed, options.split
    if split == "random":
        return generate_scenes(n, seed, config)
    if config.min_objects != config.max_objects:
        raise SpecError(f"split={split} needs a fixed object count (objects=1, 2 or 3), not a range")
    common = {
        "attribute": options.attribute,
        "values": options.values,
        "contexts": options.contexts,
        "n_objects": config.min_objects,
        "config": config,
    }
    if split == "balanced":
        return balanced_split(n, seed, **common)
    return list(biased_split(n, seed, minority_fraction=options.minority, **common).scenes)
