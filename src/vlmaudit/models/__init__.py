"""Model specs ("backend:rest") resolve to an ImageTextModel through the backend registry."""

from __future__ import annotations

import torch

from vlmaudit.errors import SpecError
from vlmaudit.models.base import ImageTextModel, Preprocessing
from vlmaudit.registry import MODEL_BACKENDS
from vlmaudit.specs import ModelSpec

DEFAULT_MODEL = "builtin:scenes"
# `vlmaudit run` with no --model: the built-in CLIP, the generative model on its frozen image tower
# (caption log-likelihood summed, and per token: both normalisations, one model loaded), and its
# [CLS]-only ablation (Li et al.): "same vision encoder" as one command
DEFAULT_MODELS = ("builtin:scenes", "builtin:scenes-gen", "builtin:scenes-gen?normalize=mean",
                  "builtin:scenes-gen-cls")

_DTYPES = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16,
           "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}


def parse_dtype(name: str) -> torch.dtype:
    try:
        return _DTYPES[name]
    except KeyError:
        raise SpecError(f"unknown dtype {name!r} (use fp32, bf16 or fp16)") from None


def parse_device(name: str | torch.device) -> torch.device:
    """A usable torch device, or a one-line error (torch only fails later, deep inside a model move)."""
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise SpecError(f"unknown device {str(name)!r} (use cpu, cuda or cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SpecError(f"device {str(name)!r}: CUDA is not available on this machine (use --device cpu)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise SpecError(f"device {str(name)!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise SpecError(f"device {str(name)!r}: MPS is not available on this machine (use --device cpu)")
    return device


def load_model(spec: str | ModelSpec = DEFAULT_MODEL, *, device: str = "cpu",
               dtype: str = "fp32") -> ImageTextModel:
    """Resolve a spec such as "hf:openai/clip-vit-base-patch32" to a ready, eval-mode model."""
    spec = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec)
    return MODEL_BACKENDS.get(spec.backend)(spec.rest, device=parse_device(device), dtype=parse_dtype(dtype))


def model_family(spec: ModelSpec) -> str:
    """"dual" or "generative", known from the spec and its files without loading weights."""
    if spec.backend == "hfgen":
        return "generative"
    if spec.backend == "hf":
        from vlmaudit.models.hf_generative import is_generative_dir

        return "generative" if is_generative_dir(spec.rest) else "dual"
    if spec.backend == "builtin":
        import json

        from vlmaudit.models.builtin import resolve

        return json.loads(resolve(spec.rest)[1].read_text()).get("family", "dual")
    return "dual"


__all__ = ["DEFAULT_MODEL", "DEFAULT_MODELS", "ImageTextModel", "Preprocessing", "load_model", "model_family",
           "parse_device", "parse_dtype"]
