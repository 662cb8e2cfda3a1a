"""The composition suite's benchmarks (metadata from `vlmaudit.benchmarks`), by data kind.

Each entry says what the number is (main score, chance, aggregation, the official tie rule and the
option order it was applied to), where the data comes from and under which licence, so a result
can be read without opening the paper, and `tie_policy="official"` can reproduce each repository.
"""

from __future__ import annotations

from vlmaudit.benchmarks import Benchmark, benchmark, benchmarks
from vlmaudit.data.readers.sugarcrepe import SUBSETS as SUGARCREPE_SUBSETS

VG_RELATION = benchmark("aro/vg_relation")
VG_ATTRIBUTION = benchmark("aro/vg_attribution")
SUGARCREPE = benchmark("sugarcrepe")
HARD_POSITIVES = benchmark("hard_positives")

SCENE_KINDS = ("relation_swap", "attribute_swap", "order", *(f"sugarcrepe_{k}" for k in SUGARCREPE_SUBSETS),
               "hard_positives_replace", "hard_positives_swap")
SCENE_BENCHMARKS: dict[str, Benchmark] = {kind: benchmarks()[f"scenes/{kind}"] for kind in SCENE_KINDS}

# a source's subset key "<format>/<subset>" -> the benchmark (one subset: the group is its name)
BY_FORMAT: dict[str, Benchmark] = {
    "aro-vgr": VG_RELATION, "aro-vga": VG_ATTRIBUTION, "coco-order": benchmark("aro/coco_order"),
    "flickr-order": benchmark("aro/flickr_order"), "sugarcrepe": SUGARCREPE, "hard-positives": HARD_POSITIVES,
}
SUBSET_GROUPS = ("sugarcrepe", "hard-positives")  # one result group per subset


def benchmark_for(key: str) -> tuple[Benchmark, str]:
    """(benchmark, result group) of a caption-choice subset key from `DataSource.items_of`."""
    source, _, subset = key.partition("/")
    if source == "scenes":
        return SCENE_BENCHMARKS[subset], key
    if source not in BY_FORMAT:
        raise KeyError(f"no composition benchmark for caption-choice subset {key!r}")
    bench = BY_FORMAT[source]
    return bench, f"{bench.name}/{subset}" if source in SUBSET_GROUPS else bench.name
