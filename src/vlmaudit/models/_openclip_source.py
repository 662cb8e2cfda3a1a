"""Resolve `openclip:<arch>[:<tag or checkpoint>]` to a local weights file, preprocessing and activation.

open_clip would download a named tag on demand; we only look in the caches it downloads to (HF hub
cache, ~/.cache/clip), so an audit never touches the network. The activation is decided here too:
weights trained with QuickGELU (every OpenAI release, and the tags open_clip flags `quick_gelu`)
evaluated with a GELU architecture give a plausible but wrong model; since open_clip 2.29 this only
warns (compositionality.md §9.2), so we switch to QuickGELU and warn loudly instead.
"""

from __future__ import annotations

import difflib
import json
import os
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from vlmaudit.errors import SpecError
from vlmaudit.models._loading import load_error

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".npz")
_PREPROCESS_KEYS = ("mean", "std", "interpolation", "resize_mode")


@dataclass(frozen=True)
class Source:
    arch: str
    tag: str | None = None  # a pretrained tag from open_clip's registry
    checkpoint: str | None = None  # the local file the weights come from (tag resolved to a file too)
    quick_gelu: bool = False  # the weights were trained with QuickGELU
    preprocess: dict = field(default_factory=dict)  # overrides on open_clip's default preprocess cfg


def parse(rest: str, spec: str) -> Source:
    import open_clip

    arch, _, weights = rest.partition(":")
    arch = arch.strip().replace("/", "-")
    if not arch:
        raise SpecError(f"model spec {spec!r} must look like openclip:ARCH[:TAG_OR_CHECKPOINT]")
    if arch not in open_clip.list_models():
        close = difflib.get_close_matches(arch, open_clip.list_models(), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise SpecError(f"model spec {spec!r}: unknown open_clip architecture {arch!r}{hint}")
    if not weights:
        return Source(arch, preprocess=_arch_preprocess(arch))
    if _looks_like_path(weights):
        return _from_checkpoint(arch, weights, spec)
    return _from_tag(arch, weights, spec)


def _looks_like_path(weights: str) -> bool:
    return os.sep in weights or "/" in weights or weights.lower().endswith(CHECKPOINT_SUFFIXES)


def _from_checkpoint(arch: str, weights: str, spec: str) -> Source:
    path = Path(weights).expanduser()
    if not path.is_file():
        raise load_error(spec, f"checkpoint file not found: {weights}")
    sidecar = _sidecar_config(path)
    preprocess = {k: v for k, v in sidecar.get("preprocess_cfg", {}).items() if k in _PREPROCESS_KEYS}
    quick_gelu = bool(sidecar.get("model_cfg", {}).get("quick_gelu")) or _is_openai_checkpoint(path)
    return Source(arch, checkpoint=str(path), quick_gelu=quick_gelu,
                  preprocess=preprocess or _arch_preprocess(arch))


def _from_tag(arch: str, tag: str, spec: str) -> Source:
    import open_clip

    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if not cfg:
        known = ", ".join(open_clip.list_pretrained_tags_by_model(arch)) or "none"
        raise SpecError(f"model spec {spec!r}: {tag!r} is neither a pretrained tag of {arch} "
                        f"(known: {known}) nor a checkpoint file")
    checkpoint = cached_weights(cfg)
    if checkpoint is None:
        raise load_error(spec, f"weights for tag {tag!r} are not in the local cache (HF hub cache or "
                               "~/.cache/clip) and vlmaudit never downloads; fetch them first or pass a "
                               "checkpoint path")
    preprocess = {k: cfg[k] for k in _PREPROCESS_KEYS if k in cfg}
    return Source(arch, tag=tag, checkpoint=checkpoint, quick_gelu=bool(cfg.get("quick_gelu")),
                  preprocess=preprocess)


def cached_weights(cfg: dict) -> str | None:
    """The file open_clip would download for a pretrained cfg, if it is already on disk."""
    from huggingface_hub import try_to_load_from_cache

    if cfg.get("file") and os.path.isfile(cfg["file"]):
        return cfg["file"]
    if cfg.get("hf_hub"):
        repo, filename = os.path.split(cfg["hf_hub"])  # "org/repo/" means open_clip's default file name
        filename = filename or "open_clip_pytorch_model.bin"
        for name in (*_safe_alternatives(filename), filename):
            found = try_to_load_from_cache(repo, name)
            if isinstance(found, str):
                return found
    if cfg.get("url"):
        path = Path("~/.cache/clip").expanduser() / os.path.basename(cfg["url"])
        if path.is_file():
            return str(path)
    return None


def _safe_alternatives(filename: str) -> list[str]:
    if filename == "open_clip_pytorch_model.bin":
        return ["open_clip_model.safetensors"]
    stem, suffix = os.path.splitext(filename)
    return [stem + ".safetensors"] if suffix in (".bin", ".pth", ".pt") else []


def _arch_preprocess(arch: str) -> dict:
    """Preprocessing shared by every pretrained tag of `arch` (e.g. SigLIP's 0.5 mean + squash).

    open_clip applies a tag's preprocessing only when loading by tag; a bare checkpoint path would
    silently get OpenAI mean/std even on a SigLIP architecture. When all of the architecture's tags
    agree we use their settings; otherwise open_clip's defaults stand.
    """
    import open_clip

    cfgs = [open_clip.get_pretrained_cfg(arch, t) for t in open_clip.list_pretrained_tags_by_model(arch)]
    variants = {json.dumps({k: c.get(k) for k in _PREPROCESS_KEYS}, sort_keys=True) for c in cfgs}
    if len(variants) != 1:
        return {}
    return {k: v for k, v in json.loads(variants.pop()).items() if v is not None}


def _sidecar_config(path: Path) -> dict:
    """open_clip's `open_clip_config.json` (HF-hub / local-dir layout) beside the checkpoint, if any."""
    sidecar = path.parent / "open_clip_config.json"
    try:
        return json.loads(sidecar.read_text()) if sidecar.is_file() else {}
    except (OSError, ValueError):
        return {}


def is_torchscript(path: Path) -> bool:
    """OpenAI distributed CLIP as TorchScript archives (zip with <name>/code/); nobody else does."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())


def _is_openai_checkpoint(path: Path) -> bool:
    """OpenAI weights: "openai" in the file name or in an HF-cache repo folder (models--org--name.openai),
    or a TorchScript archive. Other folders are ignored, so a user's directory name cannot trigger it."""
    named = [path.name, *(part for part in path.parts if part.startswith("models--"))]
    return any("openai" in part.lower() for part in named) or is_torchscript(path)


def quick_gelu_switch(source: Source, spec: str) -> bool:
    """True when the model must be built with QuickGELU although `arch` says GELU (warns loudly)."""
    import open_clip

    arch_quick = bool(open_clip.get_model_config(source.arch).get("quick_gelu"))
    if not source.quick_gelu or arch_quick:
        return False
    warnings.warn(
        f"{spec}: these weights were trained with QuickGELU but architecture {source.arch!r} uses GELU; "
        f"loading with QuickGELU (as {source.arch}-quickgelu) so the model is not mis-activated. "
        "Name the -quickgelu architecture to make this explicit.",
        UserWarning,
        stacklevel=4,
    )
    return True
