"""Winoground (Thrush et al., CVPR 2022) in the Hugging Face dataset's file layout.

`--data winoground:PATH[?images=DIR]`: PATH is `examples.jsonl` or a directory holding it (or
`data/examples.jsonl`). One JSON object per line: `id, image_0, image_1, caption_0, caption_1` and
the tags `tag, secondary_tag, num_main_preds, collapsed_tag`. Images are `<images>/<image_k>.png`
(default `images/` beside the JSONL, as unpacked from `data/images.zip`); RGBA PNGs are composited
to RGB on load.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmaudit.data.images import ImageRef, file_image
from vlmaudit.data.items import WinogroundGroup
from vlmaudit.data.source import DataSpec, fingerprint_of
from vlmaudit.errors import DataError, ImageError, SpecError

REQUIRED = ("id", "image_0", "image_1", "caption_0", "caption_1")
TAG_FIELDS = ("tag", "secondary_tag", "num_main_preds", "collapsed_tag")




@dataclass
class WinogroundSource:
    spec: DataSpec
    items: list[WinogroundGroup]
    file: str
    digest: str
    kind: str = "winoground"

    def fingerprint(self) -> str:
        return fingerprint_of("winoground", self.digest, [ref.key for it in self.items for ref in it.images])


def open_source(spec: DataSpec) -> WinogroundSource:
    if not spec.path:
        raise SpecError("winoground needs a path: --data winoground:examples.jsonl (or its directory)")
    file = _examples_file(Path(spec.path))
    images = Path(spec.options.get("images", file.parent / "images"))
    raw = file.read_bytes()
    items = [_item(row, line, file, images) for line, row in _rows(file, raw)]
    if not items:
        raise DataError(f"{file}: no Winoground examples")
    return WinogroundSource(spec, items, str(file), hashlib.sha256(raw).hexdigest()[:32])


def _examples_file(path: Path) -> Path:
    if path.is_file():
        return path
    for candidate in (path / "examples.jsonl", path / "data" / "examples.jsonl"):
        if candidate.is_file():
            return candidate
    raise DataError(f"Winoground examples.jsonl not found at {path}")


def _rows(file: Path, raw: bytes):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{file}: not UTF-8 ({err})") from None
    for line, body in enumerate(text.splitlines(), start=1):
        if not body.strip():
            continue
        try:
            row = json.loads(body)
        except json.JSONDecodeError as err:
            raise DataError(f"{file}: line {line} is not valid JSON ({err.msg})") from None
        yield line, row


def _item(row: Any, line: int, file: Path, images: Path) -> WinogroundGroup:
    if not isinstance(row, dict):
        raise DataError(f"{file}: line {line} is not a JSON object")
    missing = [key for key in REQUIRED if key not in row or row[key] in (None, "")]
    if missing:
        raise DataError(f"{file}: line {line} (id {row.get('id', '?')}) lacks {', '.join(missing)}")
    pair = tuple(_image(images, str(row[f"image_{k}"]), line, file) for k in (0, 1))
    captions = (str(row["caption_0"]), str(row["caption_1"]))
    tags = {key: str(row[key]) for key in TAG_FIELDS if row.get(key) not in (None, "")}
    return WinogroundGroup(str(row["id"]), pair, captions, tags)  # type: ignore[arg-type]


def _image(images: Path, name: str, line: int, file: Path) -> ImageRef:
    path = images / (name if Path(name).suffix else f"{name}.png")
    if not path.is_file():
        raise ImageError(f"image not found for line {line} of {file}: {path}")
    return file_image(path)
