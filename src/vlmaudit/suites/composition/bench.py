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

BY_KIND: dict[str, dict[str, Benchmark]] = {
    "aro-vgr": {"vg_relation": VG_RELATION},
    "aro-vga": {"vg_attribution": VG_ATTRIBUTION},
    "coco-order": {"order": benchmark("aro/coco_order")},
    "flickr-order": {"order": benchmark("aro/flickr_order")},
}
