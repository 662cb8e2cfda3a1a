"""`vlmaudit ls` lists what a user can name on the command line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from vlmaudit.cli import cli


@pytest.mark.parametrize(("what", "expected"), [
    ("models", ["builtin:scenes", "hf:...", "openclip:..."]),
    ("suites", ["transforms", "composition", "spatial"]),
    ("datasets", ["scenes", "captions", "sugarcrepe", "whatsup", "winoground", "mmvp-vlm", "aro-vgr"]),
    ("transforms", ["rotate_90", "hflip", "grayscale", "jpeg"]),
])
def test_ls_lists_every_registered_name(what, expected):
    result = CliRunner().invoke(cli, ["ls", what], catch_exceptions=False)
    assert result.exit_code == 0
    names = {line.split()[0] for line in result.output.splitlines() if line.strip()}
    assert set(expected) <= names, result.output
