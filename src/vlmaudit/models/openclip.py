"""`openclip:<arch>[:<pretrained tag or checkpoint path>]`: any architecture in open_clip's registry.

No tag means random weights (seed 0, so the spec stays reproducible); a tag is looked up in the
local caches only; a `.pt/.pth/.bin/.safetensors/.npz` path is loaded with open_clip's own
checkpoint loader (which handles safetensors, TorchScript and `module.` prefixes). QuickGELU policy:
weights trained with QuickGELU on a GELU architecture are switched to QuickGELU with a warning and
`quick_gelu_forced: true` in the fingerprint (see `_openclip_source`). Preprocessing comes from the
model's `visual.preprocess_cfg` and reproduces open_clip's torchvision transform pixel for pixel.
A text longer than the context is truncated by open_clip's own tokenizer, as CLIP does; the model
counts such texts, warns once, and reports them in `describe()` (the run's provenance).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from vlmaudit.data.source import fingerprint_of
from vlmaudit.models._loading import load_error, seeded
from vlmaudit.models._openclip_source import Source, is_torchscript, parse, quick_gelu_switch
from vlmaudit.models.base import ImageTextModel, Preprocessing, hash_state_dict


class OpenClipModel(ImageTextModel):
    """An open_clip model behind the audit interface; pixels in [0, 1], normalised inside."""

    def __init__(self, spec: str, model: nn.Module, tokenizer, source: Source, quick_gelu: bool,
                 forced: bool, device: torch.device, dtype: torch.dtype) -> None:
        self.spec = spec
        self.model = model
        self.tokenizer = tokenizer
        self.source = source
        self.quick_gelu = quick_gelu
        self.quick_gelu_forced = forced
        self.device = device
        self.dtype = dtype
        self.preprocessing = preprocessing_from_cfg(model.visual.preprocess_cfg, spec)
        self.weights_hash = hash_state_dict(model.state_dict())
        self.logit_scale = float(model.logit_scale.exp().item())
        bias = getattr(model, "logit_bias", None)
        self.logit_bias = float(bias.item()) if bias is not None else None
        self.truncated: dict[str, None] = {}  # every text cut to the context, in first-seen order
        import open_clip

        self._arch_config_hash = fingerprint_of(open_clip.get_model_config(source.arch))

    def fingerprint_extra(self) -> dict:
        """Beside weights and preprocessing: the activation actually built and the architecture's
        config (a re-registered arch of the same name, another context length or tokenizer)."""
        return {"backend": "openclip", "arch": self.source.arch, "pretrained": self.source.tag,
                "quick_gelu": self.quick_gelu, "quick_gelu_forced": self.quick_gelu_forced,
                "arch_config_hash": self._arch_config_hash}

    def _model_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.preprocessing.normalise(pixels.to(self.device, torch.float32)).to(self.dtype)

    def describe(self) -> dict:
        out = super().describe()
        if self.truncated:
            first = next(iter(self.truncated))
            out["text_truncation"] = {"context_length": getattr(self.tokenizer, "context_length", None),
                                      "texts_truncated": len(self.truncated), "first": first[:200]}
        return out

    def _ids(self, texts: list[str]) -> torch.Tensor:
        ids = self.tokenizer(list(texts))
        self._note_truncation(list(texts), ids)
        return ids.to(self.device)

    def _note_truncation(self, texts: list[str], ids: torch.Tensor) -> None:
        """Record texts the tokenizer cut to its context length (it truncates, keeping the end token).

        Only a row that fills the context can have been cut; those are tokenized once more with one
        position to spare, which differs from the first row exactly when text was dropped.
        """
        if getattr(self.tokenizer, "reduction_fn", None) is not None:
            return  # CLIPA-style token sampling draws from the RNG: a second call would differ anyway
        context = ids.shape[1]
        pad = self.tokenizer([""])[0, -1]
        full = [i for i in range(len(texts)) if ids[i, -1] != pad]
        if not full:
            return
        wider = self.tokenizer([texts[i] for i in full], context_length=context + 1)
        cut = [texts[i] for row, i in enumerate(full) if not torch.equal(wider[row, :context], ids[i])]
        if cut and not self.truncated:  # say so once, where the user looks; provenance has the count
            warnings.warn(f"{self.spec}: texts longer than the {context}-token context are truncated, as "
                          f"open_clip's tokenizer does (first: {cut[0][:60]!r}...)", UserWarning,
                          stacklevel=3)
        self.truncated.update(dict.fromkeys(cut))

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(self._model_pixels(pixels))

    def text_keys(self, texts: list[str]) -> list[str]:
        return ["ids:" + ",".join(map(str, row.tolist())) for row in self.tokenizer(list(texts))]

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        return self.model.encode_text(self._ids(texts))

    def image_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """Patch tokens after ln_post, through the visual projection (standard open_clip ViTs)."""
        from open_clip.transformer import VisionTransformer

        visual = self.model.visual
        plain = isinstance(visual, VisionTransformer) and visual.attn_pool is None
        if not plain or visual.final_ln_after_pool or visual.pool_type != "tok":
            return super().image_tokens(pixels)
        with _output_tokens(visual):
            _, tokens = visual(self._model_pixels(pixels))
        return tokens @ visual.proj if visual.proj is not None else tokens

    def text_tokens(self, texts: list[str]) -> torch.Tensor:
        """[M, context_length, D]: every position after ln_final through the text projection."""
        from open_clip.model import CLIP
        from open_clip.transformer import TextTransformer

        ids = self._ids(texts)
        if isinstance(self.model, CLIP):
            hidden = _clip_text_hidden(self.model, ids)
            projection = self.model.text_projection
        elif isinstance(text := getattr(self.model, "text", None), TextTransformer) and text.cls_emb is None:
            with _output_tokens(text):
                _, hidden = text(ids)
            projection = text.text_projection
        else:
            return super().text_tokens(texts)
        if projection is None:
            return hidden
        return projection(hidden) if isinstance(projection, nn.Linear) else hidden @ projection


def _clip_text_hidden(model, ids: torch.Tensor) -> torch.Tensor:
    """open_clip `CLIP.encode_text` up to (and including) ln_final, before pooling."""
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(ids).to(cast) + model.positional_embedding.to(cast)
    return model.ln_final(model.transformer(x, attn_mask=model.attn_mask))


@contextmanager
def _quiet_random_init_log() -> Iterator[None]:
    """open_clip logs "initialized randomly" on the root logger before we load the checkpoint."""
    def keep(record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


@contextmanager
def _output_tokens(module: nn.Module) -> Iterator[None]:
    previous = module.output_tokens
    module.output_tokens = True
    try:
        yield
    finally:
        module.output_tokens = previous


def preprocessing_from_cfg(cfg: dict, spec: str) -> Preprocessing:
    size = cfg["size"]
    if isinstance(size, list | tuple):
        if len(set(size)) != 1:
            raise load_error(spec, f"non-square image size {tuple(size)} is not supported")
        size = size[0]
    if cfg.get("resize_mode", "shortest") not in ("shortest", "squash"):
        raise load_error(spec, f"resize_mode {cfg['resize_mode']!r} is not supported (shortest or squash)")
    if cfg.get("interpolation", "bicubic") not in ("bicubic", "bilinear", "nearest"):
        raise load_error(spec, f"interpolation {cfg['interpolation']!r} is not supported")
    return Preprocessing(int(size), tuple(cfg["mean"]), tuple(cfg["std"]),
                                  cfg.get("resize_mode", "shortest"), cfg.get("interpolation", "bicubic"),
                                  crop_offset="round")


def _tokenizer(arch: str, spec: str):
    import open_clip

    text_cfg = (open_clip.get_model_config(arch) or {}).get("text_cfg", {})
    offline = {"local_files_only": True} if "hf_tokenizer_name" in text_cfg else {}
    try:
        return open_clip.get_tokenizer(arch, **offline)
    except Exception as exc:
        raise load_error(spec, f"cannot build the tokenizer of {arch} offline", exc) from exc


def resolve(rest: str) -> Source:
    """Architecture, weights file and preprocessing of `openclip:REST`, found without loading weights."""
    return parse(rest, f"openclip:{rest}")


def load(rest: str, *, device: torch.device, dtype: torch.dtype) -> OpenClipModel:
    import open_clip

    spec = f"openclip:{rest}"
    source = resolve(rest)
    forced = quick_gelu_switch(source, spec)
    arch_quick = bool(open_clip.get_model_config(source.arch).get("quick_gelu"))

    def build() -> nn.Module:
        return open_clip.create_model(source.arch, pretrained=None, force_quick_gelu=forced,
                                      force_preprocess_cfg=source.preprocess, pretrained_text=False)

    try:
        with _quiet_random_init_log():
            model = seeded(build)
    except Exception as exc:
        raise load_error(spec, f"cannot build open_clip architecture {source.arch}", exc) from exc
    if source.checkpoint is None:
        warnings.warn(f"{spec}: no pretrained tag or checkpoint given; using random weights (seed 0)",
                      UserWarning, stacklevel=2)
    else:
        try:
            # TorchScript (OpenAI's format) cannot go through weights_only; torch.load hands it to jit.load.
            weights_only = not is_torchscript(Path(source.checkpoint))
            open_clip.load_checkpoint(model, source.checkpoint, strict=True, weights_only=weights_only)
        except Exception as exc:
            raise load_error(spec, f"cannot load checkpoint {source.checkpoint}", exc) from exc
    tokenizer = _tokenizer(source.arch, spec)
    model = model.to(device=device, dtype=dtype).eval()
    return OpenClipModel(spec, model, tokenizer, source, arch_quick or forced, forced, device, dtype)
