"""A model whose text embeddings all coincide, through the CLI: every choice among captions ties.

Catches float noise passed off as a decision. Before scores were taken once per distinct pair of
embedding rows, `torch.einsum` gave identical captions slightly different scores in most items, so
such a model scored 0.43 on SugarCrepe with a 14% tie rate (the answer is 0 with 100% ties) and
Order 0.39 under argmax-first (the answer is 1.0: the gold caption is listed first).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from vlmaudit.cli import cli
from vlmaudit.registry import MODEL_BACKENDS

# metrics whose items choose among captions (Winoground's image score and MMVP choose among images)
CAPTION_CHOICE_SPATIAL = ("whatsup-like/scenes/individual", "whatsup-like/scenes/pair",
                          "whatsup-like/scenes/set",
                          "whatsup-like/scenes/two-way/individual", "whatsup-like/scenes/two-way/pair",
                          "winoground-like/text", "winoground-like/group")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    MODEL_BACKENDS.register("toy", "toy:load")
    out = tmp_path_factory.mktemp("coincident") / "run"
    result = CliRunner().invoke(cli, [
        "run", "composition", "spatial", "--model", "toy:coincident", "--data", "scenes?n=60&size=32",
        "--out", str(out), "--cache-dir", "none", "--quiet",
        "--option", "composition.n_boot=20", "--option", "spatial.n_boot=20",
        "--option", "spatial.n_sets=6", "--option", "spatial.n_groups=8", "--option", "spatial.n_pairs=8",
    ], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def _unit(run_dir, suite):
    (path,) = run_dir.glob(f"*/{suite}/*/results.json")
    return json.loads(path.read_text())


def _strict(metric) -> bool:
    return "@" not in metric["name"] and not metric.get("variant")


def test_composition_scores_zero_with_every_item_tied(run_dir):
    unit = _unit(run_dir, "composition")
    checked = 0
    for metric in unit["metrics"]:
        if _strict(metric) and metric["name"] in ("accuracy", "precision@1", "orig_accuracy", "aug_accuracy"):
            assert metric["value"] == 0.0, metric
            assert metric["tie_rate"] == 1.0, metric
            checked += 1
    assert checked >= 10


def test_composition_legacy_rule_equals_the_original_argmax(run_dir):
    """The original repositories take np.argmax, which on an all-tied row picks the first option: the
    argmax-first value is the share of items whose gold option is listed first (ARO VG-R lists the
    false caption first, so 0; Order lists the true caption first, so 1)."""
    unit = _unit(run_dir, "composition")
    samples_dir = next(run_dir.glob("*/composition/*/samples"))
    checked = 0
    for group, block in unit["extra"]["per_benchmark"].items():
        main, sweep = block["main_score"], block["tie_policies"]
        if main not in ("accuracy", "precision@1"):
            continue
        rows = [json.loads(line) for line in
                (samples_dir / f"{group.replace('/', '-')}.jsonl").read_text().splitlines()]
        assert all(row["tied"] for row in rows), group
        assert sweep[main]["strict"] == 0.0 and sweep[main]["lenient"] == 1.0, group
        assert sweep[main]["argmax-first"] == np.mean([row["gold"] == 0 for row in rows]), group
        checked += 1
    assert checked >= 8


def test_spatial_caption_choices_score_zero_with_every_item_tied(run_dir):
    unit = _unit(run_dir, "spatial")
    checked = 0
    for metric in unit["metrics"]:
        key = f"{metric['group']}/{metric['name']}"
        if not _strict(metric) or key not in CAPTION_CHOICE_SPATIAL:
            continue
        assert metric["value"] == 0.0, key
        assert metric["tie_rate"] == 1.0, key
        checked += 1
    assert checked == len(CAPTION_CHOICE_SPATIAL)


def test_whatsup_legacy_argmax_with_gold_first_counts_every_tie_right(run_dir):
    """What'sUp's code takes np.argmax over options listed gold first: an all-tied model scores 1."""
    unit = _unit(run_dir, "spatial")
    legacy = {f"{m['group']}/{m['name']}": m["value"] for m in unit["metrics"]
              if m.get("variant") == "legacy" or m["name"].endswith("@legacy")}
    individual = [v for k, v in legacy.items() if k.startswith("whatsup-like/scenes/individual")]
    assert individual and np.all(np.asarray(individual) == 1.0)
