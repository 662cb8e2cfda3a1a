"""Write generated scenes to disk: PNGs, captions.jsonl (with paraphrases), scene_graphs.jsonl.

Atomic: everything goes to `<out>.tmp` first and is renamed into place, so an interrupted export
never leaves a half-written dataset; an existing non-empty `<out>` is replaced only with force.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from vlmaudit.data.scenes.generate import SceneConfig, generate_scenes
from vlmaudit.data.scenes.grammar import describe, paraphrases
from vlmaudit.data.scenes.render import render
from vlmaudit.data.scenes.vocab import GENERATOR_VERSION
from vlmaudit.errors import DataError


def _write(tmp: Path, n: int, seed: int, config: SceneConfig) -> None:
    (tmp / "images").mkdir(parents=True)
    with (tmp / "captions.jsonl").open("w") as captions, (tmp / "scene_graphs.jsonl").open("w") as graphs:
        for k, scene in enumerate(generate_scenes(n, seed, config)):
            image = f"images/{k:06d}.png"
            render(scene).save(tmp / image)
            para = [p.text for p in paraphrases(scene)]
            captions.write(
                json.dumps({"image": image, "caption": describe(scene).text, "paraphrases": para}) + "\n"
            )
            graphs.write(json.dumps({"image": image, "scene": scene.to_dict()}, sort_keys=True) + "\n")
    meta = {
        "generator": GENERATOR_VERSION,
        "n": n,
        "seed": seed,
        "image_size": config.image_size,
        "objects": [config.min_objects, config.max_objects],
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def _is_export(path: Path) -> bool:
    try:
        meta = json.loads((path / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and str(meta.get("generator", "")).startswith("scenes")


def export_scenes(
    out: str | Path, n: int, seed: int, config: SceneConfig | None = None, force: bool = False
) -> Path:
    """Export `n` scenes of stream `seed` to `out`; returns the directory."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not force:
            raise DataError(f"{out} exists and is not empty (use --force to replace it)")
        if not _is_export(out):  # force deletes the old folder: never a user's own files
            raise DataError(f"{out} is not an earlier scene export (no meta.json from one); "
                            "--force only replaces those, choose another --out")
    out = out.resolve()  # `--out .` has no name to build <out>.tmp from
    if out.exists() and (out == Path.cwd() or out in Path.cwd().parents):
        raise DataError(f"{out} holds the current directory and cannot be replaced; choose another --out")
    tmp, old = out.with_name(out.name + ".tmp"), out.with_name(out.name + ".old")
    for stale in (tmp, old):
        if stale.exists():
            shutil.rmtree(stale)
    try:
        _write(tmp, n, seed, config or SceneConfig())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    if old.exists():
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    return out
