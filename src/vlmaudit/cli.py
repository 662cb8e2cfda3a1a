"""`vlmaudit` command line. Subcommands load lazily so `vlmaudit --help` does not import torch."""

from __future__ import annotations

import importlib
import sys

import click

from vlmaudit.errors import VlmauditError

COMMANDS = {
    "run": ("vlmaudit.commands.run:run", "Run audit suites on one or more models."),
    "ls": ("vlmaudit.commands.ls:ls", "List models, suites, datasets or transforms."),
    "embed": ("vlmaudit.commands.embed:embed", "Export embeddings of images and texts."),
    "train": ("vlmaudit.commands.train:train", "Train the built-in model or fine-tune a model."),
    "data": ("vlmaudit.commands.data:data", "Export generated datasets to files."),
    "report": ("vlmaudit.commands.report:report", "Write a run's self-contained HTML report."),
    "compare": ("vlmaudit.commands.compare:compare", "Compare runs or models with paired bootstrap CIs."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, _, attr = COMMANDS[name][0].partition(":")
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in sorted(COMMANDS)])


@click.group(cls=LazyGroup)
@click.version_option(package_name="vlmaudit")
def cli() -> None:
    """Audit vision-language models for documented failure modes."""


def main() -> None:
    """Entry point: user-input errors become one line on stderr and exit code 2."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except VlmauditError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    except OSError as err:  # an unwritable --out, a full disk: the file named is the user's to fix
        if err.filename is None:
            raise
        click.echo(f"error: {err.strerror or err}: {err.filename}", err=True)
        sys.exit(2)
