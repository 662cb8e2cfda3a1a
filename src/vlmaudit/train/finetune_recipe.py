"""Hard-negative fine-tuning (NegCLIP layout) of a built-in model on generated scenes.

`finetune(recipe, out_dir)` loads the base weights (`builtin:scenes` or `builtin:<run dir>`),
trains them with the shared `Trainer` on `SceneBatches` whose `negatives` hook adds, per row, a
verified-false edit of the row's true caption (hard_negatives.py) as an extra text column of the
contrastive loss (Yuksekgonul et al. 2023, "When and why VLMs behave like bags-of-words"), and
writes the same run directory as `vlmaudit train builtin`: recipe.json, train_log.jsonl,
checkpoints, model.safetensors + model.json (via `save_module`), so `builtin:<out_dir>` loads it.

Choices where the paper is silent or does not transfer to scenes (all in the recipe record):
- data: the training stream `seed`, default 1 so fine-tuning sees scenes the base (stream 0) never
  saw; the held-out stream 1234 is refused, so the evaluation stays unseen;
- one hard negative per row (NegCLIP's count), from NegCLIP's swap families by default; no hard
  negative images (NegCLIP's nearest-neighbour images need an embedding index, out of scope here);
- a short schedule at a tenth of the base's peak learning rate (NegCLIP also fine-tunes far below
  pretraining's rate), warmup 10 %, cosine to 0, learnable temperature, bf16 autocast like the base;
  300 steps x 128 rows: 155 s on one thread of a shared 2-vCPU Xeon (about 3 min with evaluation).
Same recipe + base weights + machine + thread count => same weights hash.

What it does to `builtin:scenes` (measured, 300 steps): swap/order items move a little (Order P@1
0.24 -> 0.30), relation swap stays at chance. Neither tower of the base encodes argument order, and
a hard negative's gradient on each tower is proportional to the other tower's order signal, so
fine-tuning starts at a saddle; 2000 relation-only steps at 10x the rate did not leave it either.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from vlmaudit.errors import SpecError
from vlmaudit.models.builtin import WEIGHTS_DIR, load_module
from vlmaudit.models.builtin_arch import DualEncoder
from vlmaudit.train.evaluate import HELDOUT_SEED
from vlmaudit.train.hard_negatives import DEFAULT_NEGATIVES, HardNegatives, parse_kinds
from vlmaudit.train.run_files import save_trained, write_recipe
from vlmaudit.train.scenes_data import SceneBatches
from vlmaudit.train.trainer import TrainConfig, Trainer, TrainResult


@dataclass(frozen=True)
class FinetuneRecipe:
    base: str = "builtin:scenes"
    negatives: tuple[str, ...] = DEFAULT_NEGATIVES
    per_row: int = 1
    steps: int = 300
    batch_size: int = 128
    seed: int = 1
    lr: float = 2e-4
    warmup: float = 0.1
    weight_decay: float = 0.05
    bf16: bool = True

    def __post_init__(self) -> None:
        base_name(self.base)
        object.__setattr__(self, "negatives", parse_kinds(self.negatives))
        if self.seed == HELDOUT_SEED:
            raise SpecError(f"seed {HELDOUT_SEED} is the held-out evaluation stream; train with another seed")
        if self.steps <= 0 or self.batch_size <= 0 or self.lr <= 0:
            raise SpecError("steps, batch size and learning rate must be positive")

    def train_config(self, **runtime) -> TrainConfig:
        return TrainConfig(steps=self.steps, lr=self.lr, warmup=self.warmup, weight_decay=self.weight_decay,
                           bf16=self.bf16, seed=self.seed, **runtime)

    def batches(self) -> SceneBatches:
        return SceneBatches(self.seed, self.batch_size, negatives=HardNegatives(self.negatives, self.per_row))

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))  # tuples -> lists, as read back from disk


@dataclass
class FinetuneRun:
    model: DualEncoder
    result: TrainResult
    weights_hash: str
    base_hash: str
    path: Path  # the written model.safetensors


def base_name(spec: str) -> str:
    """`builtin:NAME_OR_PATH` -> NAME_OR_PATH; other backends are refused (their towers differ)."""
    backend, sep, name = spec.partition(":")
    if backend != "builtin" or not sep or not name:
        raise SpecError(f"fine-tuning needs a builtin base (builtin:scenes or builtin:<run dir>), "
                        f"got {spec!r}")
    return name


def check_out_dir(out_dir: Path) -> None:
    """Refuse to write a run into the package's weights folder (the shipped model lives there)."""
    out, shipped = Path(out_dir).resolve(), WEIGHTS_DIR.resolve()
    if out == shipped or shipped in out.parents:
        raise SpecError(f"{out_dir} is inside the shipped weights folder {WEIGHTS_DIR}; choose another --out")


def finetune(recipe: FinetuneRecipe, out_dir: Path, *, resume: bool = False, **runtime) -> FinetuneRun:
    """Fine-tune the base (or resume in `out_dir`) and write `out_dir/model.safetensors` + `.json`.

    `runtime` goes to TrainConfig fields that do not change the result (threads, progress, ...).
    """
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    model, record = load_module(base_name(recipe.base))
    out_dir.mkdir(parents=True, exist_ok=True)
    write_recipe(out_dir, recipe.to_dict(), resume=resume)
    result = Trainer(model, recipe.train_config(**runtime), out_dir).fit(recipe.batches(), resume=resume)
    command = command_line(recipe, torch.get_num_threads())
    digest, path = save_trained(model, result, out_dir, recipe.to_dict(), command,
                                base={"spec": recipe.base, "weights_hash": record["weights_hash"]})
    return FinetuneRun(model, result, digest, record["weights_hash"], path)


def command_line(recipe: FinetuneRecipe, threads: int) -> str:
    """The CLI call that reproduces a fine-tune's weights hash (given the same base weights)."""
    per_row = f" --per-row {recipe.per_row}" if recipe.per_row != 1 else ""
    return (f"vlmaudit train finetune --base {recipe.base} --negatives {','.join(recipe.negatives)}{per_row} "
            f"--steps {recipe.steps} --seed {recipe.seed} --batch-size {recipe.batch_size} "
            f"--lr {recipe.lr:g} --threads {threads}")
