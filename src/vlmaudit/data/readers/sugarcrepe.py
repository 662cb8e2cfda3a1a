"""SugarCrepe (Hsieh et al., NeurIPS 2023 D&B; RAIVNLab/sugar-crepe, MIT).

Format: `data/<subset>.json`, a dict keyed by string index -> {"filename": "000000565045.jpg",
"caption": positive, "negative_caption": negative}; images are COCO val2017. Seven subsets:
replace_obj/att/rel, swap_obj/att, add_obj/att (7,511 items in the released files).

Data spec: `sugarcrepe:DIR` (the data/ folder; every known subset present is read) or
`sugarcrepe:FILE.json` (one subset, named by the file stem). Options: `images=DIR` (COCO val2017;
default: the JSON folder), `subsets=a,b` (restrict), `limit=N` (first N items per subset),
`alpha=drop|white` (see data.images).
Options are listed [positive, negative]; the official rule `pos > neg` is the strict tie policy.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from vlmaudit.data.choice import (
    CaptionChoice,
    ChoiceSource,
    Loaded,
    entry_image,
    get_field,
    limited,
    load_json,
)
from vlmaudit.data.images import Alpha
from vlmaudit.data.source import CommaList, DataSpec, ImageOptions, UserPath
from vlmaudit.errors import DataError, SpecError

SUBSETS: tuple[str, ...] = (
    "replace_obj", "replace_att", "replace_rel", "swap_obj", "swap_att", "add_obj", "add_att",
)


class SugarCrepeOptions(ImageOptions):
    images: UserPath | None = None  # COCO val2017; default: the JSON folder
    subsets: CommaList = ()
    limit: int = Field(0, ge=0)


def read_subset(path: Path, images: Path, limit: int = 0, alpha: Alpha = "drop") -> list[CaptionChoice]:
    data = load_json(path)
    if not isinstance(data, dict) or not data:
        raise DataError(f"{path}: expected an object {{id: {{filename, caption, negative_caption}}}}")
    items = []
    for item_id, entry in limited(list(data.items()), limit):
        where = f"{path} entry {item_id!r}"
        positive = get_field(entry, "caption", str, where)
        negative = get_field(entry, "negative_caption", str, where)
        image = entry_image(images, get_field(entry, "filename", str, where), where, alpha=alpha)
        items.append(CaptionChoice(image, (positive, negative), 0, "", str(item_id)))
    return items


def subset_files(path: Path, wanted: tuple[str, ...] = ()) -> dict[str, Path]:
    """Subset name -> JSON file, in SUBSETS order for a folder."""
    if path.is_file():
        files = {path.stem: path}
    elif path.is_dir():
        files = {name: path / f"{name}.json" for name in SUBSETS if (path / f"{name}.json").exists()}
    else:
        raise DataError(f"SugarCrepe path not found: {path}")
    if wanted:
        unknown = sorted(set(wanted) - set(files))
        if unknown:
            raise SpecError(f"SugarCrepe subsets {unknown} not found in {path} (have {sorted(files)})")
        files = {name: files[name] for name in wanted}
    if not files:
        raise DataError(f"{path}: no SugarCrepe subset files ({', '.join(s + '.json' for s in SUBSETS)})")
    return files


def open_source(spec: DataSpec) -> ChoiceSource:
    options = spec.parse(SugarCrepeOptions)
    if not spec.path:
        raise SpecError("sugarcrepe needs a path: sugarcrepe:DATA_DIR?images=COCO_VAL2017_DIR")
    path = Path(spec.path).expanduser()
    files = subset_files(path, options.subsets)
    images = options.images or (path if path.is_dir() else path.parent)

    def load() -> Loaded:
        limit, alpha = options.limit, options.alpha
        return {name: read_subset(file, images, limit, alpha) for name, file in files.items()}, {}

    return ChoiceSource(spec, "sugarcrepe", tuple(files.values()), load, options.alpha)
