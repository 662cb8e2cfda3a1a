"""The default audit against stored golden runs (see golden_run.py).

Catches: any refactor or library change that moves a reported number, CI bound, tie rate or n of
the built-in model's audit, by even one ulp.
"""

from __future__ import annotations

import pytest

import vlmaudit
from golden_run import SMALL_AUDIT, compare


def _units(tmp_path, **kwargs):
    summary = vlmaudit.run(out=tmp_path / "run", cache_dir=None, progress=False, **kwargs)
    return summary.units


def test_small_audit_matches_golden(tmp_path):
    compare("small_audit", _units(tmp_path, **SMALL_AUDIT))


@pytest.mark.slow
def test_default_audit_matches_golden(tmp_path):
    compare("default_audit", _units(tmp_path))
