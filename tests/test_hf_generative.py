"""The hfgen backend against plain transformers forwards, on tiny random models of all nine families.

References are computed here independently of the backend: the chat text is written out by hand
(`_TEXT`), one uncached forward per (image, prompt, continuation), log_softmax, gather.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from hf_generative_fixtures import FAMILIES, build_tiny
from vlmaudit.errors import ModelLoadError, SpecError, VlmauditError
from vlmaudit.models import load_model
from vlmaudit.models.generative import Query

TOL = 1e-4
QUESTION = 'Does this figure show "a red circle left of a blue square"? Please answer yes or no.'
_VICUNA = ("USER: <image>\n{q} ASSISTANT:", " ")
_QWEN = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
         "<|vision_start|><|image_pad|><|vision_end|>{q}<|im_end|>\n<|im_start|>assistant\n", "")
# family -> (the templated prompt, what goes between it and the continuation); PaliGemma uses suffix=
_TEXT = {
    "llava": _VICUNA, "llava_next": _VICUNA, "paligemma": ("<image>{q}", ""),
    "idefics3": ("User:<image>{q}<end_of_utterance>\nAssistant:", " "),
    "smolvlm": ("<|im_start|>User:<image>{q}<end_of_utterance>\nAssistant:", " "),
    "qwen2_vl": _QWEN, "qwen2_5_vl": _QWEN,
    "blip2": ("Question: {q} Answer:", " "), "instructblip": ("{q}", " "),
}
_NO_IMAGE = {"<image>\n": "", "<image>": "", "<|vision_start|><|image_pad|><|vision_end|>": ""}


def _image(w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict:
    """All nine tiny models, built once into one tmp dir."""
    root = tmp_path_factory.mktemp("tiny-vlms")
    return {family: build_tiny(family, root) for family in FAMILIES}


@pytest.fixture(scope="module")
def loaded(tiny) -> dict:
    """family -> (hfgen model, raw transformers model, raw processor), loaded once."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    out = {}
    for family, path in tiny.items():
        raw = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True).eval()
        processor = AutoProcessor.from_pretrained(path, local_files_only=True)
        out[family] = (load_model(f"hfgen:{path}"), raw, processor)
    return out


def _enc(family: str, processor, text: str, image: Image.Image | None, **kw) -> dict:
    images = None if image is None else ([[image]] if family in ("idefics3", "smolvlm") else [image])
    return dict(processor(text=[text], images=images, return_tensors="pt", **kw))


@torch.no_grad()
def _reference(family: str, raw, processor, image: Image.Image | None, question: str,
               cont: str) -> np.ndarray:
    """One plain, uncached forward of prompt + continuation; log_softmax; gather at the continuation."""
    template, sep = _TEXT[family]
    if image is None:
        for placeholder, blank in _NO_IMAGE.items():
            template = template.replace(placeholder, blank)
    prompt = template.format(q=question)
    if family == "paligemma":
        enc = _enc(family, processor, prompt, image, suffix=[cont])
        enc.pop("labels")
        where = torch.nonzero(enc["token_type_ids"][0]).flatten()
        start, end = int(where[0]), int(where[-1])  # the last suffix token is the appended <eos>
    else:
        prompt_enc = _enc(family, processor, prompt, image)
        start = prompt_enc["input_ids"].shape[1]
        enc = _enc(family, processor, prompt + sep + cont, image)
        end = enc["input_ids"].shape[1]
        for name in ("qformer_input_ids", "qformer_attention_mask"):  # InstructBLIP: the Q-Former reads
            if name in enc:  # the instruction only; the answer must not reach the image features
                enc[name] = prompt_enc[name]
    if hasattr(raw, "model") and hasattr(raw.model, "rope_deltas"):
        raw.model.rope_deltas = None
    logits = raw(**enc, use_cache=False).logits[0].float()
    ids = enc["input_ids"][0]
    lp = torch.log_softmax(logits[start - 1:end - 1], -1).gather(-1, ids[start:end, None])[:, 0]
    return lp.numpy()


@pytest.mark.parametrize("family", FAMILIES)
def test_logprobs_match_plain_forward(family, tiny, loaded):
    """Catches an off-by-one boundary, a scored prompt token or a wrong template, through both specs."""
    _, raw, processor = loaded[family]
    image, cont = _image(40, 32, 1), "a red circle"
    ref = _reference(family, raw, processor, image, QUESTION, cont)
    assert 2 <= len(ref) <= 4
    for spec in (f"hfgen:{tiny[family]}", f"hf:{tiny[family]}"):
        model = load_model(spec)
        got = model.logprobs([Query(image, QUESTION, (cont,))])[0][0]
        assert got.dtype == np.float32 and got.shape == ref.shape  # one log-prob per continuation token
        diff = float(np.abs(got - ref).max())
        print(f"{family} reference max|diff| {diff:.2e}")
        assert diff < TOL


