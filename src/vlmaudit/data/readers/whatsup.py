"""What'sUp (Kamath, Hessel, Chang, EMNLP 2023) in its released JSON formats.

`--data whatsup:PATH[?subset=A,B&root=DIR&alpha=drop|white]`: PATH is one annotation file or a
directory holding several; the subset comes from the file name (or its content), images resolve
under `root` (default: the annotation file's directory), as `<root>/<image_path>`, without the
leading `data/` the JSON carries, or `<root>/<subset image dir>/<file name>`.

- Controlled subsets A (`controlled_images_dataset.json`) and B (`controlled_clevr_dataset.json`):
  `[{"image_path": "data/controlled_images/<obj>_<prep>_..._<ref>.jpeg", "caption_options": [4, gold
  first]}]`. Group key = (obj, ref) and preposition = second `_` field of the file name, as in the
  official `evaluate_scores`. A repeated (group, preposition) row replaces the earlier one, as the
  official `eval_dict` does (last row wins); the count dropped is in the source's `info`.
- COCO-spatial / GQA-spatial (`coco_qa_{one,two}_obj.json`, `vg_qa_{one,two}_obj.json`):
  `[[image_id, correct_caption, wrong_caption], ...]`, images `val2017/{id:012d}.jpg` /
  `vg_images/{id}.jpg`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmaudit.data.images import Alpha, ImageRef, file_image
from vlmaudit.data.items import SpatialChoice
from vlmaudit.data.source import CommaList, DataSpec, ImageOptions, UserPath, check_item_type, fingerprint_of
from vlmaudit.errors import DataError, ImageError, SpecError


@dataclass(frozen=True)
class Subset:
    name: str
    files: tuple[str, ...]  # released annotation file names
    image_dir: str
    relations: tuple[str, ...] = ()  # controlled subsets: the four preposition keys of a group
    opposites: tuple[tuple[str, str], ...] = ()

    @property
    def controlled(self) -> bool:
        return bool(self.relations)


SUBSETS: dict[str, Subset] = {
    s.name: s
    for s in (
        Subset("A", ("controlled_images_dataset.json",), "controlled_images",
               ("left", "right", "on", "under"), (("left", "right"), ("on", "under"))),
        Subset("B", ("controlled_clevr_dataset.json",), "controlled_clevr",
               ("left", "right", "in-front", "behind"), (("left", "right"), ("in-front", "behind"))),
        Subset("coco-one", ("coco_qa_one_obj.json",), "val2017"),
        Subset("coco-two", ("coco_qa_two_obj.json",), "val2017"),
        Subset("gqa-one", ("vg_qa_one_obj.json", "vg_qa_one_obj_v2.json"), "vg_images"),
        Subset("gqa-two", ("vg_qa_two_obj.json", "vg_qa_two_obj_v2.json"), "vg_images"),
    )
}
# The word of each preposition key inside a caption, and its opposite (Li et al.'s two-way test).
CAPTION_WORD = {"left": "left", "right": "right", "on": "on", "under": "under", "in-front": "front",
                "behind": "behind", "front": "front", "above": "above", "below": "below", "top": "top",
                "bottom": "bottom"}
OPPOSITE_WORD = {"left": "right", "right": "left", "on": "under", "under": "on", "front": "behind",
                 "behind": "front", "above": "below", "below": "above", "top": "bottom", "bottom": "top"}


class WhatsUpOptions(ImageOptions):
    subset: CommaList = ()
    root: UserPath | None = None  # default: each annotation file's directory


@dataclass
class WhatsUpSource:
    spec: DataSpec
    subsets: dict[str, list[SpatialChoice]]
    files: dict[str, str]  # subset -> annotation file
    digests: dict[str, str]
    kind: str = "whatsup"
    alpha: Alpha = "drop"
    info: dict[str, Any] = field(default_factory=dict)  # what the reader did: duplicate rows dropped

    @property
    def item_types(self) -> frozenset[type]:
        return frozenset({SpatialChoice})

    def items_of(self, kind: type, *, seed: int = 0, count: int | None = None) -> dict[str, list]:
        """"whatsup/<subset>" -> items, subsets A, B, coco-one, ... as loaded."""
        check_item_type(self, kind)
        return {f"whatsup/{name}": items for name, items in self.subsets.items()}

    def fingerprint(self) -> str:
        images = [item.image.key for items in self.subsets.values() for item in items]  # content hashes
        return fingerprint_of("whatsup", self.digests, sorted(self.subsets), self.alpha, images)


def open_source(spec: DataSpec) -> WhatsUpSource:
    options = spec.parse(WhatsUpOptions)
    if not spec.path:
        raise SpecError("whatsup needs a path: --data whatsup:ANNOTATION.json (or a directory of them)")
    path = Path(spec.path)
    wanted = options.subset
    unknown = [s for s in wanted if s not in SUBSETS]
    if unknown:
        raise SpecError(f"unknown What'sUp subset(s) {unknown} (known: {', '.join(SUBSETS)})")
    files = _annotation_files(path, wanted)
    subsets, digests, sources, dropped = {}, {}, {}, {}
    for name, file in files.items():
        root = options.root or file.parent
        raw = file.read_bytes()
        digests[name] = hashlib.sha256(raw).hexdigest()[:32]
        rows = _load_json(file, raw)
        subset = SUBSETS[name] if name in SUBSETS else SUBSETS[_detect(file, rows, root)]
        reader = _controlled_item if subset.controlled else _qa_item
        items = [reader(row, i, file, root, subset, options.alpha) for i, row in enumerate(rows)]
        if subset.controlled:
            items, dropped[subset.name] = _last_row_wins(items)
        subsets[subset.name] = items
        sources[subset.name] = str(file)
    info = {"duplicate_rows_dropped": dropped} if any(dropped.values()) else {}
    return WhatsUpSource(spec, subsets, sources, digests, alpha=options.alpha, info=info)


def _last_row_wins(items: list[SpatialChoice]) -> tuple[list[SpatialChoice], int]:
    """One item per (group, preposition), the file's last, as the official `eval_dict` keeps it.

    A repeated row would otherwise be a fifth member of its four-relation set, which the pair and
    set metrics cannot place. The kept rows stay in file order.
    """
    last = {(it.group, it.relation): i for i, it in enumerate(items)}
    kept = sorted(last.values())
    return [items[i] for i in kept], len(items) - len(kept)


def _annotation_files(path: Path, wanted: tuple[str, ...]) -> dict[str, Path]:
    """subset name (or the file's stem, when the name does not tell) -> annotation file."""
    if path.is_file():
        name = next((s.name for s in SUBSETS.values() if path.name in s.files), path.stem)
        if len(wanted) > 1:
            raise SpecError(f"{path} is one annotation file; subset= can name only one subset")
        return {wanted[0] if wanted else name: path}
    if not path.is_dir():
        raise DataError(f"What'sUp path not found: {path}")
    found = {
        s.name: path / f
        for s in SUBSETS.values()
        for f in s.files
        if (path / f).is_file() and (not wanted or s.name in wanted)
    }
    if not found:
        names = ", ".join(f for s in SUBSETS.values() for f in s.files)
        raise DataError(f"no What'sUp annotation file in {path} (expected one of: {names})")
    return found


def _load_json(file: Path, raw: bytes) -> list:
    try:
        rows = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{file}: not valid JSON ({err})") from None
    if not isinstance(rows, list) or not rows:
        raise DataError(f"{file}: expected a non-empty JSON list of What'sUp entries")
    return rows


def _detect(file: Path, rows: list, root: Path) -> str:
    """Subset of a renamed file: A/B from the prepositions, QA one/two and COCO/GQA from the rows."""
    first = rows[0]
    if isinstance(first, dict):
        stems = " ".join(Path(str(r.get("image_path", ""))).stem for r in rows if isinstance(r, dict))
        if "_on_" in stems or "_under_" in stems:
            return "A"
        if "_in-front_" in stems or "_behind_" in stems:
            return "B"
        raise DataError(f"{file}: cannot tell What'sUp subset A from B; pass ?subset=A or ?subset=B")
    if isinstance(first, list) and len(first) == 3:
        one = str(first[1]).split()[-1].strip(".") in ("left", "right", "top", "bottom")
        image_id = first[0]
        if (root / "val2017" / f"{str(image_id).zfill(12)}.jpg").exists():
            return "coco-one" if one else "coco-two"
        if (root / "vg_images" / f"{image_id}.jpg").exists():
            return "gqa-one" if one else "gqa-two"
    raise DataError(f"{file}: cannot tell which What'sUp subset this is; pass ?subset=NAME")


def _controlled_item(row: Any, i: int, file: Path, root: Path, subset: Subset, alpha: Alpha) -> SpatialChoice:
    if not isinstance(row, dict) or not isinstance(row.get("image_path"), str):
        raise DataError(f"{file}: entry {i} needs an \"image_path\" string")
    options = _options(row.get("caption_options"), i, file)
    parts = Path(row["image_path"]).stem.split("_")
    if len(parts) < 3 or parts[1] not in subset.relations:
        raise DataError(
            f"{file}: entry {i}: file name {Path(row['image_path']).name!r} does not follow "
            f"<object>_<preposition>_..._<reference> with a preposition in {subset.relations}"
        )
    relation = parts[1]
    image = _image(root, row["image_path"], subset.image_dir, i, file, alpha)
    group = f"{parts[0]}/{parts[-1]}"
    return SpatialChoice(image, options, relation, group, _opposite(options, relation), subset.name)


def _qa_item(row: Any, i: int, file: Path, root: Path, subset: Subset, alpha: Alpha) -> SpatialChoice:
    if not isinstance(row, list) or len(row) != 3 or not isinstance(row[0], int | str):
        raise DataError(f"{file}: entry {i} must be [image_id, correct_caption, wrong_caption]")
    options = _options(row[1:], i, file)
    if subset.name.endswith("-one"):
        relation = options[0].split()[-1].strip(".")
    else:
        markers, fallback = _TWO_OBJ_MARKERS[subset.image_dir]
        relation = next((key for key, marker in markers if marker in options[0]), fallback)
    name = f"{str(row[0]).zfill(12)}.jpg" if subset.image_dir == "val2017" else f"{row[0]}.jpg"
    image = _image(root, f"{subset.image_dir}/{name}", subset.image_dir, i, file, alpha)
    return SpatialChoice(image, options, relation, "", 1, subset.name)


# Official COCO_QA / VG_QA two-object preposition keys: markers tested in order, then the fallback.
_TWO_OBJ_MARKERS = {
    "val2017": ((("left", "left of"), ("right", "right of"), ("above", "above")), "below"),
    "vg_images": (
        (("left", "left of"), ("right", "right of"), ("front", "front of"), ("behind", "behind")), "top"
    ),
}


def _options(value: Any, i: int, file: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) < 2 or not all(isinstance(t, str) and t for t in value):
        raise DataError(f"{file}: entry {i} needs at least two non-empty caption options (gold first)")
    return tuple(value)


def _opposite(options: tuple[str, ...], relation: str) -> int | None:
    """Index of the option with the opposite preposition (Li et al. keep only gold and this one)."""
    word = OPPOSITE_WORD[CAPTION_WORD[relation]]
    hits = [k for k, text in enumerate(options) if k and word in text.lower().split()]
    return hits[0] if len(hits) == 1 else None


def _image(root: Path, image_path: str, image_dir: str, i: int, file: Path, alpha: Alpha) -> ImageRef:
    rel = Path(image_path)
    stripped = Path(*rel.parts[1:]) if rel.parts and rel.parts[0] == "data" and len(rel.parts) > 1 else rel
    for candidate in (root / rel, root / stripped, root / image_dir / rel.name):
        if candidate.is_file():
            return file_image(candidate, alpha=alpha)
    raise ImageError(f"image not found for entry {i} of {file}: {image_path} (looked under {root})")
