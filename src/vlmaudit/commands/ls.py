"""`vlmaudit ls`: what is registered, without importing heavy backends."""

from __future__ import annotations

import click

from vlmaudit.registry import DATASETS, MODEL_BACKENDS, SUITES


def _print(rows: list[tuple[str, str]]) -> None:
    width = max((len(name) for name, _ in rows), default=0)
    for name, summary in rows:
        click.echo(f"{name:<{width}}  {summary}")


@click.command()
@click.argument("what", type=click.Choice(["models", "suites", "datasets", "transforms"]))
def ls(what: str) -> None:
    """List models, suites, datasets or transforms."""
    if what == "models":
        rows = [(f"{e.name}:...", e.summary) for e in MODEL_BACKENDS.entries()]
        from vlmaudit.models.builtin import shipped_models

        rows += [(f"builtin:{name}", summary) for name, summary in shipped_models().items()]
        _print(rows)
    elif what == "suites":
        _print([(e.name, e.summary) for e in SUITES.entries()])
    elif what == "datasets":
        _print([(e.name, e.summary) for e in DATASETS.entries()])
    else:
        from vlmaudit.perturb.image_transforms import catalogue_rows

        _print([(row["name"], f"[{row['category']}] {row['params']}  \"{row['description']}\"")
                for row in catalogue_rows()])
