"""`hf:<hub-name-or-dir>`: transformers dual encoders (CLIP, SigLIP, SigLIP 2, any AutoModel
with get_image_features/get_text_features), loaded from a local directory or the local HF cache.

Nothing is ever downloaded (`local_files_only=True` always): an audit must not depend on the
network, and a model missing locally is a one-line `ModelLoadError`. Quirks stay inside: SigLIP
text is padded to max_length (its text tower pools the last position), transformers 5 returns
output objects from get_*_features (we take `pooler_output`, the projected embedding), and
preprocessing is read from the image processor config and reproduced pixel-exactly (PIL backend).

`hf:` picks the family from the config: a local directory whose config.json names one of the nine
generative VLM types (LLaVA, Qwen2-VL, PaliGemma, ...) is handed to `hf_generative`; `hfgen:`
forces the generative family.
"""

from __future__ import annotations

from pathlib import Path

import torch

from vlmaudit.data.source import fingerprint_of
from vlmaudit.errors import EmbeddingError
from vlmaudit.models import hf_generative
from vlmaudit.models._hf_config import (
    TextSettings,
    family_of,
    preprocessing_from_processor,
    text_settings,
)
from vlmaudit.models._loading import load_error
from vlmaudit.models.base import ImageTextModel, Preprocessing, hash_state_dict


class HFModel(ImageTextModel):
    """A transformers dual encoder behind the audit interface; pixels in [0, 1], normalised inside."""

    def __init__(self, spec: str, model, tokenizer, preprocessing: Preprocessing, text: TextSettings,
                 family: str, device: torch.device, dtype: torch.dtype) -> None:
        self.spec = spec
        self.model = model
        self.tokenizer = tokenizer
        self.preprocessing = preprocessing
        self.text = text
        self.architecture = family  # clip | siglip | siglip2 | other (not the audit's model family)
        self.device = device
        self.dtype = dtype
        self.weights_hash = hash_state_dict(model.state_dict())
        scale = getattr(model, "logit_scale", None)
        self.logit_scale = float(scale.exp().item()) if scale is not None else 100.0
        bias = getattr(model, "logit_bias", None)
        self.logit_bias = float(bias.item()) if bias is not None else None
        self._hashes = {"config_hash": fingerprint_of(_architecture(model.config.to_dict())),
                        "tokenizer_hash": _tokenizer_hash(tokenizer)}

    def fingerprint_extra(self) -> dict:
        """Beside weights and preprocessing, what changes outputs: the config (an activation such as
        quick_gelu is config, not weights), the tokenizer (vocabulary, normaliser) and text padding."""
        return {"backend": "hf", "model_class": type(self.model).__name__, **self.text.to_dict(),
                **self._hashes}

    # -- images ---------------------------------------------------------------------------------
    def _model_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.preprocessing.normalise(pixels.to(self.device, torch.float32))
        return x.to(self.dtype)

    def _image_inputs(self, pixels: torch.Tensor) -> dict:
        x = self._model_pixels(pixels)
        if self.architecture != "siglip2":
            return {"pixel_values": x}
        return _naflex_inputs(x, self.model.config.vision_config.patch_size)

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        return _pooled(self.model.get_image_features(**self._image_inputs(pixels)), self.spec)

    def image_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """CLIP only: patch tokens (CLS dropped) through post-layernorm and the visual projection."""
        if self.architecture != "clip":
            return super().image_tokens(pixels)
        vision = self.model.vision_model
        hidden = vision(pixel_values=self._model_pixels(pixels)).last_hidden_state[:, 1:]
        return self.model.visual_projection(vision.post_layernorm(hidden))

    # -- texts ----------------------------------------------------------------------------------
    def _tokens(self, texts: list[str], padding: str) -> dict:
        batch = self.tokenizer(list(texts), padding=padding, truncation=self.text.max_length is not None,
                               max_length=self.text.max_length, return_tensors="pt")
        return {name: batch[name].to(self.device) for name in self.text.input_names}

    def _ids(self, texts: list[str]) -> list[list[int]]:
        """Unpadded, truncated token ids of each text (what the text tower reads)."""
        if not texts:  # the tokenizer raises on an empty list
            return []
        return self.tokenizer(list(texts), truncation=self.text.max_length is not None,
                              max_length=self.text.max_length)["input_ids"]

    def text_keys(self, texts: list[str]) -> list[str]:
        return ["ids:" + ",".join(map(str, row)) for row in self._ids(texts)]

    def text_lengths(self, texts: list[str]) -> list[int]:
        if self.text.padding == "max_length":
            return super().text_lengths(texts)
        return [len(ids) for ids in self._ids(texts)]

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        return _pooled(self.model.get_text_features(**self._tokens(texts, self.text.padding)), self.spec)

    def text_tokens(self, texts: list[str]) -> torch.Tensor:
        """[M, max_length, D]: every position through the text head (CLIP projection, SigLIP head).

        Padded to max_length so the shape does not depend on which captions share a batch.
        """
        if self.architecture == "clip":
            project = self.model.text_projection
        elif self.architecture in ("siglip", "siglip2"):
            project = self.model.text_model.head
        else:
            return super().text_tokens(texts)
        hidden = self.model.text_model(**self._tokens(texts, "max_length")).last_hidden_state
        return project(hidden)


