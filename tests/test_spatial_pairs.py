"""Winoground and MMVP-VLM scoring in the suite, on hand-made score tables."""

import numpy as np
import pytest
import torch
from PIL import Image

from toy import ToyModel
from vlmaudit.benchmarks import references_for
from vlmaudit.data.images import memory_image
from vlmaudit.data.items import ImagePair, WinogroundGroup
from vlmaudit.engine.core import Engine
from vlmaudit.metrics.kit import Kit
from vlmaudit.scoring.cosine import CosineScorer
from vlmaudit.suites.spatial import mmvp as spatial_mmvp
from vlmaudit.suites.spatial import winoground as spatial_winoground
from vlmaudit.suites.spatial.common import variants

# [group, caption, image]
WINO = np.array(
    [
        [[0.9, 0.1], [0.2, 0.8]],  # all right
        [[0.5, 0.5], [0.5, 0.5]],  # all tied
        [[0.6, 0.2], [0.6, 0.7]],  # image 0: C0 and C1 tie; caption 1 picks I1
        [[0.3, 0.4], [0.2, 0.5]],  # text right (0.3 > 0.2, 0.5 > 0.4), image wrong for C0
    ],
    dtype=np.float32,
)
TAGS = [{"collapsed_tag": "Object"}, {"collapsed_tag": "Relation"}, {"collapsed_tag": "Object"},
        {"collapsed_tag": "Relation", "secondary_tag": "Symbolic"}]


class TableScorer(CosineScorer):
    """The model's grids are the hand-made table; blind scorers still embed through the engine."""

    table: np.ndarray = WINO

    def grid(self, images, texts):
        return self.table[: len(images)]


def _image(shade):
    return memory_image(Image.new("RGB", (8, 8), (shade, 99, 255 - shade)))


def _wino_items():
    return [WinogroundGroup(str(i), (_image(20 * i), _image(20 * i + 7)),
                           (f"a mug on a box {i}", f"a box on a mug {i}"), TAGS[i]) for i in range(4)]


def _wino(policy, spec="toy"):
    scorer = TableScorer(Engine(ToyModel(), cache_dir=None, progress=False))
    kit = Kit(n_boot=50, references=references_for(spec, "spatial"))
    metrics, samples = spatial_winoground.evaluate(
        scorer, kit, _wino_items(), prefix="winoground",
        variants=variants(policy, spatial_winoground.LEGACY, True))
    return {m.key: m for m in metrics}, samples


def _paper(s):
    text = (s[:, 0, 0] > s[:, 1, 0]) & (s[:, 1, 1] > s[:, 0, 1])
    image = (s[:, 0, 0] > s[:, 0, 1]) & (s[:, 1, 1] > s[:, 1, 0])
    return text, image, text & image


def test_winoground_scores_and_tags_follow_the_paper():
    metrics, samples = _wino("strict")
    text, image, group = _paper(WINO)
    assert metrics["winoground/text"].value == pytest.approx(text.mean())  # 2/4
    assert metrics["winoground/image"].value == pytest.approx(image.mean())  # 2/4
    assert metrics["winoground/group"].value == pytest.approx(group.mean())  # 1/4
    assert metrics["winoground/group"].chance == pytest.approx(1 / 6)
    assert metrics["winoground/text"].tie_rate == pytest.approx(2 / 4)
    obj = [0, 2]
    assert metrics["winoground/collapsed_tag/Object/text"].value == pytest.approx(text[obj].mean())
    assert metrics["winoground/secondary_tag/Symbolic/text"].n == 1
    assert "winoground/text@legacy" not in metrics  # the paper's rule is strict
    assert len(samples) == 4 and samples[3]["secondary_tag"] == "Symbolic"


def test_winoground_clip_benchmark_argmax_and_legacy_reference():
    metrics, _ = _wino("argmax-first", spec="hf:openai/clip-vit-base-patch32")
    argmax_text = (np.argmax(WINO[:, :, 0], 1) == 0) & (np.argmax(WINO[:, :, 1], 1) == 1)
    assert metrics["winoground/text"].value == pytest.approx(argmax_text.mean())  # 3/4: row 2's tie -> C0
    assert metrics["winoground/text@legacy"].value == pytest.approx(_paper(WINO)[0].mean())
    assert metrics["winoground/text@legacy"].reference["value"] == pytest.approx(0.3075)
    assert metrics["winoground/text"].reference is None


