"""`--data scenes?n=..&seed=..&size=..&objects=..`: generated scenes as a data source.

Defaults: n=500 scenes of the held-out stream seed=1234 (the built-in model trains on stream 0;
see generate.py for the seed scheme), 64 px, 1-3 objects. The fingerprint covers the options and
GENERATOR_VERSION, so caches and results are invalidated when the generator changes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from vlmaudit.data.images import ImageRef
from vlmaudit.data.scenes.generate import SceneConfig, generate_scenes
from vlmaudit.data.scenes.graph import Scene
from vlmaudit.data.scenes.render import scene_ref
from vlmaudit.data.scenes.vocab import GENERATOR_VERSION
from vlmaudit.data.source import DataSpec, fingerprint_of
from vlmaudit.errors import SpecError

DEFAULT_N = 500
HELD_OUT_SEED = 1234
OPTIONS = ("n", "seed", "size", "objects")


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
    kind: str = "scenes"

    def fingerprint(self) -> str:
        return fingerprint_of("scenes", GENERATOR_VERSION, self.n, self.seed, asdict(self.config))

    def refs(self) -> list[ImageRef]:
        return [scene_ref(s) for s in self.scenes]


def open_source(spec: DataSpec) -> ScenesSource:
    if spec.path:
        raise SpecError(f"the scenes dataset is generated and takes no path (got {spec.path!r})")
    unknown = sorted(set(spec.options) - set(OPTIONS))
    if unknown:
        raise SpecError(f"unknown scenes option(s) {', '.join(unknown)} (known: {', '.join(OPTIONS)})")
    n, seed = spec.option("n", DEFAULT_N, int), spec.option("seed", HELD_OUT_SEED, int)
    if n < 1:
        raise SpecError(f"data option n={n} must be >= 1")
    low, high = parse_objects(spec.options.get("objects", "1-3"))
    config = SceneConfig(image_size=spec.option("size", 64, int), min_objects=low, max_objects=high)
    return ScenesSource(spec, config, n, seed, generate_scenes(n, seed, config))
