"""Recipe of the built-in generative model (`builtin:scenes-gen`, and its `-cls` ablation).

The image tower is `builtin:scenes`'s, loaded from the shipped weights and frozen (its hash is
checked and recorded, so "the same vision encoder" is literally true); projector and decoder are
trained from `torch.manual_seed(seed)` on the instruction stream `seed` (generative_data.py) with
next-token cross-entropy on the answer tokens only (LLaVA's convention: prompts are not learned),
AdamW, warmup + cosine by step, bf16 autocast. Batches come from a one-worker DataLoader over step
indices (rendering runs beside the training step), each a function of (seed, step) alone.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from vlmaudit.data.scenes import GENERATOR_VERSION, VOCABULARY
from vlmaudit.errors import SpecError
from vlmaudit.models.base import hash_state_dict
from vlmaudit.models.builtin import WEIGHTS_DIR
from vlmaudit.models.builtin import resolve as resolve_builtin
from vlmaudit.models.builtin_gen_arch import PROMPT_WORDS, CaptionDecoder, GenerativeConfig
from vlmaudit.train.evaluate import HELDOUT_SEED
from vlmaudit.train.generative_data import InstructionBatches
from vlmaudit.train.schedule import warmup_cosine

GEN_FORMAT = "vlmaudit-builtin-generative-1"
PRESETS: dict[str, dict] = {"scenes": {}, "tiny": {"width": 32, "depth": 1, "heads": 2, "mlp_ratio": 2}}


@dataclass(frozen=True)
class GenerativeRecipe:
    tower: str = "scenes"  # the builtin dual encoder whose image tower is reused, frozen
    image_input: str = "patch"  # "cls": the [CLS]-only ablation
    tower_layer: str = "final"  # "stem": the tower's local conv tokens instead of its final ones
    relation_weight: float = 1.0  # loss weight of the relation words' targets (left/right/above/below)
    preset: str = "scenes"
    steps: int = 3000
    batch_size: int = 128
    seed: int = 0
    lr: float = 1e-3
    warmup: float = 0.03
    weight_decay: float = 0.05
    bf16: bool = False  # bf16 autocast ran 7x slower than fp32 on this machine's CPU (no native bf16)

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise SpecError(f"unknown preset {self.preset!r} (known: {', '.join(PRESETS)})")
        if self.image_input not in ("patch", "cls"):
            raise SpecError(f"image_input must be patch or cls, got {self.image_input!r}")
        if self.seed == HELDOUT_SEED:
            raise SpecError(f"seed {HELDOUT_SEED} is the held-out evaluation stream; train with another seed")

    def to_dict(self) -> dict:
        return asdict(self)


def tower_state(name: str) -> tuple[dict, dict[str, torch.Tensor], str]:
    """(tower arch dict, image-tower tensors renamed for CaptionDecoder.tower, their hash)."""
    weights, config = resolve_builtin(name)
    record = json.loads(config.read_text())
    state = {k.removeprefix("image."): v for k, v in load_file(str(weights)).items()
             if k.startswith("image.")}
    return record["arch"], state, hash_state_dict(state)


def build_model(recipe: GenerativeRecipe) -> tuple[CaptionDecoder, str]:
    arch, state, digest = tower_state(recipe.tower)
    config = GenerativeConfig(vocab=tuple(dict.fromkeys([*VOCABULARY, *PROMPT_WORDS])), tower=arch,
                              image_input=recipe.image_input, tower_layer=recipe.tower_layer,
                              **PRESETS[recipe.preset])  # type: ignore[arg-type]
    torch.manual_seed(recipe.seed)
    model = CaptionDecoder(config)
    model.tower.load_state_dict(state)
    return model, digest


def encode_rows(model: CaptionDecoder, prompts: list[str], answers: list[str]
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ids [B, L] right-padded, valid [B, L], targets [B, L] with -100 off the answer + <eos>)."""
    tok = model.tokenizer
    rows, starts = [], []
    for prompt, answer in zip(prompts, answers, strict=True):
        head = model.prompt_ids(prompt)
        rows.append((head + model.word_ids(answer) + [tok.eos_id])[: model.config.context])
        starts.append(len(head))
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), tok.pad_id, dtype=torch.long)
    targets = torch.full((len(rows), width), -100, dtype=torch.long)
    for r, (row, start) in enumerate(zip(rows, starts, strict=True)):
        ids[r, : len(row)] = torch.tensor(row)
        targets[r, start - 1 : len(row) - 1] = torch.tensor(row[start:])  # position j predicts token j + 1
    return ids, ids != tok.pad_id, targets


RELATION_WORDS = ("left", "right", "above", "below", "beneath")


