"""Tiny, seeded, offline models for tests: Hugging Face dirs and open_clip checkpoints.

Every builder writes into a directory the test owns (tmp_path) and returns the model spec that
loads it (`vlmaudit.load_model(spec)`). Weights are random but deterministic (fixed seed, global
RNG state left untouched), so two calls give identical files. Tokenizers use the real CLIP BPE
vocabulary shipped inside open_clip, so captions tokenize exactly as on a released CLIP.
"""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path

import torch

TINY_IMAGE = 32
TINY_PATCH = 8
CLIP_VOCAB = 49408
TINY_OPENCLIP_ARCH = "vlmaudit-tiny-openclip"


@lru_cache(maxsize=1)
def clip_bpe() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """open_clip's BPE file as (vocab, merges) in the layout HF's CLIPTokenizer expects.

    Mirrors open_clip's SimpleTokenizer: bytes, bytes + "</w>", the first 48,894 merges, then the
    two specials (HF spells them <|startoftext|>/<|endoftext|>, ids 49406/49407 as in open_clip).
    """
    from open_clip.tokenizer import bytes_to_unicode, default_bpe

    with gzip.open(default_bpe()) as handle:
        lines = handle.read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    base = list(bytes_to_unicode().values())
    tokens = [*base, *(b + "</w>" for b in base), *("".join(m) for m in merges)]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def clip_tokenizer(model_max_length: int = 77):
    """A transformers CLIPTokenizer built offline from open_clip's vocabulary."""
    from transformers import CLIPTokenizer

    vocab, merges = clip_bpe()
    return CLIPTokenizer(vocab=dict(vocab), merges=list(merges), model_max_length=model_max_length)


def _seeded(build, seed: int = 0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _tiny_towers(max_positions: int) -> tuple[dict, dict]:
    text = {"vocab_size": CLIP_VOCAB, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 2, "max_position_embeddings": max_positions}
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
              "image_size": TINY_IMAGE, "patch_size": TINY_PATCH}
    return text, vision


def make_tiny_hf_clip(path: str | Path, seed: int = 0) -> str:
    """A 2-layer, width-32 CLIPModel (32 px images, patch 8, 16-d joint space) saved as an HF dir."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    path = Path(path)
    text, vision = _tiny_towers(77)
    text.update(bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)
    _seeded(lambda: CLIPModel(config), seed).save_pretrained(path)
    CLIPImageProcessor(size={"shortest_edge": TINY_IMAGE},
                       crop_size={"height": TINY_IMAGE, "width": TINY_IMAGE}).save_pretrained(path)
    clip_tokenizer(77).save_pretrained(path)
    return f"hf:{path}"


def make_tiny_hf_siglip(path: str | Path, seed: int = 0) -> str:
    """A 2-layer, width-32 SiglipModel (32 px, patch 8, text length 64) saved as an HF dir.

    SigLIP's text tower pools the LAST position, so it is padding-sensitive by design; the
    tokenizer is CLIP BPE (sentencepiece is not installed) with model_max_length 64 as on the hub.
    """
    from transformers import (
        SiglipConfig,
        SiglipImageProcessor,
        SiglipModel,
        SiglipTextConfig,
        SiglipVisionConfig,
    )

    path = Path(path)
    text, vision = _tiny_towers(64)
    text.update(bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
    config = SiglipConfig(text_config=SiglipTextConfig(**text), vision_config=SiglipVisionConfig(**vision))
    _seeded(lambda: SiglipModel(config), seed).save_pretrained(path)
    SiglipImageProcessor(size={"height": TINY_IMAGE, "width": TINY_IMAGE}).save_pretrained(path)
    clip_tokenizer(64).save_pretrained(path)
    return f"hf:{path}"


def make_hf_clip_b32(path: str | Path, seed: int = 0) -> str:
    """A ViT-B/32-sized CLIPModel (default CLIPConfig dims, 224 px), random weights, real BPE."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    path = Path(path)
    _seeded(lambda: CLIPModel(CLIPConfig()), seed).save_pretrained(path)
    CLIPImageProcessor().save_pretrained(path)
    clip_tokenizer(77).save_pretrained(path)
    return f"hf:{path}"


def tiny_openclip_config() -> dict:
    return {
        "embed_dim": 16,
        "vision_cfg": {"image_size": TINY_IMAGE, "layers": 2, "width": 64, "head_width": 32,
                       "patch_size": TINY_PATCH},
        "text_cfg": {"context_length": 77, "vocab_size": CLIP_VOCAB, "width": 64, "heads": 2, "layers": 2},
    }


def register_tiny_openclip(path: str | Path) -> str:
    """Register the tiny architecture with open_clip (process-global) and return its name."""
    import open_clip

    config_dir = Path(path) / "openclip_configs"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / f"{TINY_OPENCLIP_ARCH}.json").write_text(json.dumps(tiny_openclip_config()))
    if TINY_OPENCLIP_ARCH not in open_clip.list_models():
        open_clip.add_model_config(config_dir)
    return TINY_OPENCLIP_ARCH


def make_tiny_openclip(path: str | Path, seed: int = 0, arch: str | None = None,
                       filename: str = "tiny.pt") -> str:
    """Random open_clip weights saved as a checkpoint; returns "openclip:ARCH:CHECKPOINT".

    Default is the registered tiny architecture (2 layers, width 64, 32 px); pass `arch` (e.g.
    "ViT-B-32-quickgelu") for a real-sized model. `filename` picks the format: .pt/.bin use
    torch.save, .safetensors uses safetensors.
    """
    import open_clip

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    arch = arch or register_tiny_openclip(path)
    model = _seeded(lambda: open_clip.create_model(arch, pretrained=None), seed)
    checkpoint = path / filename
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if checkpoint.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(checkpoint))
    else:
        torch.save({"state_dict": state}, checkpoint)
    return f"openclip:{arch}:{checkpoint}"


def make_tiny_hf_siglip2(path: str | Path, seed: int = 0) -> str:
    """A 2-layer Siglip2Model (NaFlex: patch 8, max 16 patches, i.e. 32 px square) saved as an HF dir."""
    from transformers import (
        Siglip2Config,
        Siglip2ImageProcessor,
        Siglip2Model,
        Siglip2TextConfig,
        Siglip2VisionConfig,
    )

    path = Path(path)
    text, vision = _tiny_towers(64)
    text.update(bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
    vision = {k: v for k, v in vision.items() if k != "image_size"} | {"num_patches": 16}
    config = Siglip2Config(text_config=Siglip2TextConfig(**text), vision_config=Siglip2VisionConfig(**vision))
    _seeded(lambda: Siglip2Model(config), seed).save_pretrained(path)
    Siglip2ImageProcessor(patch_size=TINY_PATCH, max_num_patches=16).save_pretrained(path)
    clip_tokenizer(64).save_pretrained(path)
    return f"hf:{path}"


def fake_hub_snapshot(cache: str | Path, repo: str) -> Path:
    """An empty snapshot folder in the layout huggingface_hub's cache uses (refs/main -> revision).

    Write model files into the returned folder and point `huggingface_hub.constants.HF_HUB_CACHE`
    at `cache` to test loading hub names from the local cache without any network.
    """
    revision = "0" * 40
    folder = Path(cache) / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(revision)
    snapshot = folder / "snapshots" / revision
    snapshot.mkdir(parents=True, exist_ok=True)
    return snapshot
