"""Every benchmark's metrics from hand-made score tables, against independent computations.

A fake engine embeds each image as a unit vector e and option k of item i (on image e) as
s[i, k] * e + p[i, k] * e_prompt, so the suite sees exactly the score table s and the text-prior
table p. The suite then runs unchanged (`SUITE.run`) on fake data sources of each kind.
"""

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from vlmaudit.data.choice import ChoiceSource
from vlmaudit.data.images import ImageRef
from vlmaudit.data.items import CaptionChoice
from vlmaudit.data.source import DataSpec
from vlmaudit.suites.base import RunContext
from vlmaudit.suites.composition.suite import SUITE, Config

PROMPT = "a photo."


@dataclass
class TableEngine:
    """Returns the rows that make image i x option k score exactly table[i, k]."""

    vectors: dict[str, torch.Tensor] = field(default_factory=dict)
    dim: int = 0

    def load(self, items, scores, prior):
        images = list(dict.fromkeys(item.image.key for item in items))
        self.dim = len(images) + 1
        for i, item in enumerate(items):
            unit = self._unit(images.index(item.image.key))
            self.vectors[item.image.key] = unit
            for k, text in enumerate(item.options):
                assert text not in self.vectors, "fixture texts must be unique"
                self.vectors[text] = float(scores[i, k]) * unit + float(prior[i, k]) * self._unit(-1)
        self.vectors[PROMPT] = self._unit(-1)

    def _unit(self, i):
        row = torch.zeros(self.dim)
        row[i] = 1.0
        return row

    def images(self, refs):
        return torch.stack([self.vectors[r.key] for r in refs])

    def texts(self, texts):
        return torch.stack([self.vectors[t] for t in texts])


@dataclass
class FakeModel:
    spec: str = "fake:table"


def _items(n, options, gold, groups=None, image_of=None):
    """Items with unique option texts; `options(i)` gives item i's captions."""
    out = []
    for i in range(n):
        key = f"img{image_of(i) if image_of else i}"
        out.append(CaptionChoice(ImageRef(key, lambda: None, key), tuple(options(i)), gold,
                                 groups[i] if groups else "", str(i)))
    return out


def _run(kind, subsets, tables, policy="strict", spec="fake:table"):
    engine = TableEngine()
    items = [it for name in subsets for it in subsets[name]]
    engine.load(items, np.concatenate([tables[n][0] for n in subsets]),
                np.concatenate([tables[n][1] for n in subsets]))
    source = ChoiceSource(DataSpec(kind, "x"), kind, (), lambda: (subsets, {}))
    source.fingerprint = lambda: "fixture"
    ctx = RunContext(FakeModel(spec), engine, seed=0)
    return SUITE.run(ctx, source, Config(tie_policy=policy, n_boot=50))[0]


def _macro(values, groups, drop=(), min_count=1):
    table = {}
    for v, g in zip(values, groups, strict=True):
        table.setdefault(g, []).append(v)
    means = [np.mean(v) for g, v in table.items() if g not in drop and len(v) >= min_count]
    return float(np.mean(means))


# --- ARO VG-Relation: [false, true], macro over relations minus ARO's exclusion list -------------

VGR_GROUPS = ["eating", "eating", "eating", "next to", "next to", "on", "on"]
VGR_SCORES = np.array([[0.1, 0.2], [0.3, 0.3], [0.4, 0.2], [0.1, 0.5], [0.2, 0.2], [0.25, 0.25], [0.1, 0.3]],
                      dtype=np.float32)
VGR_PRIOR = np.array([[0.5, 0.1]] * 7, dtype=np.float32)  # text prior always prefers the false caption


def _vgr():
    items = _items(7, lambda i: (f"the grass is rel{i} the horse", f"the horse is rel{i} the grass"), 1,
                   VGR_GROUPS)
    return {"vg_relation": items}, {"vg_relation": (VGR_SCORES, VGR_PRIOR)}


