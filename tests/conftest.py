"""Shared fixtures. Tests never touch the network: models are built locally and small."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# One intra-op thread unless told otherwise (`make test` sets it): the goldens were written at one
# thread, a float reduction's last bits can depend on the thread count, and two xdist workers
# on two cores at two threads each oversubscribe.
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).parent))

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(autouse=True)
def _isolated_embedding_cache(tmp_path_factory, monkeypatch):
    """Engines built with the default cache dir write under a per-test tmp dir, never ~/.cache."""
    monkeypatch.setenv("VLMAUDIT_CACHE", str(tmp_path_factory.mktemp("vlmaudit-cache")))


@pytest.fixture(autouse=True)
def _registries_restored():
    """Whatever a test registers (fake suites, datasets, backends) is gone after it, so tests that
    walk every registered dataset or suite see the same registry in any order or worker."""
    from vlmaudit.registry import DATASETS, MODEL_BACKENDS, SUITES

    saved = [(registry, dict(registry._entries)) for registry in (DATASETS, MODEL_BACKENDS, SUITES)]
    yield
    for registry, entries in saved:
        registry._entries.clear()
        registry._entries.update(entries)


@pytest.fixture
def fakes_registered():
    """The toy backend and the fake suite/dataset (tests/fake_suite.py) registered for one test."""
    import fake_suite
    from vlmaudit.registry import DATASETS, MODEL_BACKENDS, SUITES

    MODEL_BACKENDS.register("toy", "toy:load")
    SUITES.register("fake", "fake_suite:SUITE")
    DATASETS.register("fake", "fake_suite:open_source")
    fake_suite.CALLS.clear()


@pytest.fixture
def toy_model():
    from toy import ToyModel

    return ToyModel()


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the checkout (present on dev machines and in CI)."""
    path = SHARED / "data"
    if not path.exists():
        pytest.skip("../shared/data is not beside this checkout")
    return path
