"""Where a number came from: code, libraries, machine, model, data, seeds, time."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import vlmaudit

_LIBRARIES = ("torch", "torchvision", "transformers", "open_clip_torch", "numpy", "scipy", "scikit-learn",
              "pillow", "safetensors")


def _git_state() -> dict[str, Any]:
    """Commit and dirty flag of the checkout vlmaudit is imported from, if it is one."""
    source = Path(vlmaudit.__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--", "."],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(dirty)}


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def environment() -> dict[str, Any]:
    """Run-level provenance, computed once per invocation."""
    import torch

    return {
        "vlmaudit": vlmaudit.__version__,
        "git": _git_state(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "libraries": library_versions(),
        "command": sys.argv,
        "started": now(),
    }


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
