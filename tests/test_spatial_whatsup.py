"""What'sUp scoring in the suite: a hand-made score table through `spatial_whatsup.evaluate`."""

import numpy as np
import pytest
from PIL import Image

from toy import ToyModel
from vlmaudit.benchmarks import references_for
from vlmaudit.data.images import memory_image
from vlmaudit.data.items import SpatialChoice
from vlmaudit.data.readers.whatsup import SUBSETS
from vlmaudit.engine.core import Engine
from vlmaudit.metrics.kit import Kit
from vlmaudit.scoring.cosine import CosineScorer
from vlmaudit.suites.spatial import whatsup as spatial_whatsup
from vlmaudit.suites.spatial.common import variants

PHRASE = {"left": "to the left of", "right": "to the right of", "on": "on", "under": "under"}
ORDER = ["left", "right", "on", "under"]
OPPOSITE = {"left": "right", "right": "left", "on": "under", "under": "on"}
# rows: mug/table left, right, on, under; cup/chair left, right, on, under. Gold = column 0; the
# other columns follow ORDER without the gold preposition.
TABLE = np.array(
    [
        [0.9, 0.1, 0.2, 0.3],
        [0.5, 0.5, 0.1, 0.1],  # tie with the opposite (column 1 = "left")
        [0.7, 0.2, 0.1, 0.0],
        [0.6, 0.1, 0.1, 0.2],
        [0.4, 0.1, 0.2, 0.3],
        [0.3, 0.4, 0.1, 0.1],  # opposite wins
        [0.2, 0.1, 0.9, 0.0],
        [0.3, 0.3, 0.3, 0.3],  # all tied
    ],
    dtype=np.float32,
)


def _items():
    items = []
    for g, (obj, ref) in enumerate((("mug", "table"), ("cup", "chair"))):
        for r, rel in enumerate(ORDER):
            order = [rel] + [o for o in ORDER if o != rel]
            options = tuple(f"A {obj} {PHRASE[o]} the {ref}" for o in order)
            image = memory_image(Image.new("RGB", (8, 8), (40 * g, 30 * r, 9)))
            items.append(SpatialChoice(image, options, rel, f"{obj}/{ref}", order.index(OPPOSITE[rel]), "A"))
    return items


class TableScorer(CosineScorer):
    """Returns the hand-made table instead of model scores (blind scorers still use the engine)."""

    def image_options(self, images, options, views=None):
        return TABLE[: len(images)]


def _run(policy="strict", spec="toy", legacy=True, items=None):
    model = ToyModel()
    scorer = TableScorer(Engine(model, cache_dir=None, progress=False))
    kit = Kit(seed=0, n_boot=50, references=references_for(spec, "spatial"))
    out = spatial_whatsup.evaluate(
        scorer, kit, SUBSETS["A"], items or _items(), prefix="whatsup",
        variants=variants(policy, spatial_whatsup.LEGACY_4WAY, legacy),
        two_way_variants=variants(policy, spatial_whatsup.LEGACY_2WAY, legacy))
    return {m.key: m for m in out.metrics}, out


def test_four_way_metrics_under_both_tie_rules():
    metrics, out = _run()
    legacy_correct = np.argmax(TABLE, axis=1) == 0
    strict_correct = np.array([all(row[0] > row[1:]) for row in TABLE])
    assert metrics["whatsup/A/individual"].value == pytest.approx(strict_correct.mean())  # 4/8
    assert metrics["whatsup/A/individual@legacy"].value == pytest.approx(legacy_correct.mean())  # 6/8
    assert metrics["whatsup/A/individual"].tie_rate == pytest.approx(2 / 8)
    # pairs / (N/2) and sets / (N/4), the official counting
    for suffix, correct in (("", strict_correct), ("@legacy", legacy_correct)):
        table = {(g, r): c for g, r, c in zip([0] * 4 + [1] * 4, ORDER * 2, correct, strict=True)}
        opposites = (("left", "right"), ("on", "under"))
        pairs = sum(table[(g, a)] and table[(g, b)] for g in (0, 1) for a, b in opposites)
        sets = sum(all(table[(g, r)] for r in ORDER) for g in (0, 1))
        assert metrics[f"whatsup/A/pair{suffix}"].value == pytest.approx(pairs / 4)
        assert metrics[f"whatsup/A/set{suffix}"].value == pytest.approx(sets / 2)
    assert metrics["whatsup/A/pair@legacy"].n == 4 and metrics["whatsup/A/set@legacy"].n == 2
    assert metrics["whatsup/A/set"].chance == pytest.approx(1 / 256)
    assert metrics["whatsup/A/relation/under/individual@legacy"].value == pytest.approx(1.0)
    assert out.individual == {"": 0.5, "legacy": 0.75}


