"""Labelled images (classification data): image folders, VLMClassifier JSONL, manifests, Waterbirds.

Every reader returns a `ClassificationSource` of `LabelledImage`s with the class names in a stable
order (`classes`), which is what zero-shot prompts and probe targets are built from; `items_of`
yields them under one key, the format ("folder", "vlmclassifier", "manifest", "waterbirds"), each
item with its split. Options (pydantic models, so unknown keys and bad values are SpecErrors):
`classes=FILE` (a class list or a raw-label -> name map, see `read_class_file`; not for waterbirds),
`split=` (keep one split only, so only its images are read and hashed), `root=` (the directory
image paths are relative to) and `alpha=drop|white` (see data.images); image folders take only
`classes=` and `alpha=`.
Split names are normalised to train/val/test ("valid", "validation", "dev" -> "val"), so a probe
finds its validation split whatever the file calls it.

- `image-folder:DIR` - `DIR/<class>/<image>`; classes are the sorted folder names (torchvision's
  ImageFolder order), mapped through `classes=` (e.g. Imagenette's wnid `n01440764` -> "tench"),
  else with "_" read as a space. Images have no split.
- `vlmclassifier:FILE.jsonl` - `{"image", "label", "split"}` per line plus a JSON list of class
  names (`classes=`, default `<stem>_classes.json` beside the file, the repository's naming).
  A string label is a class name and must be in the list; an integer label is an index into it.
  VLMClassifier's ImageNet file also carries `label_idx`; where present it must agree with the
  name. Its image paths (`./data/<Dataset>/...`) are relative to the repository root: pass
  `root=<repo>` (default: the JSONL's directory).
- `labels:FILE.csv|.jsonl` - a manifest `image,label[,split][,any attribute columns]`; every other
  column becomes an attribute (group, context, ...). Classes: `classes=` order, else sorted labels.
- `waterbirds:DIR|metadata.csv` - the WILDS/group_DRO `metadata.csv`
  (`img_id,img_filename,y,split,place,place_filename`): split 0/1/2 -> train/val/test, y 0/1 ->
  landbird/waterbird, place 0/1 -> land/water; attributes `place`, `group` ("<y>/<place>") and
  `group_index` = 2*y + place (WILDS' CombinatorialGrouper over (background, y) and group_DRO's
  `y * n_places + place` give the same index). Images relative to the CSV's directory.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator

from vlmaudit.data.choice import jsonl_rows, utf8_text
from vlmaudit.data.images import Alpha, ImageRef, file_image
from vlmaudit.data.items import LabelledImage
from vlmaudit.data.readers.captions import IMAGE_SUFFIXES
from vlmaudit.data.source import DataSpec, ImageOptions, UserPath, check_item_type, fingerprint_of
from vlmaudit.errors import DataError, SpecError

KIND = "labelled-image"
SplitName = Literal["train", "val", "test", "valid", "validation", "dev"]
SPLIT_ALIASES: dict[str, str] = {"train": "train", "val": "val", "test": "test", "valid": "val",
                                 "validation": "val", "dev": "val"}
WATERBIRDS_SPLITS = ("train", "val", "test")  # metadata.csv split codes 0, 1, 2
WATERBIRDS_CLASSES = ("landbird", "waterbird")  # y 0, 1
WATERBIRDS_PLACES = ("land", "water")  # place 0, 1


@dataclass
class ClassificationSource:
    spec: DataSpec
    format: str
    items: list[LabelledImage]
    classes: tuple[str, ...]  # every label is one of these; suites index classes in this order
    kind: str = KIND

    @property
    def item_types(self) -> frozenset[type]:
        return frozenset({LabelledImage})

    def items_of(self, kind: type, *, seed: int = 0, count: int | None = None) -> dict[str, list]:
        """{format: every item}, one key: the split is each item's own field (a probe needs train and
        test of one dataset together), and `classes` keeps the class order, including classes the
        chosen split happens not to contain."""
        check_item_type(self, kind)
        return {self.format: list(self.items)}

    def fingerprint(self) -> str:
        rows = [(item.image.key, item.label, item.split, sorted(item.attributes.items()), item.item_id)
                for item in self.items]
        return fingerprint_of(KIND, self.format, sorted(self.spec.options.items()), self.classes, rows)


class FolderOptions(ImageOptions):
    """`image-folder` options; the strings come from `NAME:PATH?k=v`."""

    classes: UserPath | None = None  # folder name -> class name map


class SplitOptions(ImageOptions):
    """`waterbirds` options (its classes are fixed by the format): `split` keeps one split."""

    split: Annotated[SplitName, AfterValidator(SPLIT_ALIASES.__getitem__)] | None = None  # as train/val/test
    root: UserPath | None = None


class ManifestOptions(FolderOptions, SplitOptions):
    """`vlmclassifier` and `labels` options: a class file, one split, the image root."""


def normalise_split(value: object, where: str) -> str:
    """A file's split name as train/val/test; anything else is an error, not a silent fourth split."""
    split = SPLIT_ALIASES.get(str(value).strip().lower()) if isinstance(value, str) else None
    if split is None:
        raise DataError(f"{where}: unknown split {value!r} (known: {', '.join(SPLIT_ALIASES)})")
    return split


