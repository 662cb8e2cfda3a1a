"""Every composition, spatial and transforms benchmark runs on each of the nine HF generative
families, loaded back through the public spec (tiny random models built offline by the tests).

Numbers of a random model mean nothing; what is checked is that each benchmark produces its metrics
with n > 0, the blind baselines of the generative family beside them, and nothing that needs an
embedding the family does not have.
"""

from __future__ import annotations

import pytest

from hf_generative_fixtures import FAMILIES, build_tiny
from vlmaudit.runner import run

OPTIONS = {
    "composition": {"n_boot": 20},
    "spatial": {"n_boot": 20, "n_sets": 1, "n_groups": 1, "n_pairs": 1, "n_prior": 2},
    "transforms": {"n_boot": 20, "n_images": 2, "transforms": "rotate_90,grayscale,blur"},
}


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_every_benchmark_runs_on_the_family(family, tmp_path):
    """Catches a family whose template, padding or text-only path breaks a benchmark end to end."""
    path = build_tiny(family, tmp_path / "models")
    spec = f"hfgen:{path}?score=vqa" if family in ("paligemma", "qwen2_vl") else f"hf:{path}"
    summary = run([spec], list(OPTIONS), ["scenes?n=4"], out=tmp_path / "run", cache_dir=None,
                  progress=False, options=OPTIONS, batch_size=16)
    units = {unit["suite"]: unit for unit in summary.units}
    assert set(units) == set(OPTIONS)
    groups = {m["group"].split("/")[0] + "/" + m["group"].split("/")[1] if "/" in m["group"] else m["group"]
              for m in units["composition"]["metrics"]}
    assert len(groups) >= 5, groups
    spatial = {m["group"].split("/")[0] for m in units["spatial"]["metrics"]}
    assert {"whatsup-like", "winoground-like", "mmvp-like"} <= spatial
    assert all(m["n"] > 0 for unit in summary.units for m in unit["metrics"])
    assert units["composition"]["provenance"]["model"]["family"] == "generative"