def _architecture(config: dict) -> dict:
    """A config dict without where it was read from and which library version wrote it."""
    return {k: _architecture(v) if isinstance(v, dict) else v for k, v in config.items()
            if k not in ("_name_or_path", "transformers_version")}


def _tokenizer_hash(tokenizer) -> str:
    """The tokenizer's full definition (fast: its tokenizers JSON; else its vocabulary)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    definition = backend.to_str() if backend is not None else sorted(tokenizer.get_vocab().items())
    return fingerprint_of(type(tokenizer).__name__, definition)


def _naflex_inputs(x: torch.Tensor, patch: int) -> dict:
    """SigLIP 2 NaFlex takes flattened patches [N, P, p*p*C] (row-major, channels last) + their grid."""
    n, c, h, w = x.shape
    gh, gw = h // patch, w // patch
    patches = x.reshape(n, c, gh, patch, gw, patch).permute(0, 2, 4, 3, 5, 1).reshape(n, gh * gw, -1)
    return {
        "pixel_values": patches,
        "pixel_attention_mask": torch.ones(n, gh * gw, dtype=torch.long, device=x.device),
        "spatial_shapes": torch.tensor([[gh, gw]] * n, dtype=torch.long, device=x.device),
    }


def _pooled(output, spec: str) -> torch.Tensor:
    """transformers 5 returns BaseModelOutputWithPooling; older/custom models return the tensor."""
    tensor = output if isinstance(output, torch.Tensor) else getattr(output, "pooler_output", None)
    if not isinstance(tensor, torch.Tensor) or tensor.ndim != 2:
        raise EmbeddingError(f"model {spec!r}: get_*_features did not return an [N, D] embedding")
    return tensor


def _source(rest: str, spec: str) -> str:
    """A local directory, or a hub name looked up in the local cache only."""
    path = Path(rest).expanduser()
    if path.is_dir():
        return str(path)
    if path.is_absolute() or rest.startswith((".", "~")) or rest.count("/") > 1:
        raise load_error(spec, f"no such model directory {rest!r}")
    return rest


def resolve(rest: str) -> str:
    """The directory or cached hub name of `hf:REST`, found without loading it (its config.json)."""
    spec = f"hf:{rest}"
    if hf_generative.is_generative_dir(rest):
        hf_generative.resolve(rest, spec)
        return rest
    source = _source(rest, spec)
    if Path(source).is_dir():
        if not (Path(source) / "config.json").is_file():
            raise load_error(spec, f"directory {source} has no config.json")
        return source
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(source, "config.json")
    except ValueError:  # not a valid hub repo id
        cached = None
    if not isinstance(cached, str):
        raise load_error(spec, "no model config found in the local Hugging Face cache "
                               "(nothing is downloaded)")
    return source


def load(rest: str, *, device: torch.device, dtype: torch.dtype) -> HFModel | hf_generative.HFGenerativeModel:
    from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoTokenizer

    spec = f"hf:{rest}"
    if hf_generative.is_generative_dir(rest):
        return hf_generative.load(rest, device=device, dtype=dtype, spec=spec)
    source = resolve(rest)
    where = "directory" if Path(source).is_dir() else "local Hugging Face cache (nothing is downloaded)"
    try:
        config = AutoConfig.from_pretrained(source, local_files_only=True)
    except Exception as exc:
        raise load_error(spec, f"no model config found in the {where}", exc) from exc
    try:
        model, info = AutoModel.from_pretrained(source, local_files_only=True, dtype=dtype,
                                                output_loading_info=True)
    except Exception as exc:
        raise load_error(spec, f"cannot load weights from the {where}", exc) from exc
    if info.get("missing_keys"):
        missing = sorted(info["missing_keys"])
        raise load_error(spec, f"checkpoint lacks {len(missing)} weights (e.g. {missing[0]}); refusing to "
                               "evaluate randomly initialised layers")
    if not (hasattr(model, "get_image_features") and hasattr(model, "get_text_features")):
        raise load_error(spec, f"{type(model).__name__} is not an image-text dual encoder")
    try:
        processor = AutoImageProcessor.from_pretrained(source, local_files_only=True, backend="pil")
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    except Exception as exc:
        raise load_error(spec, f"cannot load the image processor/tokenizer from the {where}", exc) from exc
    vocab = getattr(config.get_text_config(), "vocab_size", None)
    if vocab and 2 * len(tokenizer) < vocab:
        # transformers 5 builds an (almost) empty tokenizer when the files are missing, instead of failing
        raise load_error(spec, f"tokenizer has {len(tokenizer)} tokens for a {vocab}-token text model; "
                               "are the tokenizer files missing?")
    family = family_of(config.model_type)
    try:
        text = text_settings(family, tokenizer, config.get_text_config())
    except ValueError as exc:
        raise load_error(spec, "cannot configure text tokenization", exc) from exc
    preprocessing = preprocessing_from_processor(processor.to_dict(), spec)
    model = model.to(device).eval()
    return HFModel(spec, model, tokenizer, preprocessing, text, family, device, dtype)
