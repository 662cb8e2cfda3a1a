"""Lazy name registries: a name maps to a "module:attr" string imported on first use.

The CLI can list what exists without importing torch-heavy backends or optional libraries, and
third-party packages can register through the entry-point groups `vlmaudit.<kind>`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from vlmaudit.errors import SpecError


@dataclass(frozen=True)
class Entry:
    name: str
    target: str  # "package.module:attribute"
    summary: str = ""


@dataclass
class Registry:
    kind: str
    _entries: dict[str, Entry] = field(default_factory=dict)
    _plugins_loaded: bool = False

    def register(self, name: str, target: str, summary: str = "") -> None:
        self._entries[name] = Entry(name, target, summary)

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=f"vlmaudit.{self.kind}"):
            self._entries.setdefault(ep.name, Entry(ep.name, ep.value, "(plugin)"))

    def entries(self) -> list[Entry]:
        self._load_plugins()
        return sorted(self._entries.values(), key=lambda e: e.name)

    def names(self) -> list[str]:
        return [e.name for e in self.entries()]

    def get(self, name: str) -> Any:
        self._load_plugins()
        if name not in self._entries:
            known = ", ".join(self.names()) or "none"
            raise SpecError(f"unknown {self.kind} {name!r} (known: {known})")
        module_name, _, attr = self._entries[name].target.partition(":")
        return getattr(importlib.import_module(module_name), attr)


MODEL_BACKENDS = Registry("backends")
MODEL_BACKENDS.register("hf", "vlmaudit.models.hf:load", "Hugging Face transformers (CLIP, SigLIP, ...)")
MODEL_BACKENDS.register("openclip", "vlmaudit.models.openclip:load", "open_clip architectures/checkpoints")
MODEL_BACKENDS.register("builtin", "vlmaudit.models.builtin:load", "models shipped with vlmaudit")

SUITES = Registry("suites")
SUITES.register("transforms", "vlmaudit.suites.transforms.suite:SUITE",
                "image transforms: 2503.09837 Exp 1/2/3 + controls")
SUITES.register("composition", "vlmaudit.suites.composition.suite:SUITE",
                "ARO, SugarCrepe, hard positives; bag-of-words tests")
SUITES.register("spatial", "vlmaudit.suites.spatial.suite:SUITE",
                "What'sUp, Winoground, MMVP-VLM; paired spatial tests")

DATASETS = Registry("datasets")
DATASETS.register("scenes", "vlmaudit.data.scenes.source:open_source",
                  "generated scenes with exact scene graphs (built in)")
DATASETS.register("captions", "vlmaudit.data.readers.captions:open_source",
                  "image-caption data: Karpathy JSON, CSV/JSONL manifest, image folder")
DATASETS.register("whatsup", "vlmaudit.data.readers.whatsup:open_source",
                  "What'sUp JSON: subsets A/B, COCO-/GQA-spatial one/two-object")
DATASETS.register("winoground", "vlmaudit.data.readers.winoground:open_source",
                  "Winoground examples.jsonl + images/")
DATASETS.register("mmvp-vlm", "vlmaudit.data.readers.mmvp:open_source",
                  "MMVP-VLM Questions.csv + per-pattern image folders")
DATASETS.register("aro-vgr", "vlmaudit.data.readers.aro:open_vgr",
                  "ARO VG-Relation JSON (+ images/, cropped to the relation box)")
DATASETS.register("aro-vga", "vlmaudit.data.readers.aro:open_vga",
                  "ARO VG-Attribution JSON (+ images/, cropped to the attribute box)")
DATASETS.register("coco-order", "vlmaudit.data.readers.aro:open_coco_order",
                  "ARO COCO-Order from the Karpathy test JSON (4 word-order perturbations)")
DATASETS.register("flickr-order", "vlmaudit.data.readers.aro:open_flickr_order",
                  "ARO Flickr30k-Order from the Karpathy test JSON (4 word-order perturbations)")
DATASETS.register("sugarcrepe", "vlmaudit.data.readers.sugarcrepe:open_source",
                  "SugarCrepe JSON (7 subsets) + COCO val2017 images")
DATASETS.register("hard-positives", "vlmaudit.data.readers.hard_positives:open_source",
                  "Hard positives: data/ + swapped_data/ (c, c_p, c_n), or a triplet JSON")
DATASETS.register("image-folder", "vlmaudit.data.readers.classification:open_image_folder",
                  "labelled images: DIR/<class>/<image>, optional classes= name map (e.g. wnids)")
DATASETS.register("vlmclassifier", "vlmaudit.data.readers.classification:open_vlmclassifier",
                  "VLMClassifier JSONL (image, label, split) + <stem>_classes.json")
DATASETS.register("labels", "vlmaudit.data.readers.classification:open_manifest",
                  "labelled-image manifest CSV/TSV/JSONL: image,label[,split][,attributes]")
DATASETS.register("waterbirds", "vlmaudit.data.readers.classification:open_waterbirds",
                  "Waterbirds (WILDS/group_DRO) metadata.csv: bird type x place groups")
