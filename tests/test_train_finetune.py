"""`vlmaudit train finetune`: negatives are false, the shipped model stays a read-only base, runs repeat."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

import vlmaudit
from vlmaudit.cli import cli
from vlmaudit.commands.train import _FT_DEFAULTS
from vlmaudit.data.scenes import Caption, describe, generate_scenes, truth
from vlmaudit.errors import SpecError
from vlmaudit.models.builtin import WEIGHTS_DIR, load_module
from vlmaudit.models.builtin_arch import DualEncoder
from vlmaudit.train.finetune_recipe import FinetuneRecipe, finetune
from vlmaudit.train.hard_negatives import DEFAULT_NEGATIVES, NEGATIVE_KINDS, HardNegatives, is_false
from vlmaudit.train.scenes_data import scene_pixels, step_random

SMOKE = FinetuneRecipe(steps=4, batch_size=12, lr=1e-3)
SHIPPED = [WEIGHTS_DIR / "scenes.safetensors", WEIGHTS_DIR / "scenes.json"]


def _digest(paths: list[Path]) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def _rows(recipe: FinetuneRecipe, step: int) -> tuple[list, list[Caption], list[list[str]]]:
    """Scenes, true captions and per-row negatives of a training step, aligned row by row."""
    source = recipe.batches()
    scenes, rng = source.scenes(step), step_random(recipe.seed, step)
    captions = [describe(scene, rng) for scene in scenes]
    negatives = [source.negatives(s, c, rng) for s, c in zip(scenes, captions, strict=True)]
    assert [t for row in negatives for t in row] == source(step).neg_texts  # same rows the trainer saw
    return scenes, captions, negatives


def _margin(model: DualEncoder, recipe: FinetuneRecipe) -> float:
    """Mean cos(image, its caption) - cos(image, its hard negative) over the training rows."""
    gaps = []
    for step in range(recipe.steps):
        scenes, captions, negatives = _rows(recipe, step)
        keep = [k for k, row in enumerate(negatives) if row]
        with torch.no_grad():
            img = F.normalize(model.encode_images(scene_pixels([scenes[k] for k in keep])), dim=-1)
            pos = F.normalize(model.encode_texts([captions[k].text for k in keep]), dim=-1)
            neg = F.normalize(model.encode_texts([negatives[k][0] for k in keep]), dim=-1)
        gaps.append((img * pos).sum(1) - (img * neg).sum(1))
    return torch.cat(gaps).mean().item()


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    shipped = _digest(SHIPPED)
    run = finetune(SMOKE, tmp_path_factory.mktemp("ft") / "run", threads=1, progress=False)
    return run, shipped


def test_every_negative_is_false_in_its_scene_and_each_kind_is_used() -> None:
    recipe = FinetuneRecipe(negatives=tuple(NEGATIVE_KINDS), per_row=3, batch_size=48)
    scenes, captions, negatives = _rows(recipe, 0)
    assert sum(map(len, negatives)) > len(scenes)
    for scene, caption, row in zip(scenes, captions, negatives, strict=True):
        assert truth(caption.meaning, scene)
        assert len(row) <= 3 and len(set(row)) == len(row)
        for text in row:  # re-parsed from the words alone, as the model reads them
            assert is_false(text, scene) and not truth(Caption.from_text(text).meaning, scene, loose=True)
    scenes = generate_scenes(40, 7, n_objects=2, differ=("colour", "shape", "size"))
    for kind in NEGATIVE_KINDS:  # one kind at a time, on random true captions of two-object scenes
        hook, rngs = HardNegatives((kind,)), [step_random(7, k) for k in range(len(scenes))]
        made = [(s, hook(s, describe(s, r), r)) for s, r in zip(scenes, rngs, strict=True)]
        assert sum(bool(row) for _, row in made) >= 5, kind
        assert all(is_false(t, s) for s, row in made for t in row), kind


def test_smoke_finetune_widens_the_hard_negative_margin_and_leaves_the_shipped_model_alone(smoke) -> None:
    run, shipped = smoke
    base, _ = load_module("scenes")
    assert _margin(run.model, SMOKE) > _margin(base, SMOKE) + 1e-3
    assert _digest(SHIPPED) == shipped
    assert run.base_hash == json.loads(SHIPPED[1].read_text())["weights_hash"] != run.weights_hash


def test_output_loads_as_builtin_run_dir_with_its_record(smoke) -> None:
    run, _ = smoke
    model = vlmaudit.load_model(f"builtin:{run.path.parent}")
    assert model.weights_hash == run.weights_hash
    record = json.loads(run.path.with_suffix(".json").read_text())
    assert record["provenance"]["base"]["spec"] == "builtin:scenes"
    assert record["provenance"]["recipe"]["negatives"] == list(DEFAULT_NEGATIVES)
    assert record["provenance"]["command"].startswith("vlmaudit train finetune --base builtin:scenes")
    assert json.loads((run.path.parent / "recipe.json").read_text()) == SMOKE.to_dict()
    emb = model.encode_texts(["a red circle left of a blue square"])
    assert emb.shape == (1, 128) and torch.isfinite(emb).all()


def test_same_seed_gives_the_same_weights_hash(smoke, tmp_path) -> None:
    run, _ = smoke
    again = finetune(SMOKE, tmp_path / "again", threads=1, progress=False)
    assert again.weights_hash == run.weights_hash
    other = finetune(FinetuneRecipe(steps=2, batch_size=12, lr=1e-3, seed=2), tmp_path / "other",
                     threads=1, progress=False)
    assert other.weights_hash != run.weights_hash


def test_recipe_refusals(tmp_path) -> None:
    with pytest.raises(SpecError, match="held-out"):
        FinetuneRecipe(seed=1234)
    with pytest.raises(SpecError, match="unknown"):
        FinetuneRecipe(negatives=("relation_swap", "shuffle_trigrams"))
    with pytest.raises(SpecError, match="builtin base"):
        FinetuneRecipe(base="hf:/models/clip")
    with pytest.raises(SpecError, match="shipped weights"):
        finetune(SMOKE, WEIGHTS_DIR / "run")
    assert not (WEIGHTS_DIR / "run").exists()


def test_cli_defaults_match_the_recipe() -> None:
    recipe = FinetuneRecipe()
    wanted = {"steps": recipe.steps, "seed": recipe.seed, "batch_size": recipe.batch_size, "lr": recipe.lr,
              "negatives": ",".join(recipe.negatives)}
    assert wanted == _FT_DEFAULTS


def test_cli_finetune_prints_hash_and_before_after(tmp_path) -> None:
    out = tmp_path / "run"
    args = ["train", "finetune", "--steps", "2", "--batch-size", "8", "--threads", "1", "--no-progress",
            "--negatives", "relation_swap,attribute_swap", "--eval-n", "100", "--audit-n", "30",
            "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    # the before/after audit goes through compare: both models on the same held-out items, paired CIs
    assert "before/after audit on 30 held-out scenes (paired 95% CIs" in result.output
    assert "scenes/relation_swap/accuracy" in result.output and (out / "compare.html").is_file()
    assert len(list((out / "audit").rglob("results.json"))) == 4  # 2 models x composition, spatial
    digest = re.search(r"weights hash: ([0-9a-f]{32})", result.output).group(1)
    assert vlmaudit.load_model(f"builtin:{out}").weights_hash == digest
    for key in ("relation_swap", "binding_full", "binding_and", "i2t_r1"):
        row = rf"^\s+{key}\s+[01]\.\d{{3}}\s+[01]\.\d{{3}}\s+[+-]\d\.\d{{3}}"
        assert re.search(row, result.output, re.M), key
    before = json.loads((out / "metrics_base.json").read_text())
    after = json.loads((out / "metrics.json").read_text())
    assert before["n"] == after["n"] == 100 and before["seed"] == after["seed"] == 1234
    again = CliRunner().invoke(cli, args)
    assert isinstance(again.exception, SpecError) and "--resume" in str(again.exception)
    refused = CliRunner().invoke(cli, ["train", "finetune", "--base", "openclip:ViT-B-32",
                                       "--out", str(tmp_path / "x")])
    assert isinstance(refused.exception, SpecError) and "builtin" in str(refused.exception)


def test_cli_resume_reproduces_an_uninterrupted_run(tmp_path) -> None:
    args = ["train", "finetune", "--steps", "4", "--batch-size", "8", "--checkpoint-every", "2",
            "--threads", "1", "--eval-n", "0", "--audit-n", "0", "--no-progress"]
    whole = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "a")])
    cut = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "b")])
    assert whole.exit_code == cut.exit_code == 0, whole.output + cut.output
    (tmp_path / "b" / "ckpt-0000004.safetensors").unlink()
    resumed = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "b"), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    hashes = [re.search(r"weights hash: (\w+)", r.output).group(1) for r in (whole, resumed)]
    assert hashes[0] == hashes[1]
