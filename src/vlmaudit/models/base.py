"""The one interface every backend implements.

Pixels enter as a float tensor in [0, 1] after geometry only (resize/crop); each model normalises
inside `encode_images`, so attacks and Jacobians can differentiate from pixel space straight
to the embedding, and no caller can apply another family's mean/std by accident.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import torch
from PIL import Image

ResizeMode = Literal["shortest", "squash"]
Interpolation = Literal["bicubic", "bilinear", "nearest"]
CropOffset = Literal["floor", "round"]

_PIL_RESAMPLE = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
}


@dataclass(frozen=True)
class Preprocessing:
    """Everything that turns a PIL image into model pixels; data on the model, not caller code.

    "shortest" truncates the long side, as torchvision (open_clip, OpenAI CLIP) and transformers
    both do; they disagree on the centre-crop offset when the margin is odd: transformers floors,
    torchvision rounds half to even. One pixel of shift moves embeddings, so each backend declares
    which reference it follows (`crop_offset`) and is tested against it.
    """

    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize_mode: ResizeMode = "shortest"  # shortest side to size, then centre crop; or squash
    interpolation: Interpolation = "bicubic"
    crop_offset: CropOffset = "floor"

    def to_dict(self) -> dict:
        return asdict(self)

    def geometry(self, image: Image.Image) -> Image.Image:
        """Resize (and centre-crop) exactly as the model family's reference preprocessing does."""
        size = self.image_size
        resample = _PIL_RESAMPLE[self.interpolation]
        if self.resize_mode == "squash":
            return image.resize((size, size), resample=resample)
        w, h = image.size
        new_w, new_h = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
        image = image.resize((new_w, new_h), resample=resample)
        left, top = _crop_offset(new_w - size, self.crop_offset), _crop_offset(new_h - size, self.crop_offset)
        return image.crop((left, top, left + size, top + size))

    def pixels(self, images: list[Image.Image]) -> torch.Tensor:
        """[N, 3, S, S] float32 in [0, 1]."""
        arrays = [np.asarray(self.geometry(img.convert("RGB")), dtype=np.uint8) for img in images]
        batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
        return batch.float().div_(255.0)

    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=pixels.dtype, device=pixels.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=pixels.dtype, device=pixels.device).view(1, 3, 1, 1)
        return (pixels - mean) / std


def _crop_offset(margin: int, rule: CropOffset) -> int:
    return margin // 2 if rule == "floor" else round(margin / 2.0)


CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class AuditedModel(ABC):
    """What every model family shares: identity (spec, weights hash) and the cache fingerprint.

    Subclasses set `spec`, `preprocessing`, `weights_hash`, `device` and `dtype`; the fingerprint
    hashes everything that changes an output, so the engine's cache can never serve one family's,
    one checkpoint's or one dtype's rows to another.
    """

    family: str = "dual"  # "dual" (ImageTextModel) or "generative" (GenerativeModel)
    spec: str
    preprocessing: Preprocessing
    weights_hash: str
    logit_scale: float = 100.0
    logit_bias: float | None = None
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32

    def preprocess(self, images: list[Image.Image]) -> torch.Tensor:
        """Geometry only: [N, 3, S, S] in [0, 1] on the model's device."""
        return self.preprocessing.pixels(images).to(self.device)

    @property
    def fingerprint(self) -> str:
        """Hash of everything that changes an output: the cache key's model half."""
        payload = {
            "spec": self.spec,
            "weights": self.weights_hash,
            "preprocessing": self.preprocessing.to_dict(),
            "dtype": str(self.dtype),
            "extra": self.fingerprint_extra(),
        }
        if self.family != "dual":  # dual-encoder fingerprints (and their caches) predate families
            payload["family"] = self.family
        blob = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:32]

    def fingerprint_extra(self) -> dict:
        """Backend-specific settings that change outputs (e.g. text padding, activation)."""
        return {}

    def describe(self) -> dict:
        """Provenance block for results."""
        return {
            "spec": self.spec,
            "family": self.family,
            "weights_hash": self.weights_hash,
            "fingerprint": self.fingerprint,
            "preprocessing": self.preprocessing.to_dict(),
            "dtype": str(self.dtype).replace("torch.", ""),
            "device": str(self.device),
            "logit_scale": self.logit_scale,
            "logit_bias": self.logit_bias,
            **self.fingerprint_extra(),
        }


class ImageTextModel(AuditedModel):
    """A dual encoder seen through the audit's eyes.

    Subclasses set `spec`, `preprocessing`, `weights_hash`, `logit_scale`, `logit_bias`,
    `device` and `dtype`, and implement the two encoders. Embeddings are returned unnormalised;
    the engine normalises and casts to fp32.
    """

    @abstractmethod
    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """[N, 3, S, S] pixels in [0, 1] -> [N, D]; differentiable, normalisation inside."""

    @abstractmethod
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """[M] strings -> [M, D]."""

    def text_keys(self, texts: list[str]) -> list[str]:
        """What the text tower actually reads of each text (its token ids), for the engine's dedup.

        Two texts the tokenizer maps to the same ids are one input to the model; keying them alike
        makes them one embedding row, so they tie exactly instead of differing by batch-position
        float noise. Default: the text itself.
        """
        return list(texts)

    def text_lengths(self, texts: list[str]) -> list[int]:
        """The padded length each text gets when its batch is padded to its longest member.

        The engine batches only texts of one length together, so a text's forward never depends
        on which other captions share it. Default: 0 for all (the backend pads to a fixed length).
        """
        return [0] * len(texts)

    def image_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """Optional dense output [N, T, D]: patch tokens projected into the joint space."""
        raise NotImplementedError(f"{self.spec} does not expose image tokens")

    def text_tokens(self, texts: list[str]) -> torch.Tensor:
        """Optional dense output [M, L, D]: text tokens projected into the joint space."""
        raise NotImplementedError(f"{self.spec} does not expose text tokens")


def hash_state_dict(state: dict[str, torch.Tensor]) -> str:
    """Content hash of weights, independent of file format or key order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous().reshape(-1)  # 0-dim tensors have no bytes view
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()[:32]


def hash_file(path: str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()[:32]
