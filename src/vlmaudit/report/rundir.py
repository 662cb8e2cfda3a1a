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

from vlmaudit.atomic import json_default, naming, write_json_atomic
from vlmaudit.errors import DataError, VlmauditError
from vlmaudit.registry import SUITES
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
        return read_results(self.unit_dir(model, suite, data))

    def write_unit(self, result: SuiteResult, provenance: dict[str, Any]) -> Path:
        """Write results.json and samples/*.jsonl for one result, then its figures from those files.

        Figures are drawn from what was written (`render_figures`), inside the staging folder, so a
        finished unit always has them and a re-render of it later draws the same ones.
        """
        final = self.unit_dir(result.model, result.suite, result.data)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.tmp-"))
        try:
            for table, rows in result.samples.items():
                _write_jsonl(staging / "samples" / f"{slug(table)}.jsonl", rows)
            payload = result.to_json() | {
                "provenance": provenance,
                "samples": {name: f"samples/{slug(name)}.jsonl" for name in result.samples},
                "figures": [],
            }
            write_json_atomic(staging / "results.json", payload)
            self.render_figures(staging)
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return final

    def render_figures(self, unit_dir: Path) -> list[str]:
        """(Re)draw a unit's figures from its results.json and samples alone; returns their paths.

        The suite's `figures(result, samples)` draws them (a suite without one has none); the PNGs
        replace `figures/` and results.json lists them, so a finished run can be re-rendered.
        """
        unit_dir = Path(unit_dir)
        raw = _read_json(unit_dir / "results.json")
        draw = getattr(SUITES.get(raw["suite"]), "figures", None)
        samples = {name: _read_jsonl(unit_dir / path) for name, path in raw.get("samples", {}).items()}
        figures = draw(read_results(unit_dir), samples) if draw is not None else {}
        shutil.rmtree(unit_dir / "figures", ignore_errors=True)
        paths = []
        for stem, figure in figures.items():
            target = unit_dir / "figures" / f"{slug(stem)}.png"
            target.parent.mkdir(exist_ok=True)
            figure.savefig(target, dpi=110, bbox_inches="tight")
            paths.append(f"figures/{target.name}")
        write_json_atomic(unit_dir / "results.json", raw | {"figures": paths})
        return paths


def read_results(unit_dir: Path) -> dict[str, Any]:
    """A unit's results.json in the current schema, whichever version wrote it (`SuiteResult.from_json`).

    Keys the schema does not cover (provenance, sample and figure paths) are kept as stored.
    """
    raw = _read_json(Path(unit_dir) / "results.json")
    try:
        return raw | SuiteResult.from_json(raw).to_json()
    except DataError as err:
        raise DataError(f"{Path(unit_dir) / 'results.json'}: {err}") from None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"cannot read {path}: {err}") from None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"cannot read {path}: {err}") from None


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with naming(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as handle:
            for row in rows:
                handle.write(json.dumps(row, default=json_default) + "\n")
