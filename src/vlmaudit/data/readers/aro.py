"""ARO (Yuksekgonul et al., ICLR 2023): VG-Relation, VG-Attribution, COCO-Order, Flickr30k-Order.

Formats (mertyg/vision-language-models-are-bows, `dataset_zoo/aro_datasets.py`):
- `visual_genome_relation.json`: list of {"image_path" (relative to images/), "bbox_x", "bbox_y",
  "bbox_w", "bbox_h", "true_caption", "false_caption", "relation_name"}; 23,937 records.
- `visual_genome_attribution.json`: same, plus "attributes": [a0, a1]; 28,748 records.
  Both: image cropped to (x, y, x+w, y+h) *before* preprocessing; options [false, true].
- Order: BLIP's Karpathy test JSON, list of {"image": "val2014/...jpg", "caption": [str, ...]}
  (Karpathy's own {"images": [{"filepath", "filename", "split", "sentences": [{"raw"}]}]} too);
  one item per caption, options [pre_caption(c)] + 4 perturbations (see perturb.text_order).

Data options: `images=DIR` (default: `images/` beside the VG JSON, the JSON's folder for Order),
`limit=N` (first N items); Order also `negatives=FILE` (freeze/reuse perturbations),
`tagger=auto|spacy|nltk`, `seed` (default 1, ARO's), `max_words` (30), `identical=exclude|keep`;
all `alpha=drop|white` (see data.images).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from vlmaudit.data.choice import (
    CaptionChoice,
    ChoiceSource,
    Loaded,
    bbox_crop,
    entry_image,
    get_field,
    limited,
    load_json,
)
from vlmaudit.data.images import Alpha
from vlmaudit.data.source import DataSpec, ImageOptions, UserPath
from vlmaudit.errors import DataError, SpecError
from vlmaudit.perturb.order_file import frozen_order_options
from vlmaudit.perturb.text_order import SCHEMES, Tagger

VGR_FILE = "visual_genome_relation.json"
VGA_FILE = "visual_genome_attribution.json"


class VGOptions(ImageOptions):
    images: UserPath | None = None  # default: images/ beside the JSON
    limit: int = Field(0, ge=0)


class OrderOptions(ImageOptions):
    images: UserPath | None = None  # default: the JSON's folder
    limit: int = Field(0, ge=0)
    negatives: UserPath | None = None
    tagger: Literal["auto", "spacy", "nltk"] = "auto"
    seed: int = 1
    max_words: int = Field(30, ge=1)
    identical: Literal["exclude", "keep"] = "exclude"


def _json_path(spec: DataSpec, default_name: str) -> Path:
    if not spec.path:
        raise SpecError(f"{spec.name} needs a path: {spec.name}:FILE_OR_DIR (no download at run time)")
    path = Path(spec.path).expanduser()
    return path / default_name if path.is_dir() else path


def _records(path: Path) -> list[tuple[str, Any]]:
    data = load_json(path)
    if not isinstance(data, list) or not data:
        raise DataError(f"{path}: expected a non-empty JSON list of records")
    return [(str(i), entry) for i, entry in enumerate(data)]


def read_vg(path: Path, images: Path, attribution: bool, limit: int = 0,
            alpha: Alpha = "drop") -> list[CaptionChoice]:
    """VG-Relation (group = relation_name) or VG-Attribution (group = "a0_a1", ordered)."""
    items = []
    for item_id, entry in limited(_records(path), limit):
        where = f"{path} entry {item_id}"
        true = get_field(entry, "true_caption", str, where)
        false = get_field(entry, "false_caption", str, where)
        if attribution:
            attrs = get_field(entry, "attributes", list, where)
            if len(attrs) != 2 or not all(isinstance(a, str) for a in attrs):
                raise DataError(f"{where}: field 'attributes' must be two strings, got {attrs!r}")
            group = f"{attrs[0]}_{attrs[1]}"
        else:
            group = get_field(entry, "relation_name", str, where)
        rel = get_field(entry, "image_path", str, where)
        image = entry_image(images, rel, where, bbox_crop(entry, where), alpha)
        items.append(CaptionChoice(image, (false, true), 1, group, item_id))
    return items


def karpathy_captions(path: Path) -> list[tuple[str, str, str]]:
    """(item_id, image relative path, raw caption) for every test caption, in file order."""
    data = load_json(path)
    out = []
    if isinstance(data, dict) and isinstance(data.get("images"), list):  # Karpathy's dataset_*.json
        for i, entry in enumerate(data["images"]):
            where = f"{path} images[{i}]"
            if get_field(entry, "split", str, where) != "test":
                continue
            rel = str(Path(entry.get("filepath", "")) / get_field(entry, "filename", str, where))
            for j, sentence in enumerate(get_field(entry, "sentences", list, where)):
                out.append((f"{rel}#{j}", rel, get_field(sentence, "raw", str, f"{where} sentence {j}")))
    elif isinstance(data, list):  # BLIP's *_karpathy_test.json, what ARO downloads
        for i, entry in enumerate(data):
            where = f"{path} entry {i}"
            rel = get_field(entry, "image", str, where)
            captions = get_field(entry, "caption", (list, str), where)
            for j, caption in enumerate([captions] if isinstance(captions, str) else captions):
                if not isinstance(caption, str) or not caption.strip():
                    raise DataError(f"{where}: caption {j} is not a non-empty string")
                out.append((f"{rel}#{j}", rel, caption))
    else:
        raise DataError(f"{path}: not Karpathy-split JSON (list of {{image, caption}} or {{images: [...]}})")
    if not out:
        raise DataError(f"{path}: no test captions")
    return out


def read_order(
    path: Path,
    images: Path,
    *,
    tagger: Tagger | str = "auto",
    negatives: Path | None = None,
    seed: int = 1,
    max_words: int = 30,
    identical: str = "exclude",
    limit: int = 0,
    alpha: Alpha = "drop",
) -> Loaded:
    """COCO-/Flickr30k-Order items (gold = 0) and notes on resampled / token-identical options."""
    if identical not in ("exclude", "keep"):
        raise SpecError(f"identical={identical!r}: use exclude or keep")
    captions = limited(karpathy_captions(path), limit)
    options, tagger_name = frozen_order_options(
        [(item_id, caption) for item_id, _, caption in captions], negatives, tagger, seed=seed,
        max_words=max_words,
    )
    items, excluded = [], []
    per_scheme = dict.fromkeys(SCHEMES, 0)
    for item_id, rel, _ in captions:
        frozen = options[item_id]
        for scheme in frozen.identical:
            per_scheme[scheme] += 1
        if frozen.identical and identical == "exclude":
            excluded.append(item_id)
            continue
        image = entry_image(images, rel, f"{path} item {item_id}", alpha=alpha)
        items.append(CaptionChoice(image, frozen.options, 0, "", item_id))
    if not items:
        raise DataError(f"{path}: every item has a token-identical perturbation; nothing to evaluate")
    info = {
        "tagger": tagger_name,
        "perturbation_seed": seed,
        "resampled_draws": sum(options[i].resampled for i, _, _ in captions),
        "token_identical_after_resampling": per_scheme,
        "excluded_token_identical": len(excluded),
        "identical_policy": identical,
    }
    return {"order": items}, info


def _vg_source(spec: DataSpec, kind: str, name: str, attribution: bool) -> ChoiceSource:
    options = spec.parse(VGOptions)
    path = _json_path(spec, name)
    images = options.images or path.parent / "images"
    subset = "vg_attribution" if attribution else "vg_relation"

    def load() -> Loaded:
        return {subset: read_vg(path, images, attribution, options.limit, options.alpha)}, {}

    return ChoiceSource(spec, kind, (path,), load, options.alpha)


def _order_source(spec: DataSpec, kind: str, name: str) -> ChoiceSource:
    options = spec.parse(OrderOptions)
    path = _json_path(spec, name)

    def load() -> Loaded:
        return read_order(
            path,
            options.images or path.parent,
            tagger=options.tagger,
            negatives=options.negatives,
            seed=options.seed,
            max_words=options.max_words,
            identical=options.identical,
            limit=options.limit,
            alpha=options.alpha,
        )

    return ChoiceSource(spec, kind, (path,), load, options.alpha)


def open_vgr(spec: DataSpec) -> ChoiceSource:
    return _vg_source(spec, "aro-vgr", VGR_FILE, attribution=False)


def open_vga(spec: DataSpec) -> ChoiceSource:
    return _vg_source(spec, "aro-vga", VGA_FILE, attribution=True)


def open_coco_order(spec: DataSpec) -> ChoiceSource:
    return _order_source(spec, "coco-order", "coco_karpathy_test.json")


def open_flickr_order(spec: DataSpec) -> ChoiceSource:
    return _order_source(spec, "flickr-order", "flickr30k_test.json")
