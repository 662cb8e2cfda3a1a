"""`vlmaudit compare`: runs side by side, with paired bootstrap CIs of each difference."""

from __future__ import annotations

import click


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None, help="Also write an HTML table.")
@click.option("--n-boot", default=1000, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--all", "every", is_flag=True, help="Every metric, not only each unit's headline.")
def compare(paths: tuple[str, ...], out: str | None, n_boot: int, seed: int, every: bool) -> None:
    """Compare two or more runs, unit directories, or the models of one run, on the items they share.

    \b
    Examples:
      vlmaudit compare runs/a runs/b
      vlmaudit compare runs/two-models -o compare.html
    """
    from vlmaudit.report.compare import compare as compare_sides
    from vlmaudit.report.compare import print_differences, sides_of, write_compare_html

    sides = sides_of(list(paths))
    differences = compare_sides(sides, n_boot=n_boot, seed=seed, headline_only=not every)
    print_differences(sides, differences)
    if out is not None:
        click.echo(f"compare: {write_compare_html(sides, differences, out)}")
