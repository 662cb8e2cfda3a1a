"""`vlmaudit ls` lists what a user can name on the command line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from vlmaudit.cli import cli


@pytest.mark.parametrize(("what", "expected"), [
    ("models", ["builtin:scenes", "hf:...", "openclip:..."]),
    ("suites", ["transforms", "composition", "spatial"]),
    ("datasets", ["scenes", "captions", "sugarcrepe", "whatsup", "winoground", "mmvp-vlm", "aro-vgr",
                  "image-folder", "vlmclassifier", "labels", "waterbirds"]),
    ("transforms", ["rotate_90", "hflip", "grayscale", "jpeg"]),
])
def test_ls_lists_every_registered_name(what, expected):
    result = CliRunner().invoke(cli, ["ls", what], catch_exceptions=False)
    assert result.exit_code == 0
    names = {line.split()[0] for line in result.output.splitlines() if line.strip()}
    assert set(expected) <= names, result.output


def test_ls_datasets_shows_every_registered_dataset_with_its_summary():
    """Catches: a registered reader missing from `vlmaudit ls datasets`, or listed without the
    one-line summary that says what files it reads."""
    from vlmaudit.registry import DATASETS

    result = CliRunner().invoke(cli, ["ls", "datasets"], catch_exceptions=False)
    rows = dict(line.partition(" ")[::2] for line in result.output.splitlines() if line.strip())
    rows = {name: summary.strip() for name, summary in rows.items()}
    assert rows == {entry.name: entry.summary for entry in DATASETS.entries()}