def read_class_file(path: Path) -> dict[str, str]:
    """Raw label -> class name, in file order. A JSON list maps each name to itself; a JSON object
    or a two-column CSV/TSV (`raw,name`, no header) maps e.g. wnids to names. Names must be unique:
    two classes with one name would get one prompt and tie exactly in every zero-shot comparison."""
    if not path.is_file():
        raise DataError(f"classes file not found: {path}")
    text = utf8_text(path)
    if path.suffix.lower() == ".json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: invalid JSON at line {err.lineno}: {err.msg}") from None
        if isinstance(document, list) and all(isinstance(n, str) and n.strip() for n in document):
            mapping = {n.strip(): n.strip() for n in document}
            if len(mapping) < len(document):
                _raise_duplicate(path, [n.strip() for n in document])
        elif isinstance(document, dict) and all(isinstance(v, str) and v.strip() for v in document.values()):
            mapping = {str(k): v.strip() for k, v in document.items()}
        else:
            raise DataError(f"{path}: expected a JSON list of class names or an object raw label -> name")
    else:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        mapping = {}
        for number, row in enumerate(csv.reader(text.splitlines(), delimiter=delimiter), start=1):
            if not row:
                continue
            if len(row) != 2 or not row[0].strip() or not row[1].strip():
                raise DataError(f"{path}:{number}: expected two columns 'raw label{delimiter}class name'")
            if row[0].strip() in mapping:
                raise DataError(f"{path}:{number}: raw label {row[0].strip()!r} listed twice")
            mapping[row[0].strip()] = row[1].strip()
    if not mapping:
        raise DataError(f"{path}: no classes")
    if len(set(mapping.values())) < len(mapping):
        _raise_duplicate(path, list(mapping.values()))
    return mapping


def _raise_duplicate(path: Path, names: list[str]) -> None:
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in seen:
            raise DataError(f"{path}: class name {name!r} appears twice (entries {seen[name]} and {index}); "
                            "class names must be distinct")
        seen[name] = index


def _image(root: Path, relative: str, where: str, alpha: Alpha) -> ImageRef:
    path = root / relative
    if not path.is_file():
        raise DataError(f"{where}: image not found: {path} (image paths are relative to root={root})")
    return file_image(path, alpha=alpha)


def _source(spec: DataSpec, fmt: str, items: list[LabelledImage], classes: Iterable[str],
            where: Path, split: str | None) -> ClassificationSource:
    if not items:
        raise DataError(f"{where}: no labelled images" + (f" with split={split}" if split else ""))
    return ClassificationSource(spec, fmt, items, tuple(classes))


def _path(spec: DataSpec, what: str) -> Path:
    if not spec.path:
        raise SpecError(f"{spec.name} needs a path: {spec.name}:PATH ({what})")
    path = Path(spec.path)
    if not path.exists():
        raise DataError(f"{spec.name} data not found: {path}")
    return path