@pytest.mark.parametrize(
    ("policy", "correct"),
    [
        ("strict", [1, 0, 0, 1, 0, 0, 1]),
        ("argmax-first", [1, 0, 0, 1, 0, 0, 1]),  # false listed first: ties count wrong, as ARO
        ("lenient", [1, 1, 0, 1, 1, 1, 1]),
        ("half", [1, 0.5, 0, 1, 0.5, 0.5, 1]),
    ],
)
def test_vg_relation_macro_excludes_aro_list(policy, correct):
    result = _run("aro-vgr", *_vgr(), policy=policy)
    macro = result.metric("macro_accuracy", "aro/vg_relation")
    assert macro.value == pytest.approx(_macro(correct, VGR_GROUPS, drop={"next to"}))
    assert macro.n == 5  # items of the kept relations
    assert macro.tie_rate == pytest.approx(2 / 5)
    micro = result.metric("accuracy", "aro/vg_relation")
    assert micro.value == pytest.approx(np.mean(correct)) and micro.tie_rate == pytest.approx(3 / 7)
    assert macro.baselines["text_prior"] == 0.0 and macro.baselines["bow_equivalent"] == 1.0
    table = result.extra["per_benchmark"]["aro/vg_relation"]
    assert table["macro"]["macro_accuracy"]["dropped"] == {"next to": "excluded"}
    assert table["tie_policies"]["accuracy"]["lenient"] == pytest.approx(_macro(
        [1, 1, 0, 1, 1, 1, 1], VGR_GROUPS, drop={"next to"}))


def test_official_policy_is_aros_argmax_first_and_reference_attaches():
    result = _run("aro-vgr", *_vgr(), policy="official", spec="hf:openai/clip-vit-base-patch32")
    macro = result.metric("macro_accuracy", "aro/vg_relation")
    assert result.extra["per_benchmark"]["aro/vg_relation"]["tie_policy"] == "argmax-first"
    assert macro.reference["value"] == 0.59 and "fp16" in macro.reference["precision"]
    assert "argmax-first" in macro.notes
    assert _run("aro-vgr", *_vgr()).metric("macro_accuracy", "aro/vg_relation").reference is None


# --- ARO VG-Attribution: macro over ordered attribute pairs with count >= 25 ----------------------

def test_vg_attribution_drops_pairs_under_25():
    rng = np.random.default_rng(4)
    groups = ["white_brown"] * 25 + ["red_blue"] * 24 + ["paved_white"] * 26
    scores = rng.choice([0.1, 0.2, 0.3], size=(75, 2)).astype(np.float32)
    items = _items(75, lambda i: (f"false {i}", f"true {i}"), 1, groups)
    result = _run("aro-vga", {"vg_attribution": items}, {"vg_attribution": (scores, scores)})
    correct = (scores[:, 1] > scores[:, 0]).astype(float)
    macro = result.metric("macro_accuracy", "aro/vg_attribution")
    assert macro.value == pytest.approx(_macro(correct, groups, min_count=25))
    assert macro.n == 51
    dropped = result.extra["per_benchmark"]["aro/vg_attribution"]["macro"]["macro_accuracy"]["dropped"]
    assert dropped == {"red_blue": "count 24 < 25"}
    assert macro.tie_rate == pytest.approx(np.mean((scores[:, 0] == scores[:, 1])[np.r_[0:25, 49:75]]))


# --- ARO Order: [true, 4 perturbed], precision@1; argmax-first counts ties correct ----------------

ORDER = np.array([[0.5, 0.1, 0.2, 0.3, 0.4], [0.3, 0.3, 0.1, 0.1, 0.1], [0.2, 0.5, 0.1, 0.1, 0.1],
                  [0.4, 0.4, 0.4, 0.4, 0.4]], dtype=np.float32)


@pytest.mark.parametrize(("policy", "expected"), [("strict", 0.25), ("argmax-first", 0.75),
                                                  ("lenient", 0.75), ("half", (1 + 0.5 + 0 + 0.2) / 4)])
