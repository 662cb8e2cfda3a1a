"""The run directory: one folder per (model, suite, data) unit, each written atomically.

A unit is assembled in a hidden temp folder and renamed into place only when every file is
written, so an interrupted run never leaves a results.json that looks complete; `--resume`
skips exactly the units whose folder exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from vlmaudit.atomic import json_default, write_json_atomic
from vlmaudit.errors import VlmauditError
from vlmaudit.results import SuiteResult


def slug(text: str) -> str:
    """Filesystem-safe, readable name for a spec ("hf:openai/clip" -> "hf-openai-clip").

    A name over 80 characters is cut and ends in a hash of the full text, so two specs that differ
    only after the cut (a long path, then `subsets=a` vs `subsets=b`) never share a unit folder.
    """
    cleaned = re.sub(r"[^A-Za-z0-9._=-]+", "-", text).strip("-")
    if len(cleaned) > 80:
        cleaned = f"{cleaned[:71]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    return cleaned or "default"


class RunDirectory:
    def __init__(self, root: Path, *, resume: bool) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise VlmauditError(f"output directory {self.root} is a file (use another --out)")
        if self.root.exists() and any(self.root.iterdir()) and not resume:
            raise VlmauditError(f"output directory {self.root} is not empty (use --resume or another --out)")
        self.root.mkdir(parents=True, exist_ok=True)

    def unit_dir(self, model: str, suite: str, data: str) -> Path:
        return self.root / slug(model) / suite / slug(data)

    def is_done(self, model: str, suite: str, data: str) -> bool:
        return (self.unit_dir(model, suite, data) / "results.json").is_file()

    def load(self, model: str, suite: str, data: str) -> dict[str, Any]:
        return json.loads((self.unit_dir(model, suite, data) / "results.json").read_text())

    def write_unit(self, result: SuiteResult, provenance: dict[str, Any]) -> Path:
        """Write results.json, samples/*.jsonl and figures/*.png for one result, atomically."""
        final = self.unit_dir(result.model, result.suite, result.data)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.tmp-"))
        try:
            for table, rows in result.samples.items():
                _write_jsonl(staging / "samples" / f"{slug(table)}.jsonl", rows)
            figures = []
            for stem, figure in result.figures.items():
                (staging / "figures").mkdir(exist_ok=True)
                target = staging / "figures" / f"{slug(stem)}.png"
                figure.savefig(target, dpi=110, bbox_inches="tight")
                figures.append(f"figures/{target.name}")
            payload = result.to_json() | {
                "provenance": provenance,
                "samples": {name: f"samples/{slug(name)}.jsonl" for name in result.samples},
                "figures": figures,
            }
            write_json_atomic(staging / "results.json", payload)
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            _close_figures(result)
        return final


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row, default=json_default) + "\n")


def _close_figures(result: SuiteResult) -> None:
    if not result.figures:
        return
    import matplotlib.pyplot as plt

    for figure in result.figures.values():
        plt.close(figure)