# -- image folder -------------------------------------------------------------------------------


def open_image_folder(spec: DataSpec) -> ClassificationSource:
    options = spec.parse(FolderOptions)
    root = _path(spec, "a folder of <class>/<image>")
    if not root.is_dir():
        raise SpecError(f"image-folder needs a directory, got the file {root}")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    mapping = read_class_file(options.classes) if options.classes is not None else None
    if mapping is not None and (missing := [f.name for f in folders if f.name not in mapping]):
        raise DataError(f"{options.classes}: no class name for folder(s) {missing[:5]} of {root}")
    items, classes = [], []
    for folder in folders:
        label = mapping[folder.name] if mapping is not None else folder.name.replace("_", " ")
        images = [p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if images:
            classes.append(label)
        for image in images:
            relative = str(image.relative_to(root))
            ref = _image(root, relative, str(root), options.alpha)
            items.append(LabelledImage(ref, label, {}, "", relative))
    if not items:
        raise DataError(f"{root}: no images in <class>/ subfolders (layout DIR/<class>/<image>)")
    if len(set(classes)) < len(classes):
        raise DataError(f"{root}: two folders give one class name ({sorted(classes)}); add classes=FILE")
    return _source(spec, "folder", items, classes, root, None)


# -- VLMClassifier JSONL ------------------------------------------------------------------------


def _class_of(label: object, names: list[str], where: str, classes_file: Path) -> str:
    """A JSON label as a class name: a string must be one of the names, an integer indexes them."""
    if isinstance(label, bool) or not isinstance(label, (int, str)):
        raise DataError(f"{where}: 'label' must be a class name or an index, got {label!r}")
    if isinstance(label, int):
        if not 0 <= label < len(names):
            raise DataError(f"{where}: label index {label} out of range for {len(names)} classes "
                            f"in {classes_file}")
        return names[label]
    if label not in names:
        raise DataError(f"{where}: unknown class {label!r} (not in {classes_file})")
    return label


def open_vlmclassifier(spec: DataSpec) -> ClassificationSource:
    options = spec.parse(ManifestOptions)
    path = _path(spec, "a VLMClassifier .jsonl")
    classes_file = options.classes or path.with_name(f"{path.stem}_classes.json")
    if options.classes is None and not classes_file.is_file():
        raise SpecError(f"vlmclassifier: no {classes_file.name} beside {path}; give classes=FILE "
                        "(a JSON list of class names)")
    names = list(read_class_file(classes_file).values())
    wanted, root = options.split, options.root or path.parent
    items = []
    for where, row in jsonl_rows(path):
        image = row.get("image")
        if not isinstance(image, str) or not image.strip():
            raise DataError(f"{where}: missing or empty 'image'")
        if "label" not in row:
            raise DataError(f"{where}: missing 'label'")
        label = _class_of(row["label"], names, where, classes_file)
        if "label_idx" in row and _class_of(row["label_idx"], names, where, classes_file) != label:
            raise DataError(f"{where}: 'label' {row['label']!r} disagrees with "
                            f"'label_idx' {row['label_idx']}")
        if "split" not in row:
            raise DataError(f"{where}: missing 'split'")
        split = normalise_split(row["split"], where)
        if wanted is not None and split != wanted:
            continue
        ref = _image(root, image.strip(), where, options.alpha)
        items.append(LabelledImage(ref, label, {}, split, image.strip()))
    return _source(spec, "vlmclassifier", items, names, path, wanted)


# -- CSV / JSONL manifest -----------------------------------------------------------------------


def _manifest_rows(path: Path) -> Iterable[tuple[str, Mapping[str, object]]]:
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        yield from jsonl_rows(path)
        return
    if path.suffix.lower() not in (".csv", ".tsv"):
        raise SpecError(f"labels: cannot tell the format of {path}; use a .csv, .tsv or .jsonl file")
    with io.StringIO(utf8_text(path), newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        header = reader.fieldnames or []
        if missing := [c for c in ("image", "label") if c not in header]:
            raise DataError(f"{path}:1: missing column(s) {missing}; header is {header}")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if None in row or None in row.values():
                raise DataError(f"{where}: row has a different number of fields than the header")
            yield where, row


def _attribute(value: object, key: str, where: str) -> str:
    if isinstance(value, (dict, list)) or value is None:
        raise DataError(f"{where}: attribute {key!r} must be a scalar, got {value!r}")
    return str(value).strip()


def open_manifest(spec: DataSpec) -> ClassificationSource:
    options = spec.parse(ManifestOptions)
    path = _path(spec, "a .csv/.tsv/.jsonl manifest with image and label columns")
    mapping = read_class_file(options.classes) if options.classes is not None else None
    wanted, root = options.split, options.root or path.parent
    items, labels = [], set()
    for where, row in _manifest_rows(path):
        image, raw = row.get("image"), row.get("label")
        if not isinstance(image, str) or not image.strip():
            raise DataError(f"{where}: missing or empty 'image'")
        if isinstance(raw, bool) or not isinstance(raw, (str, int)) or not str(raw).strip():
            raise DataError(f"{where}: missing or empty 'label'")
        label = str(raw).strip()
        if mapping is not None:
            if label not in mapping:
                raise DataError(f"{where}: unknown class {label!r} (not in {options.classes})")
            label = mapping[label]
        split = normalise_split(row["split"], where) if "split" in row else ""
        if wanted is not None:
            if "split" not in row:
                raise DataError(f"{where}: option split={options.split} given but the row has no 'split'")
            if split != wanted:
                continue
        attributes = {k: _attribute(v, k, where) for k, v in row.items()
                      if k not in ("image", "label", "split")}
        labels.add(label)
        ref = _image(root, image.strip(), where, options.alpha)
        items.append(LabelledImage(ref, label, attributes, split, image.strip()))
    classes = list(mapping.values()) if mapping is not None else sorted(labels)
    return _source(spec, "manifest", items, classes, path, wanted)


# -- Waterbirds (WILDS / group_DRO metadata.csv) --------------------------------------------------

WATERBIRDS_COLUMNS = ("img_id", "img_filename", "y", "split", "place")


def _code(row: Mapping[str, str], key: str, names: tuple[str, ...], where: str) -> int:
    value = row[key].strip()
    if value not in {str(i) for i in range(len(names))}:
        raise DataError(f"{where}: {key}={value!r} must be one of 0..{len(names) - 1} ({', '.join(names)})")
    return int(value)


def open_waterbirds(spec: DataSpec) -> ClassificationSource:
    options = spec.parse(SplitOptions)
    given = _path(spec, "the dataset directory or its metadata.csv")
    path = given / "metadata.csv" if given.is_dir() else given
    if not path.is_file():
        raise DataError(f"waterbirds: no metadata.csv in {given}")
    wanted, root = options.split, options.root or path.parent
    items = []
    with io.StringIO(utf8_text(path), newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        if missing := [c for c in WATERBIRDS_COLUMNS if c not in header]:
            raise DataError(f"{path}:1: missing column(s) {missing}; header is {header}")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if None in row or None in row.values():
                raise DataError(f"{where}: row has a different number of fields than the header")
            split = WATERBIRDS_SPLITS[_code(row, "split", WATERBIRDS_SPLITS, where)]
            if wanted is not None and split != wanted:
                continue
            y = _code(row, "y", WATERBIRDS_CLASSES, where)
            place = _code(row, "place", WATERBIRDS_PLACES, where)
            label, place_name = WATERBIRDS_CLASSES[y], WATERBIRDS_PLACES[place]
            attributes = {"place": place_name, "group": f"{label}/{place_name}",
                          "group_index": str(2 * y + place),
                          "place_filename": row.get("place_filename", "").strip()}
            image = row["img_filename"].strip()
            items.append(LabelledImage(_image(root, image, where, options.alpha), label, attributes, split,
                                       row["img_id"].strip()))
    return _source(spec, "waterbirds", items, WATERBIRDS_CLASSES, path, wanted)
