"""`builtin:NAME` backend: dual encoders trained by vlmaudit itself, weights shipped in the package.

`builtin:scenes` reads `vlmaudit/weights/scenes.safetensors` (fp32 state dict) and `scenes.json`
(architecture, vocabulary, mean/std, weights hash, provenance). `builtin:PATH` loads a model
written by `vlmaudit train builtin` (PATH = the `.safetensors` file or its run directory), so a
retrained model can be audited without installing it. The loader checks the weights against the
hash in the JSON, so a corrupted or mismatched file fails loudly instead of auditing garbage.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from vlmaudit.errors import ModelLoadError
from vlmaudit.models.base import ImageTextModel, Preprocessing, hash_state_dict
from vlmaudit.models.builtin_arch import DualEncoder, DualEncoderConfig

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
CPU = torch.device("cpu")
FORMAT = "vlmaudit-builtin-1"
RUN_FILE = "model.safetensors"  # what `vlmaudit train builtin` writes into its run directory


class BuiltinModel(ImageTextModel):
    """The audit interface around a `DualEncoder`; squash resize so any aspect ratio works."""

    def __init__(self, module: DualEncoder, spec: str, weights_hash: str,
                 device: torch.device = CPU, dtype: torch.dtype = torch.float32) -> None:
        cfg = module.config
        self.spec = spec
        self.weights_hash = weights_hash
        self.preprocessing = Preprocessing(cfg.image_size, cfg.mean, cfg.std, "squash", "bicubic")
        self.device, self.dtype = device, dtype
        self.module = module.to(device=device, dtype=dtype).eval().requires_grad_(False)
        self.logit_scale = float(module.logit_scale.float().exp())
        bias = getattr(module, "logit_bias", None)
        self.logit_bias = float(bias) if bias is not None else None
        blob = json.dumps(cfg.to_dict(), sort_keys=True).encode()
        self._config_hash = hashlib.sha256(blob).hexdigest()[:16]

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.module.encode_images(pixels.to(self.device))

    def image_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.module.image_tokens(pixels.to(self.device))

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Ids padded to the full context, so every text forward has one shape and a caption's row
        never depends on the captions sharing its batch (see engine/core.py); the tower is causal
        and pooled at `<eos>`, so the padding changes no value beyond the last bits."""
        # one string is one text, as the hf and openclip tokenizers read it (list() would split characters)
        ids = self.module.tokenizer([texts] if isinstance(texts, str) else list(texts), full_context=True)
        return self.module.encode_texts(ids)

    def text_keys(self, texts: list[str]) -> list[str]:
        tokenizer = self.module.tokenizer
        return ["ids:" + ",".join(map(str, tokenizer.ids(text))) for text in texts]

    def fingerprint_extra(self) -> dict:
        return {"tokenizer": "word", "config_hash": self._config_hash}


def shipped_models() -> dict[str, str]:
    """Shipped names -> one-line summary (from their JSON record, without loading weights)."""
    rows = {}
    for config in sorted(WEIGHTS_DIR.glob("*.json")):
        record = json.loads(config.read_text())
        arch = record.get("arch", {})
        if record.get("family") == "generative":
            rows[config.stem] = (f"generative: builtin:scenes's frozen image tower "
                                 f"({arch.get('image_input')} tokens) + a {arch.get('depth')}-layer decoder, "
                                 f"width {arch.get('width')}; "
                                 f"weights {record.get('weights_hash', '?')[:8]}")
            continue
        rows[config.stem] = (
            f"{arch.get('image_size')} px conv+ViT image tower, {arch.get('text_depth')}-layer text "
            f"transformer, {len(arch.get('vocab', []))}-word vocab, dim {arch.get('embed_dim')}; "
            f"weights {record.get('weights_hash', '?')[:8]}"
        )
    return rows


def resolve_paths(name: str) -> tuple[Path, Path]:
    """(weights, config) for a shipped name or a path to a trained model / its run directory."""
    if "/" in name or name.endswith(".safetensors"):
        path = Path(name).expanduser()
        weights = path / RUN_FILE if path.is_dir() else path
    else:
        weights = WEIGHTS_DIR / f"{name}.safetensors"
    return weights, weights.with_suffix(".json")


def resolve(name: str) -> tuple[Path, Path]:
    """(weights, config) of `builtin:NAME`, both present, found without loading them."""
    weights, config = resolve_paths(name)
    if not weights.is_file() or not config.is_file():
        shipped = sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))
        raise ModelLoadError(
            f"builtin model {name!r}: need {weights} and {config} (shipped: {', '.join(shipped) or 'none'})"
        )
    return weights, config


def load_module(name: str) -> tuple[DualEncoder, dict]:
    """The fp32 `DualEncoder` and its JSON record; raises ModelLoadError on anything missing or wrong."""
    weights, config = resolve(name)
    try:
        record = json.loads(config.read_text())
        if record.get("format") != FORMAT:
            raise ValueError(f"format is {record.get('format')!r}, expected {FORMAT!r}")
        module = DualEncoder(DualEncoderConfig.from_dict(record["arch"]))
        state = load_file(str(weights))
        module.load_state_dict(state)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        raise ModelLoadError(f"builtin model {name!r} ({weights}): {err}") from None
    actual = hash_state_dict(state)
    if actual != record.get("weights_hash"):
        raise ModelLoadError(
            f"{weights} has weights hash {actual}, but {config} says {record.get('weights_hash')}"
        )
    return module.eval(), record


def load(name: str, device: torch.device = CPU, dtype: torch.dtype = torch.float32):
    """Backend entry point (`builtin:NAME`), registered in `vlmaudit.registry`: a dual encoder, or a
    generative model when the record says so (`builtin:scenes-gen`)."""
    weights, config = resolve(name)
    try:
        record = json.loads(config.read_text())
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"builtin model {name!r} ({config}): {err}") from None
    if record.get("family") == "generative":
        from vlmaudit.models.builtin_generative import load_generative

        return load_generative(name, weights, record, device, dtype)
    module, record = load_module(name)
    return BuiltinModel(module, f"builtin:{name}", record["weights_hash"], device, dtype)


def save_module(module: DualEncoder, weights: Path, provenance: dict | None = None) -> str:
    """Write `weights` (fp32 safetensors) and its `.json` record; returns the weights hash."""
    state = {k: (v.float() if v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in module.state_dict().items()}
    digest = hash_state_dict(state)
    record = {"format": FORMAT, "arch": module.config.to_dict(), "weights_hash": digest,
              "provenance": provenance or {}}
    weights.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(weights), metadata={"weights_hash": digest})
    weights.with_suffix(".json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return digest
