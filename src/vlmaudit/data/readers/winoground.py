"""Winoground (Thrush et al., CVPR 2022) in the Hugging Face dataset's file layouts.

`--data winoground:PATH[?images=DIR&alpha=drop|white]`, PATH one of:
- the current layout: a directory holding `data/test-*.parquet` (or the shards themselves, or one
  parquet file); columns `id, image_0, image_1, caption_0, caption_1` and the tags `tag,
  secondary_tag, num_main_preds, collapsed_tag`, the images as structs `{bytes, path}`;
- the earlier layout: `examples.jsonl` or a directory holding it (or `data/examples.jsonl`), one
  JSON object per line with the same fields, images as `<images>/<image_k>.png` (default
  `images/` beside the JSONL, as unpacked from `data/images.zip`).
RGBA PNGs become RGB by dropping alpha, as the benchmark's own loading does (`alpha=white`
composites them on white instead).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from vlmaudit.data.choice import utf8_text
from vlmaudit.data.images import Alpha, ImageRef, encoded_image, file_image
from vlmaudit.data.items import WinogroundGroup
from vlmaudit.data.source import DataSpec, ImageOptions, UserPath, check_item_type, fingerprint_of
from vlmaudit.errors import DataError, ImageError, SpecError

REQUIRED = ("id", "image_0", "image_1", "caption_0", "caption_1")
TAG_FIELDS = ("tag", "secondary_tag", "num_main_preds", "collapsed_tag")
PARQUET_SHARDS = "test-*.parquet"


class WinogroundOptions(ImageOptions):
    images: UserPath | None = None  # examples.jsonl layout only; default: images/ beside it


@dataclass
class WinogroundSource:
    spec: DataSpec
    items: list[WinogroundGroup]
    file: str
    digest: str
    kind: str = "winoground"

    @property
    def item_types(self) -> frozenset[type]:
        return frozenset({WinogroundGroup})

    def items_of(self, kind: type, *, seed: int = 0, count: int | None = None) -> dict[str, list]:
        check_item_type(self, kind)
        return {"winoground": list(self.items)}

    def fingerprint(self) -> str:
        return fingerprint_of("winoground", self.digest, [ref.key for it in self.items for ref in it.images])


def open_source(spec: DataSpec) -> WinogroundSource:
    options = spec.parse(WinogroundOptions)
    if not spec.path:
        raise SpecError("winoground needs a path: --data winoground:DIR (with data/test-*.parquet or "
                        "examples.jsonl)")
    path = Path(spec.path)
    shards = _parquet_shards(path)
    if shards:
        if options.images is not None:
            raise SpecError(f"winoground option images= is for the examples.jsonl layout; {path} holds "
                            "its images in parquet")
        items, digest = _read_parquet(shards, options.alpha)
        file = ", ".join(str(shard) for shard in shards)
    else:
        jsonl = _examples_file(path)
        images = options.images or jsonl.parent / "images"
        raw = jsonl.read_bytes()
        image = partial(_image, images, file=jsonl, alpha=options.alpha)
        items = [_item(row, f"line {line}", jsonl, image) for line, row in _rows(jsonl, raw)]
        file, digest = str(jsonl), hashlib.sha256(raw).hexdigest()[:32]
    if not items:
        raise DataError(f"{file}: no Winoground examples")
    return WinogroundSource(spec, items, file, digest)


def _parquet_shards(path: Path) -> list[Path]:
    """The parquet file, or a directory's `data/test-*.parquet` (or `test-*.parquet`) shards in order."""
    if path.is_file():
        return [path] if path.suffix == ".parquet" else []
    for folder in (path / "data", path):
        if shards := sorted(folder.glob(PARQUET_SHARDS)):
            return shards
    return []


def _read_parquet(shards: list[Path], alpha: Alpha) -> tuple[list[WinogroundGroup], str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    items, digest = [], hashlib.sha256()
    for shard in shards:
        with shard.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
        try:
            rows = pq.read_table(shard).to_pylist()
        except (OSError, pa.ArrowException) as err:
            raise DataError(f"{shard}: cannot read as parquet ({' '.join(str(err).split())})") from None
        image = partial(_encoded, file=shard, alpha=alpha)
        items += [_item(row, f"row {i}", shard, image) for i, row in enumerate(rows)]
    return items, digest.hexdigest()[:32]


def _encoded(value: Any, where: str, file: Path, alpha: Alpha) -> ImageRef:
    """A Hugging Face Image struct `{bytes, path}` (or raw bytes) as an image ref."""
    data = value.get("bytes") if isinstance(value, dict) else value
    if not isinstance(data, bytes) or not data:
        raise ImageError(f"{file}: {where} has no image bytes (expected a {{bytes, path}} struct)")
    name = value.get("path") if isinstance(value, dict) else None
    return encoded_image(data, f"{file} {where}" + (f" ({name})" if name else ""), alpha)


def _examples_file(path: Path) -> Path:
    if path.is_file():
        return path
    for candidate in (path / "examples.jsonl", path / "data" / "examples.jsonl"):
        if candidate.is_file():
            return candidate
    raise DataError(f"Winoground data not found at {path} (expected data/{PARQUET_SHARDS} or examples.jsonl)")


def _rows(file: Path, raw: bytes):
    for line, body in enumerate(utf8_text(file, raw).splitlines(), start=1):
        if not body.strip():
            continue
        try:
            row = json.loads(body)
        except json.JSONDecodeError as err:
            raise DataError(f"{file}: line {line} is not valid JSON ({err.msg})") from None
        yield line, row


def _item(row: Any, where: str, file: Path, image: Callable[[Any, str], ImageRef]) -> WinogroundGroup:
    if not isinstance(row, dict):
        raise DataError(f"{file}: {where} is not a JSON object")
    missing = [key for key in REQUIRED if key not in row or row[key] in (None, "")]
    if missing:
        raise DataError(f"{file}: {where} (id {row.get('id', '?')}) lacks {', '.join(missing)}")
    pair = tuple(image(row[f"image_{k}"], f"{where} image_{k}") for k in (0, 1))
    captions = (str(row["caption_0"]), str(row["caption_1"]))
    tags = {key: str(row[key]) for key in TAG_FIELDS if row.get(key) not in (None, "")}
    return WinogroundGroup(str(row["id"]), pair, captions, tags)  # type: ignore[arg-type]


def _image(images: Path, name: Any, where: str, file: Path, alpha: Alpha) -> ImageRef:
    name = str(name)
    path = images / (name if Path(name).suffix else f"{name}.png")
    if not path.is_file():
        raise ImageError(f"image not found for {where} of {file}: {path}")
    return file_image(path, alpha=alpha)