@pytest.mark.parametrize("family", FAMILIES)
def test_batched_equals_single_equals_pairs(family, loaded):
    """Catches prefix-cache sharing or padding (offsets, masks, positions) leaking between rows."""
    model = loaded[family][0]
    queries = [Query(_image(32, 32, 2), QUESTION, ("Yes", "No", "a red circle")),
               Query(_image(64, 48, 3), "Is there a dog?", ("No", "a photo of a cat on a mat")),
               Query(_image(40, 40, 4), "What colour is the shape?", ("green triangle above", "yes"))]
    batched = model.logprobs(queries)
    single = [model.logprobs([q])[0] for q in queries]
    pairs = [[model.logprobs([Query(q.image, q.prompt, (c,))])[0][0] for c in q.continuations]
             for q in queries]
    worst = 0.0
    for b, s, p in zip(batched, single, pairs, strict=True):
        for x, y, z in zip(b, s, p, strict=True):
            assert x.shape == y.shape == z.shape and len(x) >= 1
            worst = max(worst, float(np.abs(x - y).max()), float(np.abs(x - z).max()))
    print(f"{family} batched/single/pair max|diff| {worst:.2e}")
    assert worst < TOL
    assert len({len(c) for q in batched for c in q}) > 1  # continuations of different lengths


@pytest.mark.parametrize("family", FAMILIES)
def test_yes_is_scored_at_the_generation_boundary(family, loaded):
    """Catches "Yes" scored as a different token (missing/extra space) than greedy generation compares."""
    model, raw, processor = loaded[family]
    image = _image(32, 32, 5)
    template, sep = _TEXT[family]
    enc = _enc(family, processor, template.format(q=QUESTION), image)
    if hasattr(raw, "model") and hasattr(raw.model, "rope_deltas"):
        raw.model.rope_deltas = None
    with torch.no_grad():
        gen = raw.generate(**enc, max_new_tokens=1, do_sample=False, output_scores=True,
                           return_dict_in_generate=True, pad_token_id=processor.tokenizer.pad_token_id)
    step = torch.log_softmax(gen.scores[0][0].float(), -1)
    tok = processor.tokenizer
    expected = {" ": "ĠYes", "": "Yes"}[sep]
    assert model.continuation_tokens(["Yes"]) == [[expected]]
    checks = [("Yes", tok.convert_tokens_to_ids(expected))]
    top = int(step.argmax())
    text = tok.decode([top])
    text = text[1:] if sep == " " and text.startswith(" ") else (None if sep == " " else text)
    if text and not tok.convert_ids_to_tokens(top).startswith("<") and \
            model.continuation_tokens([text]) == [[tok.convert_ids_to_tokens(top)]]:
        checks.append((text, top))  # the argmax token, when it is a plain token that round-trips
    for cont, tid in checks:
        got = model.logprobs([Query(image, QUESTION, (cont,))])[0][0]
        assert len(got) == 1 and abs(float(got[0]) - float(step[tid])) < TOL, cont


def test_text_only_queries(loaded):
    """Catches a text-only forward that still inserts image tokens, or a silent wrong answer without one."""
    for family, (model, raw, processor) in loaded.items():
        if not model.text_only:
            with pytest.raises(VlmauditError, match="cannot run without an image") as err:
                model.logprobs([Query(None, QUESTION, ("Yes",))])
            assert "\n" not in str(err.value)
            continue
        got = model.logprobs([Query(None, QUESTION, ("Yes", "a red circle"))])[0]
        for cont, lp in zip(("Yes", "a red circle"), got, strict=True):
            ref = _reference(family, raw, processor, None, QUESTION, cont)
            assert lp.shape == ref.shape and float(np.abs(lp - ref).max()) < TOL, family
    assert loaded["llava"][0].text_only and not loaded["paligemma"][0].text_only


def test_load_errors_are_one_line(tmp_path):
    """Catches a traceback-sized error (or a hub download attempt) for a missing or dual-encoder dir."""
    from model_fixtures import make_tiny_hf_clip

    with pytest.raises((SpecError, ModelLoadError)) as err:
        load_model(f"hfgen:{tmp_path / 'nope'}")
    assert "\n" not in str(err.value) and "nope" in str(err.value)
    clip = make_tiny_hf_clip(tmp_path / "clip").removeprefix("hf:")
    with pytest.raises((SpecError, ModelLoadError)) as err:
        load_model(f"hfgen:{clip}")
    assert "\n" not in str(err.value) and "'clip'" in str(err.value)
    assert load_model(f"hf:{clip}").family != "generative"  # the dual-encoder path is untouched


@pytest.mark.parametrize("family", ["llava", "qwen2_vl", "blip2", "paligemma"])
def test_hidden_states_and_generate(family, loaded):
    """Catches a probe that returns the wrong layer/shape, or "mean" silently equal to "last"."""
    model = loaded[family][0]
    images, prompts = [_image(32, 32, 6), _image(48, 32, 7)], [QUESTION, "Is there a dog?"]
    last = model.hidden_states(images, prompts, position="last")
    mean = model.hidden_states(images, prompts, layer=-1, position="mean")
    assert last.shape == mean.shape == (2, 32) and last.dtype == torch.float32
    assert not torch.allclose(last, mean)
    texts = model.generate(images, prompts, max_new_tokens=3)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)


def test_bf16_scores_are_fp32_and_fingerprinted(tiny):
    """Catches bf16 scores leaking out in bf16, or fp32/bf16 caches sharing one fingerprint."""
    import transformers

    fp32 = load_model(f"hfgen:{tiny['llava']}")
    bf16 = load_model(f"hfgen:{tiny['llava']}", dtype="bf16")
    query = [Query(_image(32, 32, 8), QUESTION, ("a red circle",))]
    a, b = fp32.logprobs(query)[0][0], bf16.logprobs(query)[0][0]
    assert b.dtype == np.float32 and np.all(np.isfinite(b)) and float(np.abs(a - b).max()) < 0.5
    assert fp32.fingerprint != bf16.fingerprint
    assert fp32.describe()["transformers"] == transformers.__version__
    assert fp32.describe()["family"] == "generative"
