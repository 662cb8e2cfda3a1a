"""Benchmark metadata and published references: validated on load, and every reference names a metric.

The metric keys a suite emits are collected from the golden runs (generated scenes: transforms and
the scene benchmarks) and from running composition and spatial, with the built-in toy model, on
fixture files in every official format, holding every subset and tag a reference names.
"""

from __future__ import annotations

import json

import pytest
from PIL import Image

from golden_run import GOLDEN_DIR
from test_composition_text_order import LexiconTagger
from test_spatial_suite import _whatsup_files
from toy import ToyModel
from vlmaudit.benchmarks import SUITES, benchmarks, exclusion_list, reference_file, references_for
from vlmaudit.benchmarks.schema import BenchmarkFile, ReferenceFile
from vlmaudit.data.readers.aro import read_order
from vlmaudit.data.readers.sugarcrepe import SUBSETS as SUGARCREPE_SUBSETS
from vlmaudit.data.source import open_data
from vlmaudit.engine.core import Engine
from vlmaudit.registry import SUITES as SUITE_REGISTRY
from vlmaudit.results import metric_key
from vlmaudit.suites.base import RunContext, build_config


def _image(path, shade: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 10), (shade % 256, 255 - shade % 256, 40)).save(path)


def _whatsup(root) -> None:
    """Subsets A and B (the suite test's files) plus COCO- and GQA-spatial one/two-object files."""
    _whatsup_files(root)
    layout = {"coco": ("coco_qa_{}_obj.json", "val2017/{:012d}.jpg"),
              "gqa": ("vg_qa_{}_obj.json", "vg_images/{}.jpg")}
    for s, (name, (file, image)) in enumerate(layout.items()):
        for count in ("one", "two"):
            rows = []
            for i, (rel, opp) in enumerate((("left", "right"), ("above", "below"))):
                image_id = 100 * s + 10 * (count == "two") + i
                _image(root / image.format(image_id), 30 * i + 70 * s)
                rows.append([image_id, f"A photo of a dog {rel} a cat {count} {name}",
                             f"A photo of a dog {opp} a cat {count} {name}"])
            (root / file.format(count)).write_text(json.dumps(rows))


