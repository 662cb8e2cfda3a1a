"""Image-caption datasets: Karpathy-split JSON, CSV/JSONL manifests, and class-folder trees.

`captions:PATH?k=v` picks the format from the path (a directory is an image folder; `.json` is
Karpathy; `.csv`; `.jsonl`/`.ndjson`) unless `format=` says otherwise. Options:

- `split`: Karpathy split to keep (default `test`; `all` keeps every entry). For manifests, rows
  are filtered on a `split` column only when the option is given.
- `n`, `seed`: a seeded random subset of n images (0 = all), kept in file order.
- `root`: directory that image paths are relative to (default: the annotation file's directory,
  or the folder itself for image folders).
- `caption_template`: image folders only, default `a photo of a {label}`; label = subfolder name
  with underscores read as spaces.
- `alpha`: `drop` (default) or `white`, how transparent images become RGB (see data.images).

Only the images of the selected subset are read (and hashed), so a missing file elsewhere in a
large annotation file does not stop a small run. Several rows naming the same image become one
item with several captions.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
from pydantic import Field

from vlmaudit.data.choice import jsonl_rows, utf8_text
from vlmaudit.data.images import file_image
from vlmaudit.data.items import ImageCaptions
from vlmaudit.data.source import DataSpec, ImageOptions, UserPath, check_item_type, fingerprint_of
from vlmaudit.errors import DataError, SpecError

Format = Literal["karpathy", "csv", "jsonl", "folder"]
FORMATS: tuple[str, ...] = get_args(Format)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")

Record = tuple[str, list[str], str]  # image path (relative to root), captions, label


class CaptionsOptions(ImageOptions):
    format: Format | None = None  # default: from the path
    split: str | None = None
    n: int = Field(0, ge=0)
    seed: int = 0
    root: UserPath | None = None
    caption_template: str = "a photo of a {label}"


@dataclass
class CaptionSource:
    spec: DataSpec
    format: str
    items: list[ImageCaptions]
    kind: str = "image-caption"

    @property
    def item_types(self) -> frozenset[type]:
        return frozenset({ImageCaptions})

    def items_of(self, kind: type, *, seed: int = 0, count: int | None = None) -> dict[str, list]:
        check_item_type(self, kind)
        return {self.format: list(self.items)}

    def fingerprint(self) -> str:
        rows = [(item.ref.key, item.captions, item.label) for item in self.items]
        return fingerprint_of(self.format, self.spec.options, rows)


def detect_format(path: Path) -> str:
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    by_suffix = {".json": "karpathy", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
    if suffix not in by_suffix:
        raise SpecError(f"cannot tell the format of {path} from its name; add ?format=one of {FORMATS}")
    return by_suffix[suffix]


def read_karpathy(path: Path, split: str) -> list[Record]:
    """`{"images": [{"filename", "filepath"?, "split", "sentences": [{"raw"}]}]}`."""
    try:
        document = json.loads(utf8_text(path))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: invalid JSON at line {err.lineno}: {err.msg}") from None
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        raise DataError(f"{path}: expected an object with an 'images' list (Karpathy split format)")
    records = []
    for index, entry in enumerate(document["images"]):
        where = f"{path}: images[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            raise DataError(f"{where}: needs a string 'filename'")
        where += f" ({entry['filename']})"
        if split != "all" and not isinstance(entry.get("split"), str):
            raise DataError(f"{where}: needs a string 'split' (or use split=all)")
        sentences = entry.get("sentences")
        if not isinstance(sentences, list) or not sentences or not all(
            isinstance(s, dict) and isinstance(s.get("raw"), str) and s["raw"].strip() for s in sentences
        ):
            raise DataError(f"{where}: 'sentences' must be a non-empty list of {{'raw': text}}")
        if split != "all" and entry["split"] != split:
            continue
        filepath = entry.get("filepath", "")
        if not isinstance(filepath, str):
            raise DataError(f"{where}: 'filepath' must be a string")
        records.append((str(Path(filepath) / entry["filename"]), [s["raw"].strip() for s in sentences], ""))
    return records


def _manifest_row(row: dict, where: str, split: str | None) -> Record | None:
    image, caption = row.get("image"), row.get("caption")
    if not isinstance(image, str) or not image.strip():
        raise DataError(f"{where}: missing or empty 'image'")
    captions = caption if isinstance(caption, list) else [caption]
    if not captions or not all(isinstance(c, str) and c.strip() for c in captions):
        raise DataError(f"{where}: 'caption' must be a non-empty string (or list of strings)")
    if split is not None:
        if "split" not in row:
            raise DataError(f"{where}: option split={split} given but the row has no 'split' field")
        if row["split"] != split:
            return None
    return image.strip(), [c.strip() for c in captions], ""


def read_csv(path: Path, split: str | None) -> list[Record]:
    reader = csv.DictReader(io.StringIO(utf8_text(path), newline=""))
    try:
        header = reader.fieldnames or []
        if "image" not in header or "caption" not in header:
            raise DataError(f"{path}:1: header must name 'image' and 'caption' columns, got {header}")
        records = []
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if None in row or None in row.values():
                raise DataError(f"{where}: row has a different number of fields than the header")
            if (record := _manifest_row(row, where, split)) is not None:
                records.append(record)
    except csv.Error as err:  # e.g. a field over csv's size limit, a NUL byte; raised inside the next row
        raise DataError(f"{path}:{reader.line_num + 1}: not valid CSV ({err})") from None
    return records


def read_jsonl(path: Path, split: str | None) -> list[Record]:
    records = []
    for where, row in jsonl_rows(path):
        if (record := _manifest_row(row, where, split)) is not None:
            records.append(record)
    return records


def read_folder(root: Path, template: str) -> list[Record]:
    """`root/<label>/<image>`: one caption per image from the template."""
    try:
        template.format(label="x")
    except (KeyError, IndexError, ValueError) as err:
        raise SpecError(f"caption_template {template!r} must use only {{label}}: {err}") from None
    if "{label}" not in template:
        raise SpecError(f"caption_template {template!r} must contain {{label}}")
    records = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        label = folder.name.replace("_", " ")
        for image in sorted(folder.rglob("*")):
            if image.is_file() and image.suffix.lower() in IMAGE_SUFFIXES:
                records.append((str(image.relative_to(root)), [template.format(label=label)], label))
    return records


def _group(records: list[Record]) -> list[Record]:
    """Rows naming the same image become one record; captions keep their order, duplicates dropped."""
    grouped: dict[str, Record] = {}
    for image, captions, label in records:
        if image in grouped:
            grouped[image][1].extend(c for c in captions if c not in grouped[image][1])
        else:
            grouped[image] = (image, list(dict.fromkeys(captions)), label)
    return list(grouped.values())


def _subset(records: list[Record], n: int, seed: int) -> list[Record]:
    if n <= 0 or n >= len(records):
        return records
    chosen = np.sort(np.random.default_rng(seed).choice(len(records), size=n, replace=False))
    return [records[i] for i in chosen]


def open_source(spec: DataSpec) -> CaptionSource:
    options = spec.parse(CaptionsOptions)
    if not spec.path:
        raise SpecError("captions needs a path: captions:PATH (Karpathy .json, .csv, .jsonl or a folder)")
    path = Path(spec.path)
    if not path.exists():
        raise DataError(f"captions data not found: {path}")
    fmt = options.format or detect_format(path)
    if (fmt == "folder") != path.is_dir():
        kind = "a directory" if path.is_dir() else "a file"
        raise SpecError(f"format {fmt!r} does not fit {path} ({kind})")
    split = options.split
    if fmt == "karpathy":
        records = read_karpathy(path, split or "test")
    elif fmt == "csv":
        records = read_csv(path, split)
    elif fmt == "jsonl":
        records = read_jsonl(path, split)
    else:
        records = read_folder(path, options.caption_template)
    records = _group(records)
    if not records:
        where = f" with split={split or 'test'}" if fmt == "karpathy" or split else ""
        if fmt == "folder":  # loose images have no label to fill the template with
            loose = sum(1 for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            where = f" in <label>/ subfolders (layout DIR/<label>/<image>; {loose} loose image(s) in DIR)"
        raise DataError(f"{path}: no images{where}")
    records = _subset(records, options.n, options.seed)
    root = options.root or (path if path.is_dir() else path.parent)
    items = [ImageCaptions(file_image(root / image, alpha=options.alpha), tuple(captions), label)
             for image, captions, label in records]
    return CaptionSource(spec=spec, format=fmt, items=items)
