"""Recipe of the built-in `builtin:scenes` model: architecture, data stream and schedule in one place.

`train_builtin(recipe, out_dir)` reproduces the shipped weights from scratch: the model is
initialised from `torch.manual_seed(seed)`, trained on the scene stream `seed` (batches by step,
see scenes_data.py) with a step-driven schedule, and written as `out_dir/model.safetensors` plus
its JSON record. Same recipe + machine + thread count => same weights hash.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from vlmaudit.data.scenes import VOCABULARY
from vlmaudit.errors import SpecError
from vlmaudit.models.builtin_arch import DualEncoder, DualEncoderConfig
from vlmaudit.train.evaluate import HELDOUT_SEED
from vlmaudit.train.run_files import save_trained, write_recipe
from vlmaudit.train.scenes_data import TRAIN_SCENES, SceneBatches, pixel_statistics
from vlmaudit.train.trainer import TrainConfig, Trainer, TrainResult

# Architecture overrides of DualEncoderConfig. "scenes" = the shipped model (the prototype's
# measured design); "tiny" = a few-thousand-parameter model for tests and smoke runs.
PRESETS: dict[str, dict] = {
    "scenes": {},
    "tiny": {"conv_channels": (8, 8, 16, 16, 32, 32), "text_width": 32, "text_depth": 1, "heads": 2,
             "embed_dim": 32, "mlp_ratio": 2},
}


@dataclass(frozen=True)
class BuiltinRecipe:
    preset: str = "scenes"
    steps: int = 1000
    batch_size: int = 256
    seed: int = 0
    lr: float = 2e-3
    warmup: float = 0.03
    weight_decay: float = 0.05
    bf16: bool = True
    context: int = 40  # longest grammar caption (three objects, paraphrased, negated) is ~35 words

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise SpecError(f"unknown preset {self.preset!r} (known: {', '.join(PRESETS)})")
        if self.seed == HELDOUT_SEED:
            raise SpecError(f"seed {HELDOUT_SEED} is the held-out evaluation stream; train with another seed")

    def arch(self) -> DualEncoderConfig:
        mean, std = pixel_statistics(self.seed)
        return DualEncoderConfig(vocab=VOCABULARY, context=self.context, image_size=TRAIN_SCENES.image_size,
                                 mean=mean, std=std, **PRESETS[self.preset])  # type: ignore[arg-type]

    def train_config(self, **runtime) -> TrainConfig:
        return TrainConfig(steps=self.steps, lr=self.lr, warmup=self.warmup, weight_decay=self.weight_decay,
                           bf16=self.bf16, seed=self.seed, **runtime)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class BuiltinRun:
    model: DualEncoder
    result: TrainResult
    weights_hash: str
    path: Path  # the written model.safetensors


def build_model(recipe: BuiltinRecipe) -> DualEncoder:
    """The untrained model, initialised from the recipe's seed."""
    config = recipe.arch()
    torch.manual_seed(recipe.seed)
    return DualEncoder(config)


def train_builtin(recipe: BuiltinRecipe, out_dir: Path, *, resume: bool = False, **runtime) -> BuiltinRun:
    """Train from scratch (or resume in `out_dir`) and write `out_dir/model.safetensors` + `.json`.

    `runtime` goes to TrainConfig fields that do not change the result (threads, progress,
    checkpoint_every, ...).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_recipe(out_dir, recipe.to_dict(), resume=resume)
    model = build_model(recipe)
    config = recipe.train_config(**runtime)
    result = Trainer(model, config, out_dir).fit(SceneBatches(recipe.seed, recipe.batch_size), resume=resume)
    command = command_line(recipe, torch.get_num_threads())
    digest, path = save_trained(model, result, out_dir, recipe.to_dict(), command)
    return BuiltinRun(model, result, digest, path)


def command_line(recipe: BuiltinRecipe, threads: int) -> str:
    """The CLI call that reproduces a recipe's weights hash (for model cards and provenance)."""
    args = f"--steps {recipe.steps} --seed {recipe.seed} --batch-size {recipe.batch_size} --threads {threads}"
    if recipe.preset != "scenes":
        args += f" --preset {recipe.preset}"
    return f"vlmaudit train builtin {args}"
