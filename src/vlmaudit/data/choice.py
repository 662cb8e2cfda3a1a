"""Caption-choice items: one image, K caption options, the gold index, a grouping key.

Every compositionality benchmark (ARO, SugarCrepe, hard positives, and their generated-scene
versions) reduces to this shape, so readers produce it and one scoring path consumes it. Options
keep the benchmark's official listing order (ARO VG-R: [false, true]; Order: [true, 4 perturbed]),
which is what makes the legacy `argmax-first` tie policy reproduce each repository.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmaudit.data.images import Alpha, Box, ImageRef, file_image
from vlmaudit.data.items import CaptionChoice
from vlmaudit.data.source import DataSpec, check_item_type, fingerprint_of
from vlmaudit.errors import DataError, ImageError


def utf8_text(path: Path, raw: bytes | None = None) -> str:
    """An annotation file's text (a leading BOM dropped); not UTF-8 is one DataError naming the byte."""
    try:
        raw = path.read_bytes() if raw is None else raw
    except FileNotFoundError:
        raise DataError(f"annotation file not found: {path}") from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {err}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise DataError(f"{path}:{line}: byte 0x{raw[err.start]:02x} at offset {err.start} is not UTF-8; "
                        "the file must be UTF-8 encoded (re-save it as UTF-8)") from None


def jsonl_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(`file:line`, object) for each non-blank line of a JSONL file; a bad line is one DataError."""
    for number, line in enumerate(utf8_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{where}: invalid JSON: {err.msg}") from None
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object")
        yield where, row


def load_json(path: Path) -> Any:
    """Parse an annotation file; any failure is one DataError naming the file."""
    try:
        return json.loads(utf8_text(path))
    except json.JSONDecodeError as err:
        raise DataError(f"cannot parse {path}: {err}") from None


def get_field(entry: Any, name: str, kind: type | tuple[type, ...], where: str) -> Any:
    """entry[name] checked for type; a missing or mistyped field names the file and the entry."""
    if not isinstance(entry, dict):
        raise DataError(f"{where}: expected an object, got {type(entry).__name__}")
    if name not in entry:
        raise DataError(f"{where}: missing field {name!r}")
    value = entry[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise DataError(f"{where}: field {name!r} has type {type(value).__name__}")
    if isinstance(value, str) and not value.strip():
        raise DataError(f"{where}: field {name!r} is empty")
    return value


def entry_image(root: Path, relative: str, where: str, crop: Box | None = None,
                alpha: Alpha = "drop") -> ImageRef:
    """file_image under `root`, with a missing/unreadable image reported against its entry."""
    try:
        return file_image(root / relative, crop=crop, alpha=alpha)
    except ImageError as err:
        raise DataError(f"{where}: {err} (set the image root with images=DIR)") from None


def bbox_crop(entry: dict, where: str, keys: tuple[str, str, str, str] = ("x", "y", "w", "h"),
              prefix: str = "bbox_") -> Box:
    """ARO's crop `(x, y, x + w, y + h)`, rounded as PIL's crop rounds."""
    x, y, w, h = (float(get_field(entry, prefix + k, (int, float), where)) for k in keys)
    if w <= 0 or h <= 0:
        raise DataError(f"{where}: empty bounding box w={w} h={h}")
    return (round(x), round(y), round(x + w), round(y + h))


def limited(items: list, limit: int) -> list:
    """The first `limit` items (0 = all), so a quick run is a prefix of the full one."""
    return items[:limit] if limit > 0 else items


Loaded = tuple[dict[str, list[CaptionChoice]], dict[str, Any]]  # subsets, reader notes


@dataclass
class ChoiceSource:
    """A DataSource of caption-choice items, split into named subsets.

    Parsed when opened, like every other source: the runner opens all data before it loads a
    model, so a missing image or a malformed entry stops the run before any unit starts.
    `info` carries what the reader did that a reader of the result must know (items dropped,
    perturbations resampled, the tagger used).
    """

    spec: DataSpec
    kind: str
    files: tuple[Path, ...]  # annotation files: what the fingerprint hashes
    loader: Callable[[], Loaded]
    alpha: Alpha = "drop"  # how transparency became RGB: it changes pixels, so the fingerprint has it
    _loaded: Loaded | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._load()

    def _load(self) -> Loaded:
        if self._loaded is None:
            self._loaded = self.loader()
        return self._loaded

    def subsets(self) -> dict[str, list[CaptionChoice]]:
        return self._load()[0]

    @property
    def item_types(self) -> frozenset[type]:
        return frozenset({CaptionChoice})

    def items_of(self, kind: type, *, seed: int = 0, count: int | None = None) -> dict[str, list]:
        """"<format>/<subset>" -> items, e.g. "sugarcrepe/swap_att", "aro-vgr/vg_relation"."""
        check_item_type(self, kind)
        return {f"{self.kind}/{name}": items for name, items in self.subsets().items()}

    @property
    def info(self) -> dict[str, Any]:
        return self._load()[1]

    def fingerprint(self) -> str:
        digests = [hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in self.files]
        images = [item.image.key for items in self.subsets().values() for item in items]  # content hashes
        return fingerprint_of(self.kind, digests, sorted(self.spec.options.items()), self.alpha, images)
