"""The default audit against stored golden runs (see golden_run.py).

Catches: any refactor or library change that moves a reported number, CI bound, tie rate or n of
the built-in model's audit, by even one ulp.
"""

from __future__ import annotations

import json

import pytest

import vlmaudit
from golden_run import GOLDEN_DIR, SMALL_AUDIT, compare
from vlmaudit.registry import default_suites


def _units(tmp_path, **kwargs):
    summary = vlmaudit.run(out=tmp_path / "run", cache_dir=None, progress=False, **kwargs)
    return summary.units


def test_small_audit_matches_golden(tmp_path):
    compare("small_audit", _units(tmp_path, **SMALL_AUDIT))


@pytest.mark.slow
@pytest.mark.parametrize("suite", default_suites())
def test_default_audit_matches_golden(tmp_path, suite):
    """One suite of `vlmaudit run` with no arguments per test (the units are independent)."""
    compare("default_audit", _units(tmp_path, suites=[suite]), suite=suite)


def test_golden_covers_the_default_audit():
    """Catches a suite added to the default audit without its golden numbers."""
    stored = {unit.split("|")[1] for unit in json.loads((GOLDEN_DIR / "default_audit.json").read_text())}
    assert stored == set(default_suites())
