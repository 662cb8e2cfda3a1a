"""Every benchmark's items, built exactly from scene graphs: the scene world's side of `items()`.

Suites never build scene items themselves: a scenes source hands them out through
`ScenesSource.items_of(kind)`, keyed like any other source's subsets, so `--data scenes?n=N` means N
scenes in every suite. Caption-choice benchmarks draw one item per scene; the spatial benchmarks
generate their own image sets (sizes from `spatial.derived_sizes(N)`: about N images each).
"""

from vlmaudit.data.scenes.benchmarks.composition import CHOICE_BENCHMARKS, build_scene_benchmarks
from vlmaudit.data.scenes.benchmarks.spatial import (
    WHATSUP_LAYOUT,
    derived_sizes,
    mmvp_like,
    whatsup_like,
    winoground_like,
)

__all__ = ["CHOICE_BENCHMARKS", "WHATSUP_LAYOUT", "build_scene_benchmarks", "derived_sizes", "mmvp_like",
           "whatsup_like", "winoground_like"]