def test_order_precision_at_1_tie_modes(policy, expected):
    items = _items(4, lambda i: [f"w{i} {j}" for j in range(5)], 0, image_of=lambda i: i // 2)
    result = _run("coco-order", {"order": items}, {"order": (ORDER, ORDER)}, policy=policy)
    metric = result.metric("precision@1", "aro/coco_order")
    assert metric.value == pytest.approx(expected) and metric.chance == 0.2
    assert metric.tie_rate == pytest.approx(0.5)
    blind = {"strict": 0.0, "argmax-first": 1.0, "lenient": 1.0, "half": 0.2}[policy]  # all lengths tie
    assert metric.baselines["length_shorter"] == pytest.approx(blind)


# --- SugarCrepe: per subset, official `pos > neg`, micro overall; ADD is length-hackable ----------

def test_sugarcrepe_subsets_overall_and_hackable_flag():
    add = _items(4, lambda i: (f"a dog {i}", f"a dog {i} and a big red cat"), 0, image_of=lambda i: i)
    swap = _items(3, lambda i: (f"white cat black dog {i}", f"black cat white dog {i}"), 0,
                  image_of=lambda i: i)  # shares images with `add`, as SugarCrepe subsets do
    s_add = np.array([[0.3, 0.2], [0.2, 0.3], [0.3, 0.3], [0.5, 0.1]], dtype=np.float32)
    s_swap = np.array([[0.2, 0.2], [0.2, 0.2], [0.4, 0.1]], dtype=np.float32)
    result = _run("sugarcrepe", {"add_att": add, "swap_att": swap},
                  {"add_att": (s_add, s_add), "swap_att": (s_swap, s_swap)})
    add_m = result.metric("accuracy", "sugarcrepe/add_att")
    swap_m = result.metric("accuracy", "sugarcrepe/swap_att")
    overall = result.metric("accuracy", "sugarcrepe/overall")
    assert add_m.value == 0.5 and swap_m.value == pytest.approx(1 / 3)
    assert overall.value == pytest.approx(3 / 7) and overall.n == 7  # micro, not (0.5 + 1/3) / 2
    assert add_m.baselines["length_shorter"] == 1.0 and add_m.baselines["length_longer"] == 0.0
    assert swap_m.baselines["bow_equivalent"] == 1.0 and swap_m.tie_rate == pytest.approx(2 / 3)
    hackable = [f for f in result.flags if f.startswith("hackable")]
    assert any(f.startswith("hackable: sugarcrepe/add_att/accuracy blind length_shorter") for f in hackable)
    assert not any("swap_att" in f for f in hackable)
    rows = result.samples["sugarcrepe/add_att"]
    assert rows[2]["scores"] == pytest.approx([0.3, 0.3]) and rows[2]["tied"] and rows[2]["accuracy"] == 0.0


# --- Hard positives: Orig / Aug / Brittleness per file, REPLACE = mean(att, rel) ------------------

def test_hard_positives_subset_mean_and_reference():
    from test_hard_positives import TABLE, _independent

    att = _items(6, lambda i: (f"c{i}", f"cp{i}", f"cn{i}"), 0)
    rel = _items(3, lambda i: (f"rc{i}", f"rcp{i}", f"rcn{i}"), 0, image_of=lambda i: 10 + i)
    rel_table = TABLE[[0, 0, 5]]
    result = _run("hard-positives", {"replace_att": att, "replace_rel": rel},
                  {"replace_att": (TABLE, TABLE), "replace_rel": (rel_table, rel_table)},
                  spec="openclip:ViT-B-32-quickgelu:openai")
    for index, name in enumerate(("orig_accuracy", "aug_accuracy", "brittleness")):
        a = float(np.mean(_independent(TABLE)[index]))
        r = float(np.mean(_independent(rel_table)[index]))
        assert result.metric(name, "hard_positives/replace_att").value == pytest.approx(a)
        assert result.metric(name, "hard_positives/replace").value == pytest.approx((a + r) / 2)
    aug = result.metric("aug_accuracy", "hard_positives/replace")
    assert aug.chance == pytest.approx(1 / 3) and aug.reference["value"] == 0.468
    assert not result.metric("brittleness", "hard_positives/replace").higher_is_better
    assert result.metric("orig_accuracy", "hard_positives/replace_att").tie_rate == pytest.approx(2 / 6)
