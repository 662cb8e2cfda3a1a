"""Hard positives (Kamath, Hsieh, Chang, Krishna, ECCV 2024; amitakamath/hard_positives).

Official layout (a checkout of the repository, or the same folders):
- `data/<file>.json`: list of {"image_id", "true_caption" (c), "false_caption" (c_n), "image_path"};
- `swapped_data/<file>.json`: the same rows with "true_caption" replaced by the hard positive c_p.
Files: vl_checklist_attributes.json -> replace_att, vl_checklist_relations.json -> replace_rel (full
VG images, no crop, `image_path` relative to the repository root), visual_genome_attribution.json
-> swap (ARO VG-A rows: cropped to the bbox; `run_eval.py` reads them with ARO's loader rooted at
`data/` and `swapped_data/`, so their images are `data/images/<image_path>` and
`swapped_data/images/<image_path>`: looked up under `images=DIR` first, then those two).
Rows are paired by position; a pair whose image or c_n differ is a DataError, because the
metrics compare c_n's score across the two files.

Also read: a triplet file, a JSON list of {"image_path", "caption", "hard_positive",
"hard_negative"} with optional "subset" and "bbox_x/y/w/h".

Items are `CaptionChoice(options=(c, c_p, c_n), gold=0)`. Data options: `images=DIR` (default:
the repository root / the triplet file's folder), `subsets=a,b`, `limit=N` (first N per subset),
`alpha=drop|white` (see data.images).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
from vlmaudit.data.images import Alpha, Box, ImageRef
from vlmaudit.data.source import CommaList, DataSpec, ImageOptions, UserPath
from vlmaudit.errors import DataError, SpecError

OFFICIAL_FILES: dict[str, str] = {
    "replace_att": "vl_checklist_attributes.json",
    "replace_rel": "vl_checklist_relations.json",
    "swap": "visual_genome_attribution.json",
}
TRIPLET_FIELDS = ("caption", "hard_positive", "hard_negative")
CROPPED = frozenset({"swap"})  # ARO VG-Attribution rows keep ARO's union-box crop
ARO_IMAGES = ("data/images", "swapped_data/images")  # where run_eval.py's ARO loader finds swap's images


class HardPositivesOptions(ImageOptions):
    images: UserPath | None = None  # default: the repository root / the triplet file's folder
    subsets: CommaList = ()
    limit: int = Field(0, ge=0)


def _rows(path: Path) -> list[Any]:
    data = load_json(path)
    if not isinstance(data, list) or not data:
        raise DataError(f"{path}: expected a non-empty JSON list")
    return data


def read_official(
    original: Path, swapped: Path, images: Path | tuple[Path, ...], crop: bool, limit: int = 0,
    alpha: Alpha = "drop",
) -> list[CaptionChoice]:
    """Paired rows as (c, c_p, c_n) items; an image is the first `images` folder that holds it."""
    folders = (images,) if isinstance(images, Path) else images
    rows, hard = _rows(original), _rows(swapped)
    if len(rows) != len(hard):
        raise DataError(f"{swapped}: {len(hard)} rows, but {original} has {len(rows)}")
    items = []
    for i, (row, pos_row) in limited(list(enumerate(zip(rows, hard, strict=True))), limit):
        where = f"{original} entry {i}"
        caption = get_field(row, "true_caption", str, where)
        negative = get_field(row, "false_caption", str, where)
        rel = get_field(row, "image_path", str, where)
        positive = get_field(pos_row, "true_caption", str, f"{swapped} entry {i}")
        for name, value in (("false_caption", negative), ("image_path", rel)):
            if get_field(pos_row, name, str, f"{swapped} entry {i}") != value:
                raise DataError(f"{swapped} entry {i}: {name} differs from {original} (rows must pair up)")
        image = _first_image(folders, rel, where, bbox_crop(row, where) if crop else None, alpha)
        items.append(CaptionChoice(image, (caption, positive, negative), 0, "", str(i)))
    return items


def _first_image(folders: tuple[Path, ...], rel: str, where: str, crop: Box | None, alpha: Alpha) -> ImageRef:
    found = next((folder for folder in folders if (folder / rel).is_file()), None)
    if found is None and len(folders) > 1:
        looked = ", ".join(str(folder) for folder in folders)
        raise DataError(f"{where}: image {rel} not found (looked under {looked}; set the image root with "
                        "images=DIR)")
    return entry_image(found or folders[0], rel, where, crop, alpha)


def read_triplets(path: Path, images: Path, limit: int = 0,
                  alpha: Alpha = "drop") -> dict[str, list[CaptionChoice]]:
    subsets: dict[str, list[CaptionChoice]] = {}
    for i, row in enumerate(_rows(path)):
        where = f"{path} entry {i}"
        texts = tuple(get_field(row, key, str, where) for key in TRIPLET_FIELDS)
        subset = str(row.get("subset", "triplets"))
        if limit and len(subsets.get(subset, [])) >= limit:
            continue
        crop = bbox_crop(row, where) if "bbox_x" in row else None
        image = entry_image(images, get_field(row, "image_path", str, where), where, crop, alpha)
        subsets.setdefault(subset, []).append(CaptionChoice(image, texts, 0, "", str(i)))
    return subsets


def _official_files(root: Path, wanted: tuple[str, ...]) -> dict[str, tuple[Path, Path]]:
    found = {
        name: (root / "data" / file, root / "swapped_data" / file)
        for name, file in OFFICIAL_FILES.items()
        if (root / "data" / file).exists() and (root / "swapped_data" / file).exists()
    }
    if wanted:
        unknown = sorted(set(wanted) - set(found))
        if unknown:
            raise SpecError(f"hard-positive subsets {unknown} not found under {root} (have {sorted(found)})")
        found = {name: found[name] for name in wanted}
    if not found:
        files = ", ".join(OFFICIAL_FILES.values())
        raise DataError(f"{root}: no data/ + swapped_data/ pair of hard-positive files ({files})")
    return found


def open_source(spec: DataSpec) -> ChoiceSource:
    options = spec.parse(HardPositivesOptions)
    if not spec.path:
        raise SpecError("hard-positives needs a path: hard-positives:REPO_DIR or hard-positives:FILE.json")
    path = Path(spec.path).expanduser()
    if not path.exists():
        raise DataError(f"hard-positives path not found: {path}")
    images = options.images or (path if path.is_dir() else path.parent)
    limit, wanted, alpha = options.limit, options.subsets, options.alpha
    if path.is_file():
        def load_triplets() -> Loaded:
            subsets = read_triplets(path, images, limit, alpha)
            if unknown := sorted(set(wanted) - set(subsets)):
                raise SpecError(f"hard-positive subsets {unknown} not in {path} (have {sorted(subsets)})")
            return ({k: subsets[k] for k in wanted} if wanted else subsets), {}

        return ChoiceSource(spec, "hard-positives", (path,), load_triplets, alpha)
    files = _official_files(path, wanted)

    def load() -> Loaded:
        return {
            name: read_official(orig, swapped, _folders(name, images, path), name in CROPPED, limit, alpha)
            for name, (orig, swapped) in files.items()
        }, {}

    annotations = tuple(p for pair in files.values() for p in pair)
    return ChoiceSource(spec, "hard-positives", annotations, load, alpha)


def _folders(subset: str, images: Path, repo: Path) -> tuple[Path, ...]:
    """Image folders of an official subset, in lookup order."""
    return (images, *(repo / folder for folder in ARO_IMAGES)) if subset in CROPPED else (images,)
