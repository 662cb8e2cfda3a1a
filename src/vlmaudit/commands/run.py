"""`vlmaudit run`: the main job."""

from __future__ import annotations

from collections import defaultdict

import click
from click.core import ParameterSource

from vlmaudit.errors import SpecError


def parse_options(pairs: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """`--option suite.key=value` pairs -> {"suite": {"key": "value"}}."""
    options: dict[str, dict[str, str]] = defaultdict(dict)
    for pair in pairs:
        target, eq, value = pair.partition("=")
        suite, dot, key = target.partition(".")
        if not eq or not dot or not suite or not key:
            raise SpecError(f"--option {pair!r} must look like SUITE.KEY=VALUE")
        options[suite][key] = value
    return dict(options)


def _announce(payload: dict) -> None:
    unit = f"{payload['model']} / {payload['suite']} / {payload['data']}"
    click.echo(f"done: {unit} ({payload['seconds']:.1f} s)")


@click.command()
@click.argument("more_suites", nargs=-1, metavar="[SUITES]...")
@click.option("--model", "models", multiple=True,
              help="builtin:NAME, hf:DIR_OR_HUB_NAME or openclip:ARCH[:TAG_OR_CKPT] (repeatable); "
                   "default builtin:scenes.")
@click.option("--suite", "suites", multiple=True, help="Suite name(s), repeatable; default all.")
@click.option("--data", "data", multiple=True,
              help="NAME[:PATH][?k=v&...] or a path (repeatable); default: each suite's own.")
@click.option("--out", type=click.Path(), default=None, help="Run directory (default runs/<time>-<model>).")
@click.option("--device", default="cpu", show_default=True)
@click.option("--dtype", default="fp32", show_default=True, type=click.Choice(["fp32", "bf16", "fp16"]))
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--option", "option_pairs", multiple=True, help="Suite config override SUITE.KEY=VALUE.")
@click.option("--cache-dir", default="default", help="Embedding cache dir; 'none' disables.")
@click.option("--resume", is_flag=True, help="Continue or extend the run in --out.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def run(more_suites, models, suites, data, out, device, dtype, batch_size, seed, option_pairs, cache_dir,
        resume, quiet):
    """Run audit suites on one or more models and print a summary table.

    \b
    Examples:
      vlmaudit run                                   all suites, builtin:scenes, generated scenes
      vlmaudit run composition spatial               suites named positionally (or --suite NAME)
      vlmaudit run --model hf:DIR --model openclip:ViT-B-32-quickgelu:openai
      vlmaudit run composition --data "sugarcrepe:DIR?images=COCO_VAL2017"
      vlmaudit run --data "scenes?n=200&seed=7" --option transforms.n_images=100

    Specs: `vlmaudit ls models|suites|datasets|transforms`.
    """
    from vlmaudit.registry import SUITES
    from vlmaudit.report.table import print_table
    from vlmaudit.runner import run as run_audit

    ctx = click.get_current_context()

    def typed(name: str, value):
        """None for an option the user did not type: the runner then takes the resumed run's value."""
        return None if ctx.get_parameter_source(name) == ParameterSource.DEFAULT else value

    suite_names = [name for entry in (*suites, *more_suites) for name in entry.replace(",", " ").split()]
    summary = run_audit(
        models=list(models), suites=suite_names, data=list(data), out=out, device=typed("device", device),
        dtype=typed("dtype", dtype), batch_size=typed("batch_size", batch_size), seed=typed("seed", seed),
        options=parse_options(option_pairs),
        cache_dir=None if cache_dir == "none" else cache_dir, resume=resume, progress=not quiet,
        on_unit=_announce,
    )
    print_table(summary.units)
    for name in summary.skipped:  # otherwise "all suites" on a caption manifest looks like a full audit
        accepts = ", ".join(kind.__name__ for kind in SUITES.get(name).accepts)
        click.echo(f"skipped: {name} (none of the --data has the items it needs: {accepts})")
    for unit in summary.unsupported:
        click.echo(f"not run: {unit} (the suite does not audit this model family)")
    click.echo(f"results: {summary.out}  ({summary.seconds:.1f} s)")
