"""MMVP-VLM (Tong et al., CVPR 2024): CLIP-blind image pairs, each with one statement per image.

`--data mmvp-vlm:PATH[?images=DIR&category=type|order&alpha=drop|white]`: PATH is `Questions.csv`
or a directory holding it. Columns are read by position, as `scripts/evaluate_vlm.py` does: question id, type
(the visual pattern), statement; one header row. Rows pair up two at a time; each pair's two images
are `<images>/<type of the first row>/<qid>.jpg`, and a statement's gold image is the first iff its
qid is odd. `images` defaults to the first of `MLLM_VLM Images` (the script), `MLLM_VLM_Images`,
`MMVP_VLM_Images` (the README) beside the CSV, else the CSV's directory.

Reconstructed (no copy of the released CSV was available here): the column order and header are
those of the MMVP repository's `Questions.csv` files and of the evaluation script; the category of
a pair is its Type value (`category=order` gives the script's `categories[pair_index // 15]`).
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vlmaudit.data.choice import utf8_text
from vlmaudit.data.images import Alpha, ImageRef, file_image
from vlmaudit.data.items import ImagePair
from vlmaudit.data.source import DataSpec, ImageOptions, UserPath, check_item_type, fingerprint_of
from vlmaudit.errors import DataError, ImageError, SpecError

CATEGORIES = (  # the evaluation script's list, in CSV order, 15 pairs each
    "Orientation and Direction", "Presence of Specific Features", "State and Condition",
    "Quantity and Count", "Positional and Relational Context", "Color and Appearance",
    "Structural Characteristics", "Texts", "Viewpoint and Perspective",
)
PROMPT = "a photo of "  # prepended to every statement by the official script
IMAGE_DIRS = ("MLLM_VLM Images", "MLLM_VLM_Images", "MMVP_VLM_Images")

class MMVPOptions(ImageOptions):
    images: UserPath | None = None  # default: the first of IMAGE_DIRS beside the CSV
    category: Literal["type", "order"] = "type"


@dataclass
class MMVPSource:
    spec: DataSpec
    items: list[ImagePair]
    file: str
    digest: str
    kind: str = "mmvp-vlm"

    @property
    def item_types(self) -> frozenset[type]:
        return frozenset({ImagePair})

    def items_of(self, kind: type, *, seed: int = 0, count: int | None = None) -> dict[str, list]:
        check_item_type(self, kind)
        return {"mmvp-vlm": list(self.items)}

    def fingerprint(self) -> str:
        return fingerprint_of("mmvp-vlm", self.digest, [ref.key for it in self.items for ref in it.images])


def open_source(spec: DataSpec) -> MMVPSource:
    options = spec.parse(MMVPOptions)
    if not spec.path:
        raise SpecError("mmvp-vlm needs a path: --data mmvp-vlm:Questions.csv (or its directory)")
    file = _questions_file(Path(spec.path))
    category_mode = options.category
    images = options.images or _image_dir(file)
    raw = file.read_bytes()
    rows = _rows(file, raw)
    if len(rows) % 2:
        raise DataError(f"{file}: {len(rows)} questions; MMVP-VLM pairs need an even number")
    items = []
    for p in range(len(rows) // 2):
        (line1, q1, type1, s1), (_, q2, _, s2) = rows[2 * p], rows[2 * p + 1]
        pair = tuple(_image(images, type1, qid, line1, file, options.alpha) for qid in (q1, q2))
        category = type1 if category_mode == "type" else _by_order(p, file)
        gold = tuple(0 if int(q) % 2 == 1 else 1 for q in (q1, q2))
        items.append(ImagePair((q1, q2), pair, (PROMPT + s1, PROMPT + s2), gold, category))  # type: ignore[arg-type]
    return MMVPSource(spec, items, str(file), hashlib.sha256(raw).hexdigest()[:32])


def _questions_file(path: Path) -> Path:
    if path.is_file():
        return path
    if (path / "Questions.csv").is_file():
        return path / "Questions.csv"
    raise DataError(f"MMVP-VLM Questions.csv not found at {path}")


def _image_dir(file: Path) -> Path:
    return next((file.parent / d for d in IMAGE_DIRS if (file.parent / d).is_dir()), file.parent)


def _rows(file: Path, raw: bytes) -> list[tuple[int, str, str, str]]:
    try:
        reader = list(csv.reader(io.StringIO(utf8_text(file, raw))))
    except csv.Error as err:
        raise DataError(f"{file}: cannot read as CSV ({err})") from None
    rows = []
    for line, row in enumerate(reader[1:], start=2):
        if not row:
            continue
        if len(row) != 3 or not row[0].strip().isdigit() or not row[1].strip() or not row[2].strip():
            raise DataError(f"{file}: line {line} must be 'question id,type,statement', got {row!r}")
        rows.append((line, row[0].strip(), row[1].strip(), row[2]))
    if not rows:
        raise DataError(f"{file}: no MMVP-VLM questions")
    return rows


def _by_order(pair_index: int, file: Path) -> str:
    if pair_index // 15 >= len(CATEGORIES):
        raise DataError(f"{file}: pair {pair_index} is past the 9 x 15 categories; use category=type")
    return CATEGORIES[pair_index // 15]


def _image(images: Path, folder: str, qid: str, line: int, file: Path, alpha: Alpha) -> ImageRef:
    path = images / folder / f"{int(qid)}.jpg"
    if not path.is_file():
        raise ImageError(f"image not found for question {qid} (line {line} of {file}): {path}")
    return file_image(path, alpha=alpha)
