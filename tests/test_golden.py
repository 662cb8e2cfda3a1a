"""The default audit against stored golden runs (see golden_run.py).

Catches: any refactor or library change that moves a reported number, CI bound, tie rate or n of
the built-in model's audit, by even one ulp.
"""

from __future__ import annotations

import json

import pytest

import vlmaudit
from golden_run import GOLDEN_DIR, SMALL_AUDIT, SMALL_GENERATIVE, compare
from vlmaudit.registry import default_suites


def _units(tmp_path, **kwargs):
    summary = vlmaudit.run(out=tmp_path / "run", cache_dir=None, progress=False, **kwargs)
    return summary.units


def test_small_audit_matches_golden(tmp_path):
    compare("small_audit", _units(tmp_path, **SMALL_AUDIT))


def test_small_generative_audit_matches_golden(tmp_path):
    """Catches a change to the generative scoring path (boundary, cache, prefix sharing, the scorers)
    that moves a number of the built-in generative models."""
    compare("small_generative", _units(tmp_path, **SMALL_GENERATIVE))


@pytest.mark.slow
@pytest.mark.parametrize("suite", default_suites())
def test_default_audit_matches_golden(tmp_path, suite):
    """One suite of `vlmaudit run` with no arguments per test (the units are independent)."""
    compare("default_audit", _units(tmp_path, suites=[suite]), suite=suite)


def test_golden_covers_the_default_audit():
    """Catches a suite or a model added to the default audit without its golden numbers."""
    from vlmaudit.models import DEFAULT_MODELS
    from vlmaudit.registry import SUITES
    from vlmaudit.runner import _default_audit_plans
    from vlmaudit.specs import ModelSpec

    suites = {name: SUITES.get(name) for name in default_suites()}
    plans = _default_audit_plans({m: ModelSpec.parse(m) for m in DEFAULT_MODELS}, suites,
                                 {name: list(suite.default_data) for name, suite in suites.items()})
    expected = {f"{model}|{suite}|{data}" for model, plan in plans.items() for suite, datas in plan.items()
                for data in datas}
    assert set(json.loads((GOLDEN_DIR / "default_audit.json").read_text())) == expected