def test_two_way_is_li_et_al():
    metrics, _ = _run()
    opp_col = [1, 1, 3, 3, 1, 1, 3, 3]  # where the opposite caption sits in each row of TABLE
    gold = TABLE[:, 0]
    opp = TABLE[np.arange(8), opp_col]
    correct = gold > opp  # strict: p_gold > p_opposite
    assert metrics["whatsup/A/two-way/individual"].value == pytest.approx(correct.mean())
    lr = [0, 1, 4, 5]
    lr_metric = metrics["whatsup/A/two-way/left-right/individual"]
    assert lr_metric.value == pytest.approx(correct[lr].sum() / (8 / 2))
    ou_pairs = (correct[2] and correct[3]) + (correct[6] and correct[7])
    assert metrics["whatsup/A/two-way/on-under/pair"].value == pytest.approx(ou_pairs / (8 / 4))
    assert metrics["whatsup/A/two-way/on-under/pair"].value == pytest.approx(0.5)
    assert "whatsup/A/two-way/individual@legacy" not in metrics  # Li's rule is the configured one


def test_blind_baselines_use_the_same_rule():
    metrics, _ = _run()
    items = _items()
    lengths = np.array([[len(o.split()) for o in it.options] for it in items])
    shorter_strict = np.mean([row[0] < row[1:].min() for row in lengths])
    longer_legacy = np.mean(np.argmax(lengths, axis=1) == 0)
    assert metrics["whatsup/A/individual"].baselines["length_shorter"] == pytest.approx(shorter_strict)
    assert metrics["whatsup/A/individual@legacy"].baselines["length_longer"] == pytest.approx(longer_legacy)
    assert longer_legacy > 0  # "to the left of" is the longest caption: ties break towards gold
    assert metrics["whatsup/A/individual"].baselines["bow_equivalent"] == 0.0
    assert metrics["whatsup/A/individual"].baselines["constant"] == 0.0  # strict: a tie is wrong
    assert metrics["whatsup/A/individual@legacy"].baselines["constant"] == 1.0  # np.argmax, gold first
    assert metrics["whatsup/A/set@legacy"].baselines["constant"] == 1.0
    assert set(metrics["whatsup/A/pair"].baselines) >= {"length_shorter", "length_longer", "text_prior"}


def test_reference_attaches_only_to_the_papers_rule():
    metrics, _ = _run(spec="hf:openai/clip-vit-base-patch32")
    ref = metrics["whatsup/A/individual@legacy"].reference
    assert ref["value"] == pytest.approx(0.303) and ref["rule"] == "argmax-first"
    assert "fp16" in ref["precision"]
    assert metrics["whatsup/A/individual"].reference is None
    assert metrics["whatsup/A/pair@legacy"].reference["value"] == pytest.approx(0.005)
    untouched, _ = _run(spec="hf:openai/clip-vit-large-patch14-336")
    assert untouched["whatsup/A/individual@legacy"].reference is None
    assert untouched["whatsup/A/two-way/left-right/pair"].reference["value"] == pytest.approx(0.019)


def test_legacy_as_main_policy_has_no_duplicate_and_incomplete_groups_keep_paper_denominator():
    metrics, _ = _run(policy="argmax-first")
    assert "whatsup/A/individual@legacy" not in metrics
    assert metrics["whatsup/A/individual"].value == pytest.approx(0.75)
    partial, _ = _run(policy="argmax-first", items=_items()[:7])  # cup/under missing
    pair = partial["whatsup/A/pair"]
    assert pair.value == pytest.approx(2 / 3.5) and "paper divides by 3.5" in pair.notes


def test_prior_normalisation_subtracts_the_caption_prior():
    model = ToyModel()
    scorer = TableScorer(Engine(model, cache_dir=None, progress=False))
    prior = np.zeros_like(TABLE)
    prior[5, 1] = 0.2  # removes the opposite's lead on row 5: 0.3 vs 0.4 - 0.2
    out = spatial_whatsup.evaluate(scorer, Kit(n_boot=20), SUBSETS["A"], _items(), prefix="whatsup",
                                   variants=[("", "strict")], two_way_variants=[("", "strict")], prior=prior)
    metrics = {m.key: m for m in out.metrics}
    assert metrics["whatsup/A/individual_prior_norm"].value == pytest.approx(
        metrics["whatsup/A/individual"].value + 1 / 8)


def test_fp16_scoring_creates_the_legacy_ties():
    class Fixed:
        def images(self, refs, views=None):
            import torch

            return torch.tensor([[1.0, 0.0]] * len(refs))

        def texts(self, texts):
            import torch

            rows = [[0.5, 0.8660254], [0.50001, 0.8660196]]  # differ in fp32, equal in fp16
            return torch.tensor([rows[i % 2] for i in range(len(texts))])

    refs = [memory_image(Image.new("RGB", (4, 4)))]
    fp32 = CosineScorer(Fixed(), "fp32").image_options(refs, [("a", "b")])
    fp16 = CosineScorer(Fixed(), "fp16").image_options(refs, [("a", "b")])
    assert fp32[0, 0] != fp32[0, 1] and fp16[0, 0] == fp16[0, 1]
