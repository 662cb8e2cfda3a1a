"""Benchmark metadata for the composition suite, next to the rules that score it.

Each entry says what the number is (main score, chance, aggregation, the official tie rule and the
option order it was applied to), where the data comes from and under which licence, so a result
can be read without opening the paper, and `tie_policy="official"` can reproduce each repository.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

from vlmaudit.data.readers.sugarcrepe import SUBSETS as SUGARCREPE_SUBSETS

Rule = Literal["choice", "triplet"]


@dataclass(frozen=True)
class Benchmark:
    name: str  # result group prefix, e.g. "aro/vg_relation"
    title: str
    citation: str
    license: str
    expected_format: str
    rule: Rule  # "choice": K-way caption selection; "triplet": (c, c_p, c_n) hard positives
    main_score: str  # metric name the summary shows first
    chance: float
    official_tie_policy: str  # the repository's rule on its own option order
    min_count: int = 1  # macro: drop groups with fewer items (ARO VG-A: 25)
    exclude_list: str = ""  # macro: package file of excluded groups (ARO VG-R)
    reconstructed: str = ""  # where this is our construction, not the paper's


ARO_CITE = "Yuksekgonul et al., When and why vision-language models behave like bags-of-words, ICLR 2023"
ARO_FORMAT = "list of {image_path, bbox_x/y/w/h, true_caption, false_caption, relation_name|attributes}"
SC_CITE = (
    "Hsieh et al., SugarCrepe: Fixing Hackable Benchmarks for Vision-Language Compositionality, NeurIPS 2023"
)
HP_CITE = "Kamath, Hsieh, Chang, Krishna, The Hard Positive Truth about VL Compositionality, ECCV 2024"
HP_FORMAT = "data/ + swapped_data/ lists of {image_path, true_caption, false_caption}, or triplet JSON"
ORDER_FORMAT = "Karpathy test JSON: list of {image, caption: [str]}"
SCENES = "vlmaudit generated scenes (exact scene graphs)"
SCENES_NOTE = (
    "reconstructed: generated-scene analogues of ARO / SugarCrepe / hard positives (items built by "
    "suites.composition_scenes; gold from the scene graph, not the papers' data)"
)

VG_RELATION = Benchmark(
    "aro/vg_relation", "ARO VG-Relation", ARO_CITE, "MIT (annotations); images: Visual Genome / GQA",
    ARO_FORMAT, "choice", "macro_accuracy", 0.5, "argmax-first",
    exclude_list="aro_vgr_excluded_relations.json",
)
VG_ATTRIBUTION = Benchmark(
    "aro/vg_attribution", "ARO VG-Attribution", ARO_CITE, "MIT (annotations); images: Visual Genome / GQA",
    ARO_FORMAT, "choice", "macro_accuracy", 0.5, "argmax-first", min_count=25,
)
COCO_ORDER = Benchmark(
    "aro/coco_order", "ARO COCO-Order", ARO_CITE, "MIT (code); COCO captions CC BY 4.0",
    ORDER_FORMAT, "choice", "precision@1", 0.2, "argmax-first",
    reconstructed="reconstructed: perturbation RNG stream (per-item seeds); ARO never released its captions",
)
FLICKR_ORDER = Benchmark(
    "aro/flickr_order", "ARO Flickr30k-Order", ARO_CITE, "MIT (code); Flickr30k terms of use",
    ORDER_FORMAT, "choice", "precision@1", 0.2, "argmax-first",
    reconstructed=COCO_ORDER.reconstructed,
)
SUGARCREPE = Benchmark(
    "sugarcrepe", "SugarCrepe", SC_CITE, "MIT (annotations); images: COCO val2017 (CC BY 4.0)",
    "{id: {filename, caption, negative_caption}} per subset JSON", "choice", "accuracy", 0.5, "strict",
)
HARD_POSITIVES = Benchmark(
    "hard_positives", "Hard positives (REPLACE / SWAP)", HP_CITE, "no licence file in the repository",
    HP_FORMAT, "triplet", "aug_accuracy", 1 / 3, "strict",
)

SCENE_BENCHMARKS: dict[str, Benchmark] = {
    "relation_swap": Benchmark(
        "scenes/relation_swap", "Relation swap (VG-Relation-like)", ARO_CITE, "generated", SCENES,
        "choice", "accuracy", 0.5, "argmax-first", reconstructed=SCENES_NOTE,
    ),
    "attribute_swap": Benchmark(
        "scenes/attribute_swap", "Attribute swap (VG-Attribution-like)", ARO_CITE, "generated", SCENES,
        "choice", "accuracy", 0.5, "argmax-first", reconstructed=SCENES_NOTE,
    ),
    "order": Benchmark(
        "scenes/order", "Word order, ARO's 4 shuffles (Order-like)", ARO_CITE, "generated", SCENES,
        "choice", "precision@1", 0.2, "argmax-first", reconstructed=SCENES_NOTE,
    ),
    **{
        f"sugarcrepe_{kind}": Benchmark(
            f"scenes/sugarcrepe_{kind}", f"SugarCrepe-like {kind}", SC_CITE, "generated", SCENES,
            "choice", "accuracy", 0.5, "strict", reconstructed=SCENES_NOTE,
        )
        for kind in SUGARCREPE_SUBSETS
    },
    **{
        f"hard_positives_{kind}": Benchmark(
            f"scenes/hard_positives_{kind}", f"Hard-positive triplets ({kind})", HP_CITE, "generated", SCENES,
            "triplet", "aug_accuracy", 1 / 3, "strict",
            reconstructed=SCENES_NOTE,
        )
        for kind in ("replace", "swap")
    },
}

# a source's subset key "<format>/<subset>" -> the benchmark (one subset: the group is its name)
BY_FORMAT: dict[str, Benchmark] = {
    "aro-vgr": VG_RELATION, "aro-vga": VG_ATTRIBUTION, "coco-order": COCO_ORDER, "flickr-order": FLICKR_ORDER,
    "sugarcrepe": SUGARCREPE, "hard-positives": HARD_POSITIVES,
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


@cache
def excluded(list_name: str) -> frozenset[str]:
    """A package-data exclusion list (ARO's VG-R `symmetric` list, 157 names, MIT)."""
    if not list_name:
        return frozenset()
    text = (resources.files("vlmaudit") / "references" / list_name).read_text(encoding="utf-8")
    return frozenset(json.loads(text)["excluded_relations"])
