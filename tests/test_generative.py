"""The built-in generative model, the engine's continuation scores and the generative scorer.

A tiny random decoder on the shipped image tower, with weights drawn large enough that attention is
far from uniform (at the default init a position shift or a leaking pad would change nothing).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from vlmaudit.data.images import memory_image
from vlmaudit.data.scenes import generate_scenes, render
from vlmaudit.engine import Engine
from vlmaudit.errors import ModelLoadError, SpecError
from vlmaudit.models import load_model
from vlmaudit.models.generative import Query
from vlmaudit.scoring import scorer_for
from vlmaudit.scoring.generative import GenerativeScorer, GenerativeSettings
from vlmaudit.specs import ModelSpec
from vlmaudit.train.generative_recipe import GenerativeRecipe, build_model, save_generative


def _sharp(model: torch.nn.Module, seed: int = 3) -> None:
    generator = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if p.requires_grad and not name.startswith("tower."):
            p.data = torch.randn(p.shape, generator=generator) * (0.3 if p.ndim > 1 else 0.1)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    for image_input in ("patch", "cls"):
        model, tower_hash = build_model(GenerativeRecipe(preset="tiny", image_input=image_input))
        _sharp(model)
        save_generative(model, out / image_input / "model.safetensors", tower_hash, {"test": True})
    return out


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    return load_model(f"builtin:{tiny_dir / 'patch'}")


@pytest.fixture(scope="module")
def images():
    return [render(s) for s in generate_scenes(3, 77)]


def _reference(model, image: Image.Image | None, prompt: str, text: str) -> np.ndarray:
    """log P of each continuation token from one plain, uncached forward over the whole sequence."""
    m = model.module
    head, cont = m.prompt_ids(prompt), m.word_ids(text)
    ids = torch.tensor([head + cont])
    with torch.no_grad():
        pixels = model.preprocess([image if image is not None else Image.new("RGB", (64, 64))])
        visual = m.projector(m.visual_features(pixels))
        valid = torch.ones(1, visual.shape[1] + ids.shape[1], dtype=torch.bool)
        valid[:, : visual.shape[1]] = image is not None
        states, _ = m.run(torch.cat([visual, m.embed(ids)], dim=1), 0, valid)
        logp = m.logits(states[0, visual.shape[1]:]).log_softmax(-1)
    return np.array([float(logp[len(head) - 1 + j, cont[j]]) for j in range(len(cont))])


QUERIES = [
    ("Describe the image.", ("a red circle", "a big blue star left of a small square on grass", "red")),
    ("What shape is this?", ("circle",)),
    ('Does this figure show "a red circle above a star"? Please answer yes or no.', ("yes", "no")),
]


def test_logprobs_match_an_uncached_full_forward(tiny, images):
    """Catches an off-by-one at the prompt/answer boundary, a wrong cache position, a scored prompt token."""
    queries = [Query(images[i], prompt, conts) for i, (prompt, conts) in enumerate(QUERIES)]
    queries.append(Query(None, "Describe the image.", ("a red circle",)))  # text only
    for query, scored in zip(queries, tiny.logprobs(queries), strict=True):
        for text, logp in zip(query.continuations, scored, strict=True):
            assert logp.shape == (len(text.split()),) and logp.dtype == np.float32
            np.testing.assert_allclose(logp, _reference(tiny, query.image, query.prompt, text), atol=1e-5)


def test_batching_and_prefix_sharing_change_nothing(tiny, images):
    """Catches padding that leaks into attention and a cache shared with the wrong query."""
    queries = [Query(images[i], prompt, conts) for i, (prompt, conts) in enumerate(QUERIES)]
    together = tiny.logprobs(queries)
    for query, scored in zip(queries, together, strict=True):
        alone = tiny.logprobs([query])[0]
        for text, a, b in zip(query.continuations, scored, alone, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-5)
            one = tiny.logprobs([Query(query.image, query.prompt, (text,))])[0][0]
            np.testing.assert_allclose(a, one, atol=1e-5)


def test_the_image_matters_and_text_only_ignores_it(tiny, images):
    """Catches a decoder that never sees the image, or a text-only query that still does."""
    a, b = (tiny.logprobs([Query(img, "Describe the image.", ("a red circle",))])[0][0] for img in images[:2])
    assert np.abs(a - b).max() > 1e-3
    blind = tiny.logprobs([Query(None, "Describe the image.", ("a red circle",))])[0][0]
    expected = _reference(tiny, None, "Describe the image.", "a red circle")
    np.testing.assert_allclose(blind, expected, atol=1e-5)


def test_cls_ablation_sees_one_token(tiny_dir, images):
    """Catches the [CLS]-only ablation silently reading patch tokens."""
    cls = load_model(f"builtin:{tiny_dir / 'cls'}")
    assert cls.module.visual_features(cls.preprocess(images[:1])).shape[1] == 1
    assert cls.fingerprint != load_model(f"builtin:{tiny_dir / 'patch'}").fingerprint


def test_generate_and_hidden_states(tiny, images):
    """Catches generation that ignores the cache (or runs past the context) and probes that mix layers."""
    texts = tiny.generate(images[:2], ["Describe the image.", "What shape is this?"], max_new_tokens=5)
    assert len(texts) == 2 and all(len(t.split()) <= 5 for t in texts)
    first = tiny.module.word_ids(texts[0])[:1]
    if first:  # greedy's first word is the argmax of the scored distribution
        vocab = tiny.module.tokenizer.vocab
        words = [w for w in vocab[4:] if w != vocab[first[0]]][:8]
        scores = tiny.logprobs([Query(images[0], "Describe the image.", (vocab[first[0]], *words))])[0]
        assert int(np.argmax([s[0] for s in scores])) == 0
    last = tiny.hidden_states(images[:2], ["Describe the image."] * 2)
    mean = tiny.hidden_states(images[:2], ["Describe the image."] * 2, position="mean")
    embed = tiny.hidden_states(images[:2], ["Describe the image."] * 2, layer=0)
    assert last.shape == mean.shape == embed.shape == (2, tiny.module.config.width)
    assert not torch.allclose(last, mean) and not torch.allclose(last, embed)


def test_tower_is_the_shipped_one_and_tampering_is_refused(tiny_dir, tiny):
    """Catches a generative model whose 'same vision encoder' is not the shipped builtin:scenes tower."""
    from vlmaudit.train.generative_recipe import tower_state

    assert tiny.tower_hash == tower_state("scenes")[2]
    record = json.loads((tiny_dir / "patch" / "model.json").read_text())
    bad = tiny_dir / "bad"
    bad.mkdir(exist_ok=True)
    (bad / "model.safetensors").write_bytes((tiny_dir / "patch" / "model.safetensors").read_bytes())
    (bad / "model.json").write_text(json.dumps({**record, "tower_hash": "0" * 32}))
    with pytest.raises(ModelLoadError, match="tower hash"):
        load_model(f"builtin:{bad}")


def test_engine_caches_continuations_by_image_prompt_and_text(tiny, images, tmp_path):
    """Catches a cache key missing the prompt or the view (two questions would share one score)."""
    refs = [memory_image(img) for img in images[:2]]
    engine = Engine(tiny, cache_dir=tmp_path, progress=False)
    prompts = ["Describe the image.", "What shape is this?"]
    rows = engine.continuation_logprobs([refs[0], refs[0], refs[1]], [None] * 3,
                                        [prompts[0], prompts[1], prompts[0]], ["a red circle"] * 3)
    assert len({float(v) for v in rows[:, 0]}) == 3 and list(rows[:, 1]) == [3, 3, 3]
    direct = tiny.logprobs([Query(images[0], prompts[0], ("a red circle",))])[0][0]
    assert rows[0, 0] == pytest.approx(float(direct.astype(np.float64).sum()), abs=1e-5)
    again = Engine(tiny, cache_dir=tmp_path, progress=False)
    cached = again.continuation_logprobs([refs[0]], [None], [prompts[0]], ["a red circle"])
    np.testing.assert_array_equal(cached, rows[:1])
    assert again.stats.continuations.cache_hits == 1 and again.stats.continuations.computed == 0


def test_scorer_methods_are_what_they_say(tiny, images):
    """Catches a VQAScore that is not P(answer), a mean not per token, or a prior that sees the image."""
    engine = Engine(tiny, cache_dir=None, progress=False)
    refs = [memory_image(img) for img in images[:2]]
    caption = "a red circle left of a blue star"
    lik = GenerativeScorer(engine).pairs(refs, [caption] * 2)
    mean = GenerativeScorer(engine, GenerativeSettings(normalize="mean")).pairs(refs, [caption] * 2)
    np.testing.assert_allclose(mean, lik / 8, rtol=1e-6)
    question = GenerativeSettings().template.format(caption=caption)
    yes = np.exp([tiny.logprobs([Query(img, question, ("Yes",))])[0][0].sum() for img in images[:2]])
    no = np.exp([tiny.logprobs([Query(img, question, ("No",))])[0][0].sum() for img in images[:2]])
    vqa = GenerativeScorer(engine, GenerativeSettings(method="vqa")).pairs(refs, [caption] * 2)
    diff = GenerativeScorer(engine, GenerativeSettings(method="vqa_diff")).pairs(refs, [caption] * 2)
    np.testing.assert_allclose(vqa, yes, rtol=1e-5)
    np.testing.assert_allclose(diff, yes - no, atol=1e-6)
    prior = GenerativeScorer(engine).language_prior()
    assert prior.blind and prior.name == "text_prior"
    blind = prior.pairs(refs, [caption] * 2)
    assert blind[0] == blind[1] and blind[0] != lik[0]


def test_spec_options_choose_the_scorer_and_bad_ones_fail_early(tiny_dir):
    """Catches scoring options that are silently ignored, or accepted for a dual encoder."""
    spec = ModelSpec.parse(f"builtin:{tiny_dir / 'patch'}?score=vqa_diff&template=Is it {{caption}}?")
    model = load_model(spec)
    scorer = scorer_for(model, Engine(model, cache_dir=None, progress=False), dict(spec.options))
    assert scorer.settings.method == "vqa_diff" and scorer.settings.template == "Is it {caption}?"
    for bad, message in (("?score=argmax", "score="), ("?colour=red", "unknown generative"),
                         ("?template=no-slot", "caption")):
        with pytest.raises(SpecError, match=message):
            ModelSpec.parse(f"builtin:scenes{bad}")
    dual = load_model("builtin:scenes")
    with pytest.raises(SpecError, match="generative models only"):
        scorer_for(dual, Engine(dual, cache_dir=None, progress=False), {"score": "vqa"})


def test_gradient_suites_refuse_a_generative_model(tiny_dir, tmp_path):
    """Catches alignment/linearity running on a model without an embedding to differentiate."""
    from vlmaudit.runner import run

    with pytest.raises(SpecError, match="cannot audit"):
        run([f"builtin:{tiny_dir / 'patch'}"], ["alignment"], out=tmp_path / "r", cache_dir=None,
            progress=False)
    assert not (tmp_path / "r" / "summary.json").exists()


def test_suites_run_on_the_generative_model(tiny_dir, tmp_path):
    """Catches a suite that reaches for embeddings a generative model does not have."""
    from vlmaudit.runner import run

    summary = run([f"builtin:{tiny_dir / 'patch'}"], ["composition", "spatial", "transforms"], ["scenes?n=8"],
                  out=tmp_path / "r", cache_dir=None, progress=False,
                  options={"transforms": {"n_images": 4, "n_boot": 50, "transforms": "rotate_90,blur,hflip"},
                           "composition": {"n_boot": 50},
                           "spatial": {"n_boot": 50}})
    suites = {unit["suite"]: unit for unit in summary.units}
    assert set(suites) == {"composition", "spatial", "transforms"}
    assert any("ensemble not computed" in flag for flag in suites["transforms"]["flags"])
    assert not any(m["group"].startswith("exp3/ensemble") for m in suites["transforms"]["metrics"])
    assert all(m["n"] > 0 for unit in summary.units for m in unit["metrics"])
    blind_names = {name for m in suites["composition"]["metrics"] for name in m.get("baselines", {})}
    assert "text_prior" in blind_names
    provenance = suites["composition"]["provenance"]
    assert provenance["scorer"]["method"] == "likelihood" and provenance["model"]["family"] == "generative"


def test_default_audit_plans_compare_families_on_the_same_items(tiny_dir):
    """Catches a default audit that runs a generative model on data the CLIP did not see (no paired
    comparison), or on the gradient suites it cannot audit."""
    from vlmaudit.registry import SUITES, default_suites
    from vlmaudit.runner import _default_audit_plans

    specs = {text: ModelSpec.parse(text) for text in ("builtin:scenes", f"builtin:{tiny_dir / 'patch'}")}
    suites = {name: SUITES.get(name) for name in default_suites()}
    plan = {name: list(suite.default_data) for name, suite in suites.items()}
    plans = _default_audit_plans(specs, suites, plan)
    dual, gen = plans["builtin:scenes"], plans[f"builtin:{tiny_dir / 'patch'}"]
    assert set(dual) == set(default_suites()) and set(gen) == {"composition", "spatial", "transforms"}
    for name, data in gen.items():
        assert set(data) <= set(dual[name]), name  # every generative unit has its dual twin
    assert dual["alignment"] == ["scenes"] and gen["transforms"] == ["scenes?n=50"]
    only_dual = _default_audit_plans({"builtin:scenes": specs["builtin:scenes"]}, suites, plan)
    assert only_dual["builtin:scenes"] == plan  # no generative model: the plan is the suites' own


def test_relation_weighted_loss_against_a_hand_computed_mean():
    """Catches a relation weight applied to the wrong targets, or a mean that ignores the weights."""
    import torch.nn.functional as F

    from vlmaudit.train.generative_recipe import weighted_loss

    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 9, generator=generator)
    targets = torch.tensor([[1, 5, 2, -100], [5, -100, -100, -100]])
    relation = torch.tensor([5])
    plain = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
    assert weighted_loss(logits, targets, relation, 1.0).item() == pytest.approx(plain.item(), rel=1e-6)
    each = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="none")
    w = torch.tensor([1, 3, 1, 0, 3, 0, 0, 0], dtype=torch.float)
    expected = (each * w).sum() / w.sum()
    assert weighted_loss(logits, targets, relation, 3.0).item() == pytest.approx(expected.item(), rel=1e-6)


def test_stem_tokens_are_the_towers_local_grid(images):
    """Catches the stem variant reading the tower's final (globally mixed) tokens after all."""
    stem, _ = build_model(GenerativeRecipe(preset="tiny", tower_layer="stem"))
    final, _ = build_model(GenerativeRecipe(preset="tiny"))
    pixels = load_model("builtin:scenes").preprocess(images[:1])
    a, b = stem.visual_features(pixels), final.visual_features(pixels)
    assert a.shape == b.shape and not torch.allclose(a, b)
    x = (pixels - stem.mean) / stem.std
    grid = stem.tower.stem(x).flatten(2).transpose(1, 2) + stem.tower.pos[:, 1:]
    torch.testing.assert_close(a[0, 1, :128], grid[0, 0])  # first merged block starts with grid cell (0, 0)