def _winoground(root) -> None:
    """Every collapsed_tag, num_main_preds and secondary_tag value the references name."""
    tags = [("Object", 1, "Symbolic"), ("Relation", 2, "Pragmatics"), ("Both", 1, "Series")]
    rows = []
    for i, (collapsed, preds, secondary) in enumerate(tags):
        for k in (0, 1):
            _image(root / "images" / f"ex_{i}_img_{k}.png", 50 * i + 20 * k)
        rows.append({"id": i, "image_0": f"ex_{i}_img_0", "image_1": f"ex_{i}_img_1",
                     "caption_0": f"a mug left of a plate {i}", "caption_1": f"a plate left of a mug {i}",
                     "tag": "Noun", "secondary_tag": secondary, "num_main_preds": preds,
                     "collapsed_tag": collapsed})
    (root / "examples.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def _mmvp(root) -> None:
    lines = ["Question ID,Type,Statement"]
    for q in range(1, 5):
        kind = "Orientation and Direction" if q <= 2 else "Texts"
        lines.append(f"{q},{kind},statement {q}")
        _image(root / "MLLM_VLM Images" / kind / f"{q}.jpg", 30 * q)
    (root / "Questions.csv").write_text("\n".join(lines) + "\n")


def _vg(root) -> None:
    """VG-R (two relations) and VG-A (25 items of one attribute pair, so its macro mean exists)."""
    _image(root / "images" / "img.jpg", 90)
    base = {"image_path": "img.jpg", "bbox_x": 1, "bbox_y": 1, "bbox_w": 8, "bbox_h": 6}
    relation = [dict(base, true_caption=f"the horse is {r} the grass",
                     false_caption=f"the grass is {r} the horse", relation_name=r) for r in ("eating", "on")]
    attribution = [dict(base, true_caption=f"the white horse {i} and the brown grass",
                        false_caption=f"the brown horse {i} and the white grass",
                        attributes=["white", "brown"]) for i in range(25)]
    (root / "visual_genome_relation.json").write_text(json.dumps(relation))
    (root / "visual_genome_attribution.json").write_text(json.dumps(attribution))


def _order(root) -> dict[str, str]:
    """COCO- and Flickr30k-Order in the Karpathy test layout, negatives frozen once (no POS tagger)."""
    _image(root / "images" / "a.jpg", 10)
    rows = [{"image": "images/a.jpg", "caption": ["A big man walks a small dog on the red beach."]}]
    specs = {}
    for kind, file in (("coco-order", "coco_karpathy_test.json"), ("flickr-order", "flickr30k_test.json")):
        (root / file).write_text(json.dumps(rows))
        negatives = root / f"{kind}_negatives.json"
        read_order(root / file, root, tagger=LexiconTagger(), negatives=negatives)
        specs[kind] = f"{kind}:{root / file}?negatives={negatives}"
    return specs


def _sugarcrepe(root) -> None:
    for s, subset in enumerate(SUGARCREPE_SUBSETS):
        _image(root / "val2017" / f"{s}.jpg", 30 * s)
        entry = {"filename": f"{s}.jpg", "caption": f"a white dog {s} on a red mat",
                 "negative_caption": f"a red dog {s} on a white mat"}
        (root / f"{subset}.json").write_text(json.dumps({"0": entry}))


def _hard_positives(root) -> None:
    """REPLACE (attribute and relation files) and SWAP (VG-A rows), original and swapped."""
    _image(root / "data" / "img.jpg", 20)
    files = {"vl_checklist_attributes.json": "white", "vl_checklist_relations.json": "near",
             "visual_genome_attribution.json": "brown"}
    for file, word in files.items():
        for folder, positive in (("data", f"{word} dog"), ("swapped_data", f"{word} hound")):
            rows = [{"image_path": "data/img.jpg", "bbox_x": 0, "bbox_y": 0, "bbox_w": 8, "bbox_h": 6,
                     "true_caption": positive, "false_caption": f"black dog {word}"}]
            (root / folder).mkdir(parents=True, exist_ok=True)
            (root / folder / file).write_text(json.dumps(rows))


@pytest.fixture(scope="module")
def emitted(tmp_path_factory) -> set[str]:
    """group/name of every metric the suites emit on the golden runs and the official-format fixtures."""
    keys = set()
    for path in GOLDEN_DIR.glob("*.json"):
        for unit in json.loads(path.read_text()).values():
            keys |= {key.split("@")[0] for key in unit}
    root = tmp_path_factory.mktemp("formats")
    for name, build in (("whatsup", _whatsup), ("winoground", _winoground), ("mmvp", _mmvp), ("vg", _vg),
                        ("sugarcrepe", _sugarcrepe), ("hp", _hard_positives)):
        (root / name).mkdir()
        build(root / name)
    data = {
        "spatial": [f"whatsup:{root / 'whatsup'}", f"winoground:{root / 'winoground'}",
                    f"mmvp-vlm:{root / 'mmvp'}"],
        "composition": [f"aro-vgr:{root / 'vg'}", f"aro-vga:{root / 'vg'}", *_order(root).values(),
                        f"sugarcrepe:{root / 'sugarcrepe'}?images={root / 'sugarcrepe' / 'val2017'}",
                        f"hard-positives:{root / 'hp'}"],
    }
    model = ToyModel()
    ctx = RunContext(model, Engine(model, cache_dir=None, progress=False), seed=0)
    for suite_name, specs in data.items():
        suite = SUITE_REGISTRY.get(suite_name)
        for spec in specs:
            for result in suite.run(ctx, open_data(spec), build_config(suite.Config, {"n_boot": 10})):
                keys |= {metric_key(m.group, m.name) for m in result.metrics}
    return keys


@pytest.mark.parametrize("suite", SUITES)
def test_every_reference_names_a_metric_a_suite_emits(suite, emitted):
    """Catches: a published number keyed to a metric no suite emits (a renamed group or metric, a typo),
    which would then silently never be shown beside any result."""
    missing = sorted({f"{r.group}/{r.metric}" for r in reference_file(suite).flat()} - emitted)
    assert not missing, f"references/{suite}.json names metrics no suite emits: {missing}"


def test_emitted_keys_would_catch_a_misnamed_reference(emitted):
    """Catches: an `emitted` set so broad (or empty of structure) that the check above could never fail."""
    assert "whatsup/A/individual" in emitted and "whatsup/table1/avg" in emitted
    assert "whatsup/A/individuals" not in emitted and "winoground/collapsed_tag/Objects/text" not in emitted


def test_data_files_validate_and_load():
    """Catches: a data file that no longer matches its schema, a benchmark without the chance level of its
    main score, a reference to an unknown source, or the exclusion list losing entries."""
    assert set(benchmarks()) >= {"aro/vg_relation", "sugarcrepe", "whatsup", "winoground", "mmvp-vlm",
                                 "transforms"}
    assert all(b.main_score in b.chance for b in benchmarks().values())
    assert len(exclusion_list(benchmarks()["aro/vg_relation"].exclude_list)) == 157
    for suite in SUITES:
        assert reference_file(suite).flat()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda b: b.update(main_score="nonexistent"), "no chance level"),
        (lambda b: b.update(official_tie_policy="loose"), "official_tie_policy"),
        (lambda b: b.update(chance={**b["chance"], "accuracy": 2.0}), r"\[0, 1\]"),
        (lambda b: b.update(unknown_field=1), "Extra inputs"),
    ],
)
def test_benchmark_schema_rejects_bad_entries(edit, message):
    """Catches: a schema that accepts a benchmark with no chance for its main score, an unknown tie rule,
    an impossible chance level or a misspelt field (which would be ignored)."""
    entry = benchmarks()["sugarcrepe"].model_dump()
    edit(entry)
    with pytest.raises(ValueError, match=message):
        BenchmarkFile.model_validate({"about": "", "benchmarks": [entry]})


