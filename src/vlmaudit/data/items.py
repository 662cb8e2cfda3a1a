"""The item types every data source yields and every suite consumes.

A suite declares which of these it accepts (`Suite.accepts`), never a source's format, so one
benchmark rule runs on an official file, a manifest or the scene world alike. Every item refers to
its images by `ImageRef` (content-keyed), so the engine's cache and dedup apply to all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from vlmaudit.data.images import ImageRef


@dataclass(frozen=True)
class CaptionChoice:
    """One image, K caption options, the gold index (ARO, SugarCrepe, hard positives, Order).

    Options keep the benchmark's official listing order (ARO VG-R: [false, true]; Order: [true, 4
    perturbed]), which is what makes the legacy `argmax-first` tie policy reproduce each repository.
    """

    image: ImageRef
    options: tuple[str, ...]
    gold: int
    group: str = ""  # macro-average key: relation name, ordered attribute pair, ...
    item_id: str = ""


@dataclass(frozen=True)
class SpatialChoice:
    """What'sUp: one image with its preposition caption options (gold first)."""

    image: ImageRef
    options: tuple[str, ...]
    relation: str  # preposition key: left/right/on/under/in-front/behind (A/B); left/.../top (QA)
    group: str = ""  # controlled subsets: "<object>/<reference object>"
    opposite: int | None = None  # index of the opposite-preposition option (two-way variant)
    subset: str = ""


@dataclass(frozen=True)
class WinogroundGroup:
    """A 2x2 group: caption k describes image k; the two captions share their words."""

    id: str
    images: tuple[ImageRef, ImageRef]
    captions: tuple[str, str]
    tags: dict[str, str] = field(default_factory=dict, compare=False)  # only the non-empty tag fields


@dataclass(frozen=True)
class ImagePair:
    """MMVP-VLM: two images and two statements; statement k's gold image is `gold[k]` (0 or 1)."""

    qids: tuple[str, str]
    images: tuple[ImageRef, ImageRef]
    texts: tuple[str, str]  # as scored, i.e. with the protocol's prompt prefix
    gold: tuple[int, int]
    category: str


@dataclass(frozen=True)
class ImageCaptions:
    """An image with its captions (retrieval, transforms, fine-tuning data)."""

    ref: ImageRef
    captions: tuple[str, ...]
    label: str = ""  # class name for image folders; empty otherwise


@dataclass(frozen=True)
class LabelledImage:
    """An image with a class label: the input of zero-shot, probe, bias and alignment suites.

    `attributes` carries what a group analysis needs (context, place, group, ...); `split` is the
    source's own train/val/test assignment, or "" when it has none.
    """

    image: ImageRef
    label: str
    attributes: Mapping[str, str] = field(default_factory=dict, compare=False)
    split: str = ""
    item_id: str = ""


Item = CaptionChoice | SpatialChoice | WinogroundGroup | ImagePair | ImageCaptions | LabelledImage
ITEM_TYPES: tuple[type, ...] = (CaptionChoice, SpatialChoice, WinogroundGroup, ImagePair, ImageCaptions,
                                LabelledImage)
