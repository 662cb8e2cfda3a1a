"""The files every training recipe writes beside its checkpoints: recipe.json and the model record.

`recipe.json` pins the options of a run so `--resume` can refuse to continue it with other ones;
the model record (`save_module`) carries the provenance that reproduces the weights hash.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch

from vlmaudit.data.scenes import GENERATOR_VERSION
from vlmaudit.errors import SpecError
from vlmaudit.models.builtin import RUN_FILE, save_module
from vlmaudit.models.builtin_arch import DualEncoder
from vlmaudit.train.trainer import TrainResult

RECIPE_FILE = "recipe.json"


def write_recipe(out_dir: Path, recipe: dict, *, resume: bool) -> None:
    """Record the recipe; when resuming, the recorded one must be the same (tuples compare as lists)."""
    record = out_dir / RECIPE_FILE
    wanted = json.loads(json.dumps(recipe))
    if resume and record.exists() and json.loads(record.read_text()) != wanted:
        raise SpecError(f"{record} holds another recipe; resume with the same options or use a fresh --out")
    record.write_text(json.dumps(wanted, indent=1, sort_keys=True) + "\n")


def save_trained(model: DualEncoder, result: TrainResult, out_dir: Path, recipe: dict, command: str,
                 **extra: object) -> tuple[str, Path]:
    """Write `out_dir/model.safetensors` + its record with the run's provenance; returns (hash, path)."""
    provenance = {
        "recipe": json.loads(json.dumps(recipe)),
        "command": command,
        "generator_version": GENERATOR_VERSION,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "final_logit_scale": result.logit_scale,
        "last_session": {
            "start_step": result.start_step,
            "steps": result.step,
            "seconds": round(result.seconds, 1),
            "steps_per_second": round(result.steps_per_second, 3),
        },
        **extra,
    }
    path = out_dir / RUN_FILE
    return save_module(model, path, provenance), path
