"""Lazy name registries: a name maps to a "module:attr" string imported on first use.

The CLI can list what exists without importing torch-heavy backends or optional libraries, and
third-party packages can register through the entry-point groups `vlmaudit.<kind>`.
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass, field
from importlib import resources
from importlib.metadata import entry_points
from typing import Any

from vlmaudit.errors import SpecError


@dataclass(frozen=True)
class Entry:
    name: str
    target: str  # "package.module:attribute"
    summary: str = ""
    default_rank: int | None = None  # suites: position in the default audit (None: not in it)


@dataclass
class Registry:
    kind: str
    _entries: dict[str, Entry] = field(default_factory=dict)
    _plugins_loaded: bool = False

    def register(self, name: str, target: str, summary: str = "", default_rank: int | None = None) -> None:
        self._entries[name] = Entry(name, target, summary, default_rank)

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
MODEL_BACKENDS.register("hfgen", "vlmaudit.models.hf_generative:load", "generative VLMs via transformers")
MODEL_BACKENDS.register("openclip", "vlmaudit.models.openclip:load", "open_clip architectures/checkpoints")
MODEL_BACKENDS.register("builtin", "vlmaudit.models.builtin:load", "models shipped with vlmaudit")

SUITES = Registry("suites")


def discover_suites(registry: Registry, package: str = "vlmaudit.suites") -> None:
    """Register every `suites/<name>/` package that has a `suite.py` exposing `SUITE`.

    Read without importing (the CLI lists suites without loading torch): the summary is the first
    line of the package's `__init__.py` docstring, and `DEFAULT_AUDIT = <rank>` there puts the suite
    in the default audit at that position. Adding a suite edits no list here.
    """
    root = resources.files(package)
    for folder in sorted(root.iterdir(), key=lambda p: p.name):
        init, module = folder / "__init__.py", folder / "suite.py"
        if not (folder.is_dir() and init.is_file() and module.is_file()):
            continue
        tree = ast.parse(init.read_text(encoding="utf-8"))
        summary = (ast.get_docstring(tree) or "").strip().splitlines()[:1]
        rank = next((node.value.value for node in tree.body if isinstance(node, ast.Assign)
                     and any(isinstance(t, ast.Name) and t.id == "DEFAULT_AUDIT" for t in node.targets)
                     and isinstance(node.value, ast.Constant)), None)
        registry.register(folder.name, f"{package}.{folder.name}.suite:SUITE", "".join(summary), rank)


def default_suites() -> list[str]:
    """The suites of the default audit, in their declared order."""
    ranked = [e for e in SUITES.entries() if e.default_rank is not None]
    return [e.name for e in sorted(ranked, key=lambda e: (e.default_rank, e.name))]


discover_suites(SUITES)

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