def test_reference_schema_rejects_unknown_source_rule_and_regex():
    """Catches: a reference file whose numbers cite no known source, name an unknown rule, or carry a
    model pattern that is not a regex (it would fail only when a model is matched)."""
    good = reference_file("spatial").model_dump()

    def check(mutate, message):
        table = json.loads(json.dumps(good))
        mutate(table)
        with pytest.raises(ValueError, match=message):
            ReferenceFile.model_validate(table)

    check(lambda t: t["models"][0].update(source="nowhere"), "unknown source")
    check(lambda t: t["models"][0]["numbers"][0].update(rule="loose"), "rule")
    check(lambda t: t["models"][0].update(match=["(unclosed"]), "match pattern")


def test_references_match_by_model_pattern_and_keep_conditions():
    """Catches: references attached to a model they were not computed on, or the source's conditions
    (rule, precision) lost when a number is flattened."""
    assert references_for("builtin:default", "spatial") == ()
    refs = {(r.group, r.metric): r for r in references_for("hf:openai/clip-vit-base-patch32", "spatial")}
    a = refs[("whatsup/A", "individual")]
    assert a.value == pytest.approx(0.303) and a.rule == "argmax-first" and "fp16" in a.precision
    assert refs[("winoground", "text")].rule == "strict"
    large = {(r.group, r.metric) for r in references_for("hf:openai/clip-vit-large-patch14-336", "spatial")}
    assert ("whatsup/A", "individual") not in large and ("mmvp-vlm", "pair") in large
