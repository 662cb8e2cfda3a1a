"""Training checkpoints in one safetensors file: model + optimizer + step + RNG state.

safetensors holds only tensors plus string metadata, so the optimizer's per-parameter state is
flattened to `optim.<index>.<key>` tensors and its hyper-parameters go to JSON metadata. Files are
written to a temporary name and renamed, so an interrupted save never leaves a torn checkpoint.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from vlmaudit.atomic import atomic_path
from vlmaudit.errors import DataError

FORMAT = "vlmaudit-train-ckpt-1"
_NAME = re.compile(r"ckpt-(\d+)\.safetensors$")


@dataclass
class Checkpoint:
    step: int
    modules: dict[str, dict[str, torch.Tensor]]  # e.g. {"model": state_dict, "head": state_dict}
    optimizer: dict
    rng: torch.Tensor
    meta: dict


def _tensors(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().cpu().contiguous().clone() for k, v in state.items()}


def save_checkpoint(
    path: Path,
    step: int,
    modules: dict[str, torch.nn.Module],
    optimizer: torch.optim.Optimizer,
    meta: dict | None = None,
) -> Path:
    """Write `path` atomically; `step` is the number of optimizer steps already taken."""
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        tensors.update(_tensors(module.state_dict(), f"module.{name}"))
    opt = optimizer.state_dict()
    for index, state in opt["state"].items():
        tensors.update(_tensors({k: v for k, v in state.items() if torch.is_tensor(v)}, f"optim.{index}"))
    tensors["rng.torch"] = torch.get_rng_state().clone()
    metadata = {
        "format": FORMAT,
        "step": str(step),
        "param_groups": json.dumps(opt["param_groups"]),
        "meta": json.dumps(meta or {}, sort_keys=True),
    }
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def load_checkpoint(path: Path) -> Checkpoint:
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except Exception as err:  # safetensors raises its own SafetensorError, derived from Exception only
        raise DataError(f"cannot read checkpoint {path}: {err}") from None
    if metadata.get("format") != FORMAT:
        raise DataError(f"{path} is not a vlmaudit training checkpoint")
    modules: dict[str, dict[str, torch.Tensor]] = {}
    optim_state: dict[int, dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        kind, _, rest = key.partition(".")
        if kind == "module":
            name, _, param = rest.partition(".")
            modules.setdefault(name, {})[param] = tensor
        elif kind == "optim":
            index, _, field = rest.partition(".")
            optim_state.setdefault(int(index), {})[field] = tensor
    optimizer = {"state": optim_state, "param_groups": json.loads(metadata["param_groups"])}
    meta = json.loads(metadata["meta"])
    return Checkpoint(int(metadata["step"]), modules, optimizer, tensors["rng.torch"], meta)


def restore(ckpt: Checkpoint, modules: dict[str, torch.nn.Module], optimizer: torch.optim.Optimizer) -> None:
    """Load weights, optimizer state and the torch RNG exactly as they were saved."""
    for name, module in modules.items():
        try:  # a module without state (e.g. an empty head) has no tensors in the file
            module.load_state_dict(ckpt.modules.get(name, {}))
        except RuntimeError as err:
            raise DataError(f"checkpoint does not fit {name!r}: {err}") from None
    optimizer.load_state_dict(ckpt.optimizer)
    torch.set_rng_state(ckpt.rng)


def checkpoint_path(directory: Path, step: int) -> Path:
    return directory / f"ckpt-{step:07d}.safetensors"


def _checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """(step, path) of every checkpoint in `directory`, oldest first."""
    matches = ((_NAME.search(p.name), p) for p in directory.glob("ckpt-*.safetensors"))
    return sorted((int(m.group(1)), p) for m, p in matches if m)


def latest_checkpoint(directory: Path) -> Path | None:
    """The checkpoint with the highest step in `directory`, if any."""
    found = _checkpoints(directory)
    return found[-1][1] if found else None


def prune_checkpoints(directory: Path, keep: int) -> None:
    """Delete all but the `keep` newest checkpoints."""
    found = _checkpoints(directory)
    for _, path in found[: max(0, len(found) - keep)]:
        path.unlink(missing_ok=True)