def test_winoground_blind_scorers_cannot_win_a_group():
    metrics, _ = _wino("strict")
    baselines = metrics["winoground/group"].baselines
    scorers = ("length_shorter", "length_longer", "text_prior", "image_prior")
    assert set(baselines) == {*scorers, "bow_equivalent"}
    assert all(baselines[k] == 0 for k in scorers)
    assert baselines["bow_equivalent"] == 1.0  # the two captions of a group share their words


# [pair, statement, image]; gold (0, 1)
MMVP = np.array(
    [
        [[0.30, 0.20], [0.10, 0.25]],  # both right
        [[0.20, 0.20], [0.10, 0.30]],  # statement 1 tied
        [[0.30, 0.20], [0.25, 0.25]],  # statement 2 tied
        [[0.30, 0.20], [0.30, 0.10]],  # statement 2 wrong
    ],
    dtype=np.float32,
)


def _mmvp(spec="toy", logit_scale=100.0):
    items = [ImagePair((str(2 * p + 1), str(2 * p + 2)), (_image(10 * p), _image(10 * p + 5)),
                           (f"a photo of s{p}a", f"a photo of s{p}b"), (0, 1), "Texts" if p < 2 else "Color")
             for p in range(4)]
    scorer = TableScorer(Engine(ToyModel(), cache_dir=None, progress=False))
    scorer.table = MMVP
    kit = Kit(n_boot=50, references=references_for(spec, "spatial"))
    metrics, samples = spatial_mmvp.evaluate(scorer, kit, items, prefix="mmvp-vlm",
                                             variants=spatial_mmvp.variants_for("strict", True),
                                             logit_scale=logit_scale)
    return {m.key: m for m in metrics}, samples


def _official_pairs(scores, logit_scale=100.0):
    out = []
    for pair in scores:
        probs = torch.softmax(logit_scale * torch.from_numpy(pair), dim=-1).numpy()
        out.append(probs[0][0] > 0.5 and not probs[1][0] > 0.5)
    return np.array(out)


def test_mmvp_three_rules_and_categories():
    metrics, samples = _mmvp()
    official = _official_pairs(MMVP)
    assert metrics["mmvp-vlm/pair@legacy"].value == pytest.approx(official.mean())  # 2/4
    argmax = (np.argmax(MMVP[:, 0], 1) == 0) & (np.argmax(MMVP[:, 1], 1) == 1)
    assert metrics["mmvp-vlm/pair@argmax"].value == pytest.approx(argmax.mean())  # 2/4
    assert metrics["mmvp-vlm/pair"].value == pytest.approx(0.25)  # strict: only pair 0
    assert metrics["mmvp-vlm/category/Texts/pair@legacy"].value == pytest.approx(official[:2].mean())
    assert metrics["mmvp-vlm/category/Color/pair@argmax"].value == pytest.approx(argmax[2:].mean())
    assert metrics["mmvp-vlm/single@legacy"].value == pytest.approx(6 / 8)
    assert metrics["mmvp-vlm/pair"].tie_rate == pytest.approx(0.5)
    # a constant scorer only earns what the tie rule gives: softmax ties pick image 2
    assert metrics["mmvp-vlm/single@legacy"].baselines["constant"] == pytest.approx(0.5)
    assert metrics["mmvp-vlm/pair@legacy"].baselines["constant"] == 0.0
    assert samples[1]["scores"][0] == pytest.approx([0.2, 0.2])


def test_mmvp_reference_on_softmax_variant_only():
    metrics, _ = _mmvp(spec="openclip:ViT-L-14-336-quickgelu/openai")
    assert metrics["mmvp-vlm/pair@legacy"].reference["value"] == pytest.approx(0.207)
    assert metrics["mmvp-vlm/pair"].reference is None and metrics["mmvp-vlm/pair@argmax"].reference is None
