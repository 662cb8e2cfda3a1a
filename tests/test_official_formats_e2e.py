"""`vlmaudit run --suite composition spatial` end to end, through the CLI, on every official file format.

A tiny random HF CLIP reads fixture files written by the reader tests' own helpers (ARO VG-R / VG-A
and COCO-Order, SugarCrepe, hard positives, What'sUp, Winoground, MMVP-VLM). The checks are what a
user relies on: every (suite, data) unit has a results.json with the fixture's item counts and the
model's provenance, the run is marked complete, chance levels are each benchmark's own, and the
headline numbers can be recomputed from the per-item samples the run wrote. A missing image stops
the run with exit code 2 and one line naming the file, and leaves no results.json for that unit
(while the unit before it, whose spec differs only in its last characters, keeps its own folder).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from model_fixtures import make_tiny_hf_clip
from test_composition_text_order import LexiconTagger
from test_hard_positives import repo  # noqa: F401 (fixture: data/ + swapped_data/ layout)
from test_readers_aro import karpathy, vg_root  # noqa: F401 (fixtures: VG JSONs, Karpathy test JSON)
from test_readers_spatial import _mmvp, _winoground
from test_spatial_suite import _whatsup_files
from vlmaudit.cli import cli, main
from vlmaudit.data.readers.aro import read_order
from vlmaudit.report.rundir import slug

FAST = ["--option", "composition.n_boot=50", "--option", "spatial.n_boot=50"]


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """(spec, weights hash) of a 2-layer random HF CLIP directory, built once for the module."""
    from vlmaudit.models import load_model

    spec = make_tiny_hf_clip(tmp_path_factory.mktemp("tiny-clip"))
    return spec, load_model(spec).weights_hash


def _sugarcrepe(root, subsets=(("swap_att", 3), ("add_obj", 2))):
    """SugarCrepe's released layout: <subset>.json = {id: {filename, caption, negative_caption}}."""
    (root / "val2017").mkdir(parents=True)
    for s, (subset, n) in enumerate(subsets):
        entries = {}
        for i in range(n):
            filename = f"{s:06d}{i:06d}.jpg"
            Image.new("RGB", (24, 18), (60 * i, 40 * s, 90)).save(root / "val2017" / filename)
            entries[str(i)] = {"filename": filename, "caption": f"a white dog {i} on a red mat",
                               "negative_caption": f"a red dog {i} on a white mat"}
        (root / f"{subset}.json").write_text(json.dumps(entries))
    return root


