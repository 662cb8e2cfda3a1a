"""The built-in generative model's architecture: the built-in CLIP's image tower, LLaVA-style.

The frozen image tower of `builtin:scenes` (exactly its shipped weights) turns 64x64 pixels into
65 tokens (CLS + the 8x8 grid, after its last LayerNorm); a two-layer MLP projector maps them to the
decoder's width; a small causal decoder reads `[image tokens] <bos> prompt <sep> answer` with learned
absolute positions over the whole sequence (as an LLM's positions cover LLaVA's image tokens, so
every image token's place in the grid is known to the decoder). The `cls` ablation (Li et al.'s
[CLS]-only LLaVA) feeds the pooled tower output only: one token instead of 65.

The decoder takes a KV cache, so an image and prompt are encoded once and every candidate answer
is scored against the cached prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Literal

import torch
from torch import nn

from vlmaudit.models.builtin_arch import DualEncoderConfig, ImageTower
from vlmaudit.models.tokenizer import SPECIALS, WordTokenizer, normalise

ImageInput = Literal["patch", "cls"]
# words of the prompts the model is trained on, beyond the scene grammar's own
PROMPT_WORDS = ("describe", "image", "does", "this", "figure", "show", "please", "answer", "yes", "or",
                "what", "colour", "shape", "background", "size")
KV = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class GenerativeConfig:
    """Everything needed to rebuild the module; stored as JSON next to the weights."""

    vocab: tuple[str, ...]
    tower: dict  # DualEncoderConfig.to_dict() of the frozen tower's model
    image_input: ImageInput = "patch"
    # which of the tower's token maps: "final" (after its transformer block and LayerNorm) or "stem"
    # (the conv grid + position embeddings, before the block: strictly local features)
    tower_layer: Literal["final", "stem"] = "final"
    merge: int = 2  # patch input: k x k neighbouring grid tokens concatenated into one (pixel shuffle)
    context: int = 48  # prompt + answer word tokens, specials included
    width: int = 128
    depth: int = 3
    heads: int = 4
    mlp_ratio: int = 4

    def __post_init__(self) -> None:
        if self.image_input not in ("patch", "cls"):
            raise ValueError(f"image_input must be 'patch' or 'cls', got {self.image_input!r}")
        if self.tower_layer not in ("final", "stem"):
            raise ValueError(f"tower_layer must be 'final' or 'stem', got {self.tower_layer!r}")
        if self.tower_config.grid % self.merge:
            raise ValueError(f"merge {self.merge} does not divide the tower grid {self.tower_config.grid}")

    @property
    def tower_config(self) -> DualEncoderConfig:
        return DualEncoderConfig.from_dict(self.tower)

    @property
    def image_length(self) -> int:
        return 1 + (self.tower_config.grid // self.merge) ** 2 if self.image_input == "patch" else 1

    @property
    def feature_width(self) -> int:
        width = self.tower_config.conv_channels[-1]
        return width * self.merge ** 2 if self.image_input == "patch" else width

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GenerativeConfig:
        known = {f.name for f in fields(cls)}
        if unknown := set(data) - known:
            raise ValueError(f"unknown config keys {sorted(unknown)}")
        return cls(**{**data, "vocab": tuple(data["vocab"])})


class DecoderBlock(nn.Module):
    """Pre-LN causal block with an optional KV cache (the built-in towers' layout, written out)."""

    def __init__(self, width: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        hidden = mlp_ratio * width
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, past: KV | None = None) -> tuple[torch.Tensor, KV]:
        """x [N, T, W]; mask [N or 1, T, P + T] True where attention is allowed; past K/V [N, H, P, d]."""
        n, t, w = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(n, t, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        scores = (q @ k.transpose(-1, -2)) * (w // self.heads) ** -0.5
        scores = scores.masked_fill(~mask[:, None], float("-inf"))
        attn = scores.softmax(dim=-1) @ v
        x = x + self.out(attn.transpose(1, 2).reshape(n, t, w))
        return x + self.mlp(self.ln2(x)), (k, v)


class CaptionDecoder(nn.Module):
    """Frozen built-in image tower -> projector -> causal word decoder."""

    def __init__(self, cfg: GenerativeConfig) -> None:
        super().__init__()
        self.config = cfg
        tower_cfg = cfg.tower_config
        self.tokenizer = WordTokenizer(cfg.vocab, cfg.context)
        self.sep_id = len(self.tokenizer)  # one id past the words: no typed text can produce it
        self.vocab_size = self.sep_id + 1
        self.tower = ImageTower(tower_cfg).requires_grad_(False)
        self.register_buffer("mean", torch.tensor(tower_cfg.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(tower_cfg.std).view(1, 3, 1, 1), persistent=False)
        self.projector = nn.Sequential(nn.Linear(cfg.feature_width, cfg.width), nn.GELU(),
                                       nn.Linear(cfg.width, cfg.width))
        self.embed = nn.Embedding(self.vocab_size, cfg.width)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.pos = nn.Parameter(torch.randn(1, cfg.image_length + cfg.context, cfg.width) * 0.01)
        self.blocks = nn.ModuleList(DecoderBlock(cfg.width, cfg.heads, cfg.mlp_ratio)
                                    for _ in range(cfg.depth))
        self.ln = nn.LayerNorm(cfg.width)
        self.head = nn.Linear(cfg.width, self.vocab_size, bias=False)
        self.head.weight = self.embed.weight  # tied, as in most small LMs

    def train(self, mode: bool = True) -> CaptionDecoder:
        super().train(mode)
        self.tower.eval()  # frozen: its BatchNorm statistics are the shipped ones, always
        return self

    # -- inputs -------------------------------------------------------------------------------------
    @torch.no_grad()
    def visual_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """[N, image_length, feature_width] from the frozen tower, before the (trained) projector.

        patch: CLS, then the grid with each k x k block of tokens concatenated (Idefics3's pixel
        shuffle: every number of the 8x8 grid is kept, in a 4x4 sequence at k = 2); cls: CLS only.
        """
        x = (pixels.to(self.mean.dtype) - self.mean) / self.std
        if self.config.tower_layer == "final":
            tokens = self.tower.tokens(x)
        else:
            grid = self.tower.stem(x).flatten(2).transpose(1, 2)
            tokens = torch.cat([self.tower.cls.expand(grid.shape[0], -1, -1), grid], dim=1) + self.tower.pos
        if self.config.image_input == "cls":
            return tokens[:, :1]
        n, _, c = tokens.shape
        g, k = self.config.tower_config.grid, self.config.merge
        grid = tokens[:, 1:].reshape(n, g // k, k, g // k, k, c).permute(0, 1, 3, 2, 4, 5)
        grid = grid.reshape(n, (g // k) ** 2, k * k * c)
        cls = torch.cat([tokens[:, :1], tokens.new_zeros(n, 1, k * k * c - c)], dim=2)
        return torch.cat([cls, grid], dim=1)

    def prompt_ids(self, prompt: str) -> list[int]:
        """`<bos> prompt words <sep>`: the text part of the prefix."""
        return [self.tokenizer.bos_id, *self.word_ids(prompt), self.sep_id]

    def word_ids(self, text: str) -> list[int]:
        tok = self.tokenizer
        return [tok.index.get(word, tok.unk_id) for word in normalise(text)]

    def decode(self, ids: Sequence[int]) -> str:
        vocab = self.tokenizer.vocab
        return " ".join(vocab[i] for i in ids if i < len(vocab) and vocab[i] not in SPECIALS)

    # -- the decoder ---------------------------------------------------------------------------------
    def run(self, x: torch.Tensor, offset: int | torch.Tensor, valid: torch.Tensor,
            past: list[KV] | None = None,
            layers: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, list[KV]]:
        """Decoder over states x [N, T, W] at positions offset.. (one int, or [N] per row), after `past`
        (P cached positions).

        valid [N, P + T] marks real (non-padding) positions; padding is never attended to.
        Returns the final normalised states and the K/V of past + x for every block; `layers`, if
        given, receives the input and every block's output (for probes).
        """
        t = x.shape[1]
        p = past[0][0].shape[2] if past else 0
        if isinstance(offset, int):
            x = x + self.pos[:, offset : offset + t]
        else:
            x = x + self.pos[0, offset[:, None] + torch.arange(t, device=x.device)]
        causal = torch.ones(t, p + t, dtype=torch.bool, device=x.device).tril(p)
        mask = causal[None] & valid[:, None, :]
        own = torch.zeros(t, p + t, dtype=torch.bool, device=x.device)
        own[torch.arange(t), p + torch.arange(t)] = True
        mask = mask | own[None]  # a padding row attends to itself (no all -inf row, no NaN)
        cache = []
        if layers is not None:
            layers.append(x)
        for i, block in enumerate(self.blocks):
            x, kv = block(x, mask, past[i] if past else None)
            cache.append(kv)
            if layers is not None:
                layers.append(x)
        return self.ln(x), cache

    def logits(self, states: torch.Tensor) -> torch.Tensor:
        return self.head(states).float()

    def forward(self, features: torch.Tensor, ids: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Training forward from `visual_features`: [N, L, V] logits at every text position; ids [N, L]
        right-padded, valid [N, L]."""
        image = self.projector(features)
        x = torch.cat([image, self.embed(ids)], dim=1)
        full = torch.cat([valid.new_ones(image.shape[:2]), valid], dim=1)
        states, _ = self.run(x, 0, full)
        return self.logits(states[:, image.shape[1]:])


def count_trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
