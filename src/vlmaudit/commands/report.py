"""`vlmaudit report`: (re)write a run's self-contained report.html from its stored results."""

from __future__ import annotations

import click


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None,
              help="Output file (default RUN_DIR/report.html).")
def report(run_dir: str, out: str | None) -> None:
    """Render RUN_DIR's results, figures and samples as one HTML file that needs no network.

    \b
    Example:
      vlmaudit report runs/20260101-120000-scenes -o audit.html
      open it with a filter: audit.html#filter=outcome:wrong
    """
    from vlmaudit.report.html import write_report

    path = write_report(run_dir, out)
    click.echo(f"report: {path} ({path.stat().st_size / 1e6:.1f} MB)")
