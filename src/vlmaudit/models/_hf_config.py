"""Translate a transformers image processor / tokenizer config into vlmaudit's preprocessing data.

Only configurations our square [N, 3, S, S] pixel path reproduces exactly are accepted; anything
else (resize larger than the crop, non-square output, unusual rescale) is refused by name rather
than approximated, because a silent preprocessing mismatch shifts every number an audit reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from vlmaudit.models._loading import load_error
from vlmaudit.models.base import Interpolation, Preprocessing

_RESAMPLE: dict[int, Interpolation] = {0: "nearest", 2: "bilinear", 3: "bicubic"}
_SIGLIP_FAMILIES = ("siglip", "siglip2")


def family_of(model_type: str) -> str:
    """"clip", "siglip", "siglip2" or "auto" (any other dual encoder with get_*_features)."""
    return model_type if model_type in ("clip", *_SIGLIP_FAMILIES) else "auto"


def preprocessing_from_processor(config: dict, spec: str) -> Preprocessing:
    """Build the square geometry + mean/std that the HF image processor (PIL backend) applies."""
    resample = int(config.get("resample", 3))
    if resample not in _RESAMPLE:
        raise load_error(spec, f"image processor resample={resample} is not supported "
                               "(bicubic, bilinear or nearest)")
    if not config.get("do_rescale", True) or not math.isclose(config.get("rescale_factor", 1 / 255), 1 / 255):
        raise load_error(spec, "image processor does not rescale pixels by 1/255; not supported")
    if config.get("do_normalize", True):
        mean, std = tuple(config["image_mean"]), tuple(config["image_std"])
    else:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    size_cfg = config.get("size") or {}
    crop = config.get("crop_size") if config.get("do_center_crop") else None
    if "max_num_patches" in config and "patch_size" in config:
        # NaFlex (SigLIP 2): a square image gets isqrt(max_num_patches) patches per side.
        size, mode = config["patch_size"] * math.isqrt(config["max_num_patches"]), "squash"
    elif "shortest_edge" in size_cfg:
        size, mode = size_cfg["shortest_edge"], "shortest"
        if not crop or (crop["height"], crop["width"]) != (size, size):
            raise load_error(spec, f"image processor resizes to {size} but crops to {crop}; "
                                   "only equal sizes are supported")
    elif "height" in size_cfg and size_cfg.get("height") == size_cfg.get("width"):
        size, mode = size_cfg["height"], "squash"
        if crop and (crop["height"], crop["width"]) != (size, size):
            raise load_error(spec, f"image processor squashes to {size} then crops to {crop}; not supported")
    else:
        raise load_error(spec, f"image processor size {size_cfg} is not square; not supported")
    return Preprocessing(int(size), mean, std, mode, _RESAMPLE[resample], crop_offset="floor")


@dataclass(frozen=True)
class TextSettings:
    """How captions become token ids: the padding rule and the truncation length."""

    padding: Literal["max_length", "longest"]
    max_length: int | None
    input_names: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"text_padding": self.padding, "text_max_length": self.max_length,
                "text_inputs": list(self.input_names)}


def text_settings(family: str, tokenizer, text_config) -> TextSettings:
    """SigLIP pools the LAST position, so it must see the max_length padding it was trained with."""
    limits = [getattr(text_config, "max_position_embeddings", None)]
    if 0 < getattr(tokenizer, "model_max_length", 0) < 100_000:
        limits.append(tokenizer.model_max_length)
    known = [n for n in limits if n]
    max_length = min(known) if known else None
    padding = "max_length" if family in _SIGLIP_FAMILIES else "longest"
    if padding == "max_length" and max_length is None:
        raise ValueError("SigLIP text needs a max length but neither tokenizer nor config gives one")
    names = tuple(n for n in tokenizer.model_input_names if n in ("input_ids", "attention_mask"))
    return TextSettings(padding, max_length, names or ("input_ids",))