def weighted_loss(logits: torch.Tensor, targets: torch.Tensor, relation_ids: torch.Tensor,
                  relation_weight: float) -> torch.Tensor:
    """Token-mean cross-entropy on the answer; relation-word targets count `relation_weight` times
    (1.0: plain next-token loss). The relation word is one target in a dozen of a caption, which is
    where a small decoder learns it last."""
    flat = targets.flatten()
    per_token = F.cross_entropy(logits.float().flatten(0, 1), flat, ignore_index=-100, reduction="none")
    weight = (flat != -100).float()
    if relation_weight != 1.0:
        weight = torch.where(torch.isin(flat, relation_ids), weight * relation_weight, weight)
    return (per_token * weight).sum() / weight.sum()


class _Steps(torch.utils.data.Dataset):
    """Step i -> (frozen-tower features, prompts, answers), computed in the loader's worker: the
    render and the tower forward overlap the decoder's training step."""

    def __init__(self, source: InstructionBatches, model: CaptionDecoder, start: int, stop: int) -> None:
        self.source, self.model, self.start, self.stop = source, model, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, i: int) -> tuple[torch.Tensor, list[str], list[str]]:
        torch.set_num_threads(1)
        batch = self.source(self.start + i)
        return self.model.visual_features(batch.pixels), batch.prompts, batch.answers


def train_generative(recipe: GenerativeRecipe, out_dir: Path, *, threads: int = 1,
                     progress: bool = True, log_every: int = 50) -> tuple[str, Path]:
    """Train and write `out_dir/model.safetensors` + `.json`; returns (weights hash, path)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    model, tower_hash = build_model(recipe)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    rest = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay},
                                   {"params": rest, "weight_decay": 0.0}], lr=recipe.lr, betas=(0.9, 0.98),
                                  eps=1e-6)
    source = InstructionBatches(recipe.seed, recipe.batch_size)
    loader = torch.utils.data.DataLoader(_Steps(source, model, 0, recipe.steps), batch_size=None,
                                         num_workers=1, prefetch_factor=4)
    warmup = max(1, round(recipe.warmup * recipe.steps))
    relation_ids = torch.tensor([model.tokenizer.index[w] for w in RELATION_WORDS])
    losses: list[tuple[int, float]] = []
    started = time.perf_counter()
    with tqdm(total=recipe.steps, disable=not progress, desc="train generative") as bar:
        for step, (features, prompts, answers) in enumerate(loader):
            lr = warmup_cosine(step, recipe.steps, warmup, recipe.lr)
            for group in optimizer.param_groups:
                group["lr"] = lr
            ids, valid, targets = encode_rows(model, prompts, answers)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=recipe.bf16):
                logits = model(features, ids, valid)
            loss = weighted_loss(logits, targets, relation_ids, recipe.relation_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step % log_every == 0 or step == recipe.steps - 1:
                losses.append((step, loss.item()))
                bar.set_postfix(loss=f"{losses[-1][1]:.3f}")
            bar.update(1)
    seconds = time.perf_counter() - started
    provenance = {
        "recipe": recipe.to_dict(), "tower_hash": tower_hash, "generator_version": GENERATOR_VERSION,
        "torch": torch.__version__, "threads": threads, "seconds": round(seconds, 1),
        "steps_per_second": round(recipe.steps / seconds, 3), "losses": losses,
        "command": command_line(recipe, threads),
    }
    path = out_dir / "model.safetensors"
    return save_generative(model, path, tower_hash, provenance), path


def save_generative(model: CaptionDecoder, weights: Path, tower_hash: str, provenance: dict) -> str:
    state = {k: (v.float() if v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in model.state_dict().items() if k != "head.weight"}  # head is tied to embed.weight
    digest = hash_state_dict(state)
    record = {"format": GEN_FORMAT, "family": "generative", "arch": model.config.to_dict(),
              "weights_hash": digest, "tower_hash": tower_hash, "provenance": provenance}
    weights.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(weights), metadata={"weights_hash": digest})
    weights.with_suffix(".json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return digest


def command_line(recipe: GenerativeRecipe, threads: int) -> str:
    args = f"--steps {recipe.steps} --seed {recipe.seed} --batch-size {recipe.batch_size} --threads {threads}"
    if recipe.image_input != "patch":
        args += f" --image-input {recipe.image_input}"
    if recipe.tower_layer != "final":
        args += f" --tower-layer {recipe.tower_layer}"
    if recipe.relation_weight != 1.0:
        args += f" --relation-weight {recipe.relation_weight:g}"
    if recipe.preset != "scenes":
        args += f" --preset {recipe.preset}"
    return f"vlmaudit train generative {args}"


SHIPPED = {"patch": "scenes-gen", "cls": "scenes-gen-cls"}
__all__ = ["SHIPPED", "WEIGHTS_DIR", "GenerativeRecipe", "build_model", "train_generative"]