def _cli(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _units(out) -> dict[tuple[str, str], tuple[Path, dict]]:
    """(suite, data spec) -> (unit folder, results.json payload) for every finished unit of a run."""
    found = {}
    for path in sorted(out.glob("*/*/*/results.json")):
        payload = json.loads(path.read_text())
        found[(payload["suite"], payload["data"])] = path.parent, payload
    return found


def _metrics(payload) -> dict[str, dict]:
    return {f"{m['group']}:{m['name']}" + (f"@{m['variant']}" if m.get("variant") else ""): m
            for m in payload["metrics"]}


def _samples(unit: Path, payload: dict, table: str) -> list[dict]:
    return [json.loads(line) for line in (unit / payload["samples"][table]).read_text().splitlines()]


def test_composition_and_spatial_run_on_every_official_format(tmp_path, vg_root, karpathy, repo,  # noqa: F811
                                                              tiny_clip):
    spec, weights_hash = tiny_clip
    # the reader tests' fixtures share tmp_path: VG JSONs + images/, Karpathy JSON + val2014/, hard
    # positives' data/ + swapped_data/. COCO-Order negatives are frozen once: the run needs no POS tagger.
    negatives = tmp_path / "order_negatives.json"
    read_order(karpathy / "coco_karpathy_test.json", karpathy, tagger=LexiconTagger(), negatives=negatives)
    sugarcrepe = _sugarcrepe(tmp_path / "sugarcrepe")
    for name in ("whatsup", "winoground", "mmvp"):
        (tmp_path / name).mkdir()
    _whatsup_files(tmp_path / "whatsup")  # subsets A and B, 2 object pairs x 4 relations each
    _winoground(tmp_path / "winoground", n=2)
    _mmvp(tmp_path / "mmvp", pairs=2)

    counts = {  # data spec -> {metric: n}, per the fixture files
        ("composition", f"aro-vgr:{vg_root}"): {"aro/vg_relation:accuracy": 2,
                                                "aro/vg_relation:macro_accuracy": 2},
        ("composition", f"aro-vga:{vg_root}"): {"aro/vg_attribution:accuracy": 2},
        ("composition", f"coco-order:{karpathy}?negatives={negatives}"): {
            "aro/coco_order:precision@1": 2},  # of 3 captions, "a dog." has only token-identical shuffles
        ("composition", f"sugarcrepe:{sugarcrepe}?images={sugarcrepe / 'val2017'}"): {
            "sugarcrepe/swap_att:accuracy": 3, "sugarcrepe/add_obj:accuracy": 2,
            "sugarcrepe/overall:accuracy": 5},
        ("composition", f"hard-positives:{repo}"): {"hard_positives/replace_att:aug_accuracy": 3,
                                                    "hard_positives/replace_rel:aug_accuracy": 2},
        ("spatial", f"whatsup:{tmp_path / 'whatsup'}"): {
            "whatsup/A:individual": 8, "whatsup/A:pair": 4, "whatsup/A:set": 2, "whatsup/B:individual": 8},
        ("spatial", f"winoground:{tmp_path / 'winoground'}"): {
            "winoground:text": 2, "winoground:image": 2, "winoground:group": 2},
        ("spatial", f"mmvp-vlm:{tmp_path / 'mmvp' / 'Questions.csv'}"): {"mmvp-vlm:pair": 2},
    }
    out = tmp_path / "run"
    data_args = [arg for _, data in counts for arg in ("--data", data)]
    result = _cli("run", "--model", spec, "--suite", "composition", "spatial", *data_args, "--out", str(out),
                  "--cache-dir", "none", "--quiet", *FAST)
    assert result.exit_code == 0, result.output
    assert "results:" in result.output and result.output.count("done: ") == len(counts)

    units = _units(out)
    assert set(units) == set(counts)
    for (suite, data), expected in counts.items():
        unit, payload = units[(suite, data)]
        assert unit == out / slug(spec) / suite / slug(data)
        metrics = _metrics(payload)
        assert {key: metrics[key]["n"] for key in expected} == expected, data
        provenance = payload["provenance"]
        assert provenance["model"]["spec"] == spec and provenance["model"]["weights_hash"] == weights_hash
        assert provenance["data"]["spec"] == data and len(provenance["data"]["fingerprint"]) == 32
        for headline in payload["headline"]:  # every headline number carries its tie rate and a CI
            group, _, name = headline.rpartition("/")
            metric = metrics[f"{group}:{name}"]
            assert metric["tie_rate"] is not None and 0.0 <= metric["tie_rate"] <= 1.0, headline
            assert metric["ci_low"] <= metric["value"] <= metric["ci_high"], headline
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is True
    assert {(u["suite"], u["data"]) for u in summary["units"]} == set(counts)

    run = {data.partition(":")[0]: unit_payload for (_, data), unit_payload in units.items()}
    metric = {kind: _metrics(payload) for kind, (_, payload) in run.items()}
    # VG-A's macro mean counts only attribute pairs seen >= 25 times; with none it is flagged as not
    # computed and the headline shows the micro accuracy (this used to crash the run)
    vga = run["aro-vga"][1]
    assert "aro/vg_attribution:macro_accuracy" not in metric["aro-vga"]
    assert vga["headline"] == ["aro/vg_attribution/accuracy"]
    assert any(f.startswith("aro/vg_attribution/macro_accuracy: no group has >= 25") for f in vga["flags"])

    # chance levels are each benchmark's own definition
    assert metric["sugarcrepe"]["sugarcrepe/overall:accuracy"]["chance"] == 0.5
    assert metric["coco-order"]["aro/coco_order:precision@1"]["chance"] == 0.2
    hp_att = metric["hard-positives"]["hard_positives/replace_att:aug_accuracy"]
    assert hp_att["chance"] == pytest.approx(1 / 3)
    assert metric["whatsup"]["whatsup/A:individual"]["chance"] == 0.25
    assert metric["winoground"]["winoground:group"]["chance"] == pytest.approx(1 / 6)
    assert metric["mmvp-vlm"]["mmvp-vlm:pair"]["chance"] == 0.25

    # the reported numbers follow from the per-item scores the run wrote (strict rule: a tie is wrong)
    rows = _samples(*run["sugarcrepe"], "sugarcrepe/swap_att")
    assert len(rows) == 3 and all(r["gold"] == 0 for r in rows)
    swap_att = np.mean([r["scores"][0] > r["scores"][1] for r in rows])
    assert metric["sugarcrepe"]["sugarcrepe/swap_att:accuracy"]["value"] == pytest.approx(swap_att)
    c, c_pos, c_neg = np.array([r["scores"] for r in _samples(*run["hard-positives"],
                                                               "hard_positives/replace_att")]).T
    aug = (c > c_neg) & (c_pos > c_neg)  # Kamath et al.: caption and hard positive both beat the negative
    assert hp_att["value"] == pytest.approx(aug.mean())
    rows = _samples(*run["whatsup"], "whatsup/A")
    individual = np.mean([r["scores"][0] > max(r["scores"][1:]) for r in rows])  # gold caption listed first
    assert metric["whatsup"]["whatsup/A:individual"]["value"] == pytest.approx(individual)
    s = np.array([r["scores"] for r in _samples(*run["winoground"], "winoground")])  # [item, caption, image]
    text = (s[:, 0, 0] > s[:, 1, 0]) & (s[:, 1, 1] > s[:, 0, 1])
    image = (s[:, 0, 0] > s[:, 0, 1]) & (s[:, 1, 1] > s[:, 1, 0])
    assert metric["winoground"]["winoground:text"]["value"] == pytest.approx(text.mean())
    assert metric["winoground"]["winoground:image"]["value"] == pytest.approx(image.mean())
    assert metric["winoground"]["winoground:group"]["value"] == pytest.approx((text & image).mean())


def test_missing_image_stops_the_run_with_one_line_naming_it(tmp_path, tiny_clip, monkeypatch, capsys):
    spec, _ = tiny_clip
    root = _sugarcrepe(tmp_path / "sugarcrepe", subsets=(("swap_att", 3), ("swap_obj", 2)))
    missing = root / "val2017" / "000001000001.jpg"  # swap_obj.json entry "1"
    missing.unlink()
    # one folder, one subset per spec: the two specs differ only at their end (unit folders must not)
    good_spec, bad_spec = (f"sugarcrepe:{root}?images={root / 'val2017'}&subsets={name}"
                           for name in ("swap_att", "swap_obj"))
    out = tmp_path / "run"
    args = ["run", "--model", spec, "--suite", "composition", "--data", good_spec, "--data", bad_spec,
            "--out", str(out), "--cache-dir", "none", "--quiet", *FAST[:2]]
    monkeypatch.setattr(sys, "argv", ["vlmaudit", *args])  # exactly what the installed `vlmaudit` runs
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err  # --quiet: no progress bar either
    assert str(missing) in err and str(root / "swap_obj.json") in err
    assert not out.exists()  # all data is read before any model loads: nothing ran, nothing written
