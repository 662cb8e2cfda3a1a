"""`vlmaudit train ...`: reproduce the built-in model, or fine-tune it with hard negatives (NegCLIP)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click

from vlmaudit.errors import SpecError

_DEFAULTS = {"steps": 1000, "seed": 0, "batch_size": 256}
# Mirrors FinetuneRecipe's defaults, kept here so `vlmaudit train --help` does not import torch
# (a test checks they agree).
_FT_DEFAULTS = {"steps": 300, "seed": 1, "batch_size": 128, "lr": 2e-4,
                "negatives": "relation_swap,attribute_swap,object_swap"}


@click.group()
def train() -> None:
    """Train the built-in model or fine-tune a model."""


@train.command("builtin")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory (default: runs/train-builtin-<preset>-seed<S>-steps<N>).")
@click.option("--steps", type=int, default=_DEFAULTS["steps"], show_default=True, help="Optimizer steps.")
@click.option("--seed", type=int, default=_DEFAULTS["seed"], show_default=True,
              help="Init + training scene stream seed (1234 is the held-out stream and is refused).")
@click.option("--batch-size", type=int, default=_DEFAULTS["batch_size"], show_default=True)
@click.option("--threads", type=int, default=1, show_default=True,
              help="torch threads; the weights hash is reproducible for a fixed count. 1 is the default "
                   "because on a shared 2-core machine it ran 2x faster than 2 (no OpenMP barrier stalls).")
@click.option("--resume", is_flag=True, help="Continue from the newest checkpoint in --out.")
@click.option("--install", is_flag=True, help="Copy the result into the package as builtin:scenes.")
@click.option("--preset", type=click.Choice(["scenes", "tiny"]), default="scenes", show_default=True,
              help="Architecture; 'tiny' is for smoke tests.")
@click.option("--eval-n", type=int, default=1000, show_default=True,
              help="Held-out scenes per evaluation set (0 skips evaluation).")
@click.option("--checkpoint-every", type=int, default=100, show_default=True)
@click.option("--progress/--no-progress", default=True)
def builtin(out: Path | None, steps: int, seed: int, batch_size: int, threads: int, resume: bool,
            install: bool, preset: str, eval_n: int, checkpoint_every: int, progress: bool) -> None:
    """Train the built-in scenes model from scratch; print its weights hash and held-out metrics."""
    import torch

    from vlmaudit.models.builtin import WEIGHTS_DIR, load
    from vlmaudit.train.builtin_recipe import BuiltinRecipe, train_builtin
    from vlmaudit.train.checkpoint import latest_checkpoint
    from vlmaudit.train.evaluate import passes_bar

    recipe = BuiltinRecipe(preset=preset, steps=steps, batch_size=batch_size, seed=seed)
    out = out or Path("runs") / f"train-builtin-{preset}-seed{seed}-steps{steps}"
    if not resume and out.exists() and latest_checkpoint(out) is not None:
        raise SpecError(f"{out} already holds a training run; pass --resume or choose another --out")
    torch.set_num_threads(threads)
    run = train_builtin(recipe, out, resume=resume, threads=threads, progress=progress,
                        checkpoint_every=checkpoint_every)
    click.echo(f"model: {run.path}")
    click.echo(f"weights hash: {run.weights_hash}")
    click.echo(f"steps: {run.result.step}  this session: {run.result.seconds:.0f} s "
               f"({run.result.steps_per_second:.2f} steps/s)")
    if eval_n > 0:
        from vlmaudit.train.evaluate import evaluate_builtin

        metrics = evaluate_builtin(load(str(run.path)), n=eval_n)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n")
        verdict = passes_bar(metrics)
        for key, value in metrics.items():
            mark = "" if key not in verdict else ("  pass" if verdict[key] else "  FAIL")
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            click.echo(f"  {key:14s} {shown}{mark}")
    if install:
        WEIGHTS_DIR.mkdir(exist_ok=True)
        for suffix in (".safetensors", ".json"):
            shutil.copyfile(run.path.with_suffix(suffix), WEIGHTS_DIR / f"scenes{suffix}")
        click.echo(f"installed as builtin:scenes in {WEIGHTS_DIR}")


@train.command("finetune")
@click.option("--base", default="builtin:scenes", show_default=True,
              help="Start from builtin:scenes or builtin:<run dir> (its weights are never modified).")
@click.option("--negatives", default=_FT_DEFAULTS["negatives"], show_default=True,
              help="Comma-separated hard-negative kinds (verified false per scene): relation_swap, "
                   "attribute_swap, object_swap (NegCLIP's swaps, the default), relation_flip, "
                   "relation_replace, attribute_replace, object_replace, attribute_add, object_add, negate.")
@click.option("--per-row", type=int, default=1, show_default=True,
              help="Hard negatives per training row (NegCLIP: 1); kinds are tried in random order.")
@click.option("--steps", type=int, default=_FT_DEFAULTS["steps"], show_default=True, help="Optimizer steps.")
@click.option("--seed", type=int, default=_FT_DEFAULTS["seed"], show_default=True,
              help="Training scene stream (default 1: builtin:scenes was trained on 0; 1234 is the held-out "
                   "stream and is refused).")
@click.option("--batch-size", type=int, default=_FT_DEFAULTS["batch_size"], show_default=True)
@click.option("--lr", type=float, default=_FT_DEFAULTS["lr"], show_default=True,
              help="Peak learning rate (10 % warmup, cosine to 0).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory (default: runs/train-finetune-<base>-seed<S>-steps<N>); audit it as "
                   "builtin:<out>.")
@click.option("--threads", type=int, default=1, show_default=True,
              help="torch threads; the weights hash is reproducible for a fixed count.")
@click.option("--resume", is_flag=True, help="Continue from the newest checkpoint in --out.")
@click.option("--eval-n", type=int, default=1000, show_default=True,
              help="Held-out scenes per evaluation set, base and fine-tuned (0 skips evaluation).")
@click.option("--audit-n", type=int, default=200, show_default=True,
              help="Held-out scenes for the before/after audit (composition, spatial) compared with paired "
                   "CIs through `vlmaudit compare` (0 skips it).")
@click.option("--checkpoint-every", type=int, default=100, show_default=True)
@click.option("--progress/--no-progress", default=True)
def finetune(base: str, negatives: str, per_row: int, steps: int, seed: int, batch_size: int, lr: float,
             out: Path | None, threads: int, resume: bool, eval_n: int, audit_n: int, checkpoint_every: int,
             progress: bool) -> None:
    """Fine-tune a built-in model with hard-negative captions; print its hash and before/after metrics.

    The defaults take about 3 minutes on a 2-core machine (2.5 min training, 20 s evaluation).
    """
    import torch

    from vlmaudit.train.checkpoint import latest_checkpoint
    from vlmaudit.train.finetune_recipe import FinetuneRecipe, base_name, check_out_dir, finetune

    recipe = FinetuneRecipe(base=base, negatives=tuple(negatives.split(",")), per_row=per_row, steps=steps,
                            seed=seed, batch_size=batch_size, lr=lr)
    out = out or Path("runs") / f"train-finetune-{Path(base_name(base)).name}-seed{seed}-steps{steps}"
    check_out_dir(out)
    if not resume and out.exists() and latest_checkpoint(out) is not None:
        raise SpecError(f"{out} already holds a training run; pass --resume or choose another --out")
    torch.set_num_threads(threads)
    run = finetune(recipe, out, resume=resume, threads=threads, progress=progress,
                   checkpoint_every=checkpoint_every)
    click.echo(f"model: {run.path}  (audit it as builtin:{out})")
    click.echo(f"weights hash: {run.weights_hash}  (base {base}: {run.base_hash})")
    click.echo(f"steps: {run.result.step}  this session: {run.result.seconds:.0f} s "
               f"({run.result.steps_per_second:.2f} steps/s)")
    if eval_n > 0:
        _before_after(base_name(base), run.path, out, eval_n)
    if audit_n > 0:
        _audit_before_after(base, out, audit_n, progress)


def _audit_before_after(base: str, out: Path, n: int, progress: bool) -> None:
    """Base and fine-tuned model through the composition and spatial suites on held-out scenes, and
    their headline differences with paired bootstrap CIs (the same items for both), via compare."""
    from vlmaudit.report.compare import compare, print_differences, sides_of, write_compare_html
    from vlmaudit.runner import run as run_suites

    audit = out / "audit"
    run_suites([base if ":" in base else f"builtin:{base}", f"builtin:{out}"], ["composition", "spatial"],
               [f"scenes?n={n}"], out=audit, cache_dir=None, progress=progress, resume=audit.exists())
    sides = sides_of([audit])
    differences = compare(sides, headline_only=True)
    click.echo(f"before/after audit on {n} held-out scenes (paired 95% CIs; {audit}):")
    print_differences(sides, differences)
    click.echo(f"comparison: {write_compare_html(sides, differences, out / 'compare.html')}")


def _before_after(base: str, weights: Path, out: Path, n: int) -> None:
    """Held-out metrics of the base and the fine-tuned model side by side; both saved in `out`."""
    from vlmaudit.models.builtin import load
    from vlmaudit.train.evaluate import evaluate_builtin, passes_bar

    before = evaluate_builtin(load(base), n=n)
    after = evaluate_builtin(load(str(weights)), n=n)
    (out / "metrics_base.json").write_text(json.dumps(before, indent=1, sort_keys=True) + "\n")
    (out / "metrics.json").write_text(json.dumps(after, indent=1, sort_keys=True) + "\n")
    verdict = passes_bar(after)
    click.echo(f"held-out evaluation (n={after['n']}, seed {after['seed']}):")
    click.echo(f"  {'metric':14s} {'before':>7s} {'after':>7s} {'change':>7s}")
    for key, value in after.items():
        if not isinstance(value, float):
            continue
        mark = "" if key not in verdict else ("  pass" if verdict[key] else "  FAIL")
        click.echo(f"  {key:14s} {before[key]:7.3f} {value:7.3f} {value - before[key]:+7.3f}{mark}")


@train.command("generative")
@click.option("--image-input", type=click.Choice(["patch", "cls"]), default="patch", show_default=True,
              help="What the decoder sees of the frozen tower: every patch token, or [CLS] only (Li et al.'s "
                   "ablation).")
@click.option("--tower-layer", type=click.Choice(["final", "stem"]), default="final", show_default=True,
              help="The tower's token map the decoder reads: after its transformer block, or the local conv "
                   "grid before it.")
@click.option("--relation-weight", type=float, default=1.0, show_default=True,
              help="Loss weight of relation-word targets (left/right/above/below); 1: plain next-token loss.")
@click.option("--steps", type=int, default=2000, show_default=True, help="Optimizer steps.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Init + instruction stream seed (1234 is the held-out stream and is refused).")
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--preset", type=click.Choice(["scenes", "tiny"]), default="scenes", show_default=True,
              help="Decoder size; 'tiny' is for smoke tests.")
@click.option("--threads", type=int, default=1, show_default=True,
              help="torch threads of the training step (the data worker takes one more core).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory (default: runs/train-generative-<input>-seed<S>-steps<N>); audit it as "
                   "builtin:<out>.")
@click.option("--eval-n", type=int, default=500, show_default=True,
              help="Held-out scenes per evaluation set (0 skips evaluation).")
@click.option("--install", is_flag=True, help="Copy the result into the package (builtin:scenes-gen[-cls]).")
@click.option("--progress/--no-progress", default=True)
def generative(image_input: str, tower_layer: str, relation_weight: float, steps: int, seed: int,
               batch_size: int, lr: float, preset: str, threads: int, out: Path | None, eval_n: int,
               install: bool,
               progress: bool) -> None:
    """Train the built-in generative model on builtin:scenes's frozen image tower (LLaVA-style)."""
    from vlmaudit.train.generative_recipe import SHIPPED, WEIGHTS_DIR, GenerativeRecipe, train_generative

    recipe = GenerativeRecipe(image_input=image_input, tower_layer=tower_layer,
                              relation_weight=relation_weight, preset=preset, steps=steps,
                              batch_size=batch_size, seed=seed, lr=lr)
    out = out or Path("runs") / f"train-generative-{image_input}-seed{seed}-steps{steps}"
    digest, path = train_generative(recipe, out, threads=threads, progress=progress)
    click.echo(f"model: {path}  (audit it as builtin:{out})")
    click.echo(f"weights hash: {digest}")
    if eval_n > 0:
        from vlmaudit.models.builtin import load
        from vlmaudit.train.evaluate import evaluate_generative

        metrics = evaluate_generative(load(str(path)), n=eval_n)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n")
        for key, value in metrics.items():
            click.echo(f"  {key:24s} {value:.4g}" if isinstance(value, float) else f"  {key:24s} {value}")
    if install:
        name = SHIPPED[image_input]
        for suffix in (".safetensors", ".json"):
            shutil.copyfile(path.with_suffix(suffix), WEIGHTS_DIR / f"{name}{suffix}")
        click.echo(f"installed as builtin:{name} in {WEIGHTS_DIR}")
