"""`hfgen:<dir>`: transformers generative VLMs (AutoModelForImageTextToText) behind `GenerativeModel`.

Nine families: LLaVA, LLaVA-NeXT, PaliGemma, Idefics3, SmolVLM, Qwen2-VL, Qwen2.5-VL, BLIP-2 and
InstructBLIP (decoder-only language models; BLIP-2 with Flan-T5 is refused). Loaded from a local
directory only (`local_files_only=True`); anything missing is a one-line `ModelLoadError`.

Scoring (`logprobs`): the user's prompt is wrapped in the checkpoint's own chat template when its
processor has one, else in the family's default (`_FAMILIES`); the continuation is appended after
the family's answer separator (" " after "ASSISTANT:"/"Assistant:"/"Answer:", as those models
generate " Yes"; nothing after Qwen's "assistant\\n"), so "Yes" is scored as the token the model
would generate. The ids of the templated prompt must be a prefix of the ids of prompt +
continuation, else a `ScoringBoundaryError`: no prompt token is scored, none dropped. The check and
the continuation ids use text-level tokenisation (the processor expands the image placeholder only
inside the prompt), so an image is preprocessed once per query, not once per continuation.
PaliGemma's processor appends "\\n" to the prompt, so its continuation goes through `suffix=`
(prefix attends bidirectionally, suffix causally, via `token_type_ids`); the `<eos>` that path
appends is not scored. InstructBLIP's Q-Former reads the prompt (the instruction) only, never the
continuation, so the image features cannot see the answer being scored.

Two paths, each equal to one unbatched, uncached forward per (query, continuation) to 1e-4:
- KV-cache prefix sharing (LLaVA, LLaVA-NeXT, Idefics3, SmolVLM, BLIP-2, InstructBLIP): the
  queries of a chunk are encoded once, right-padded, with `use_cache=True`; the cache is repeated
  per continuation and all continuations of the chunk run in one forward with explicit positions
  (prompt length + t) and a mask hiding the prompt padding. A one-token continuation ("Yes")
  needs no second forward at all.
- One padded forward of the full sequences (PaliGemma: token_type_ids switch the prefix mask;
  Qwen2-VL / Qwen2.5-VL: 3-D M-RoPE positions and the `rope_deltas` the model keeps as state).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vlmaudit.errors import VlmauditError
from vlmaudit.models._loading import load_error
from vlmaudit.models.base import CLIP_MEAN, CLIP_STD, Preprocessing, hash_file
from vlmaudit.models.generative import GenerativeModel, Position, Query


class ScoringBoundaryError(VlmauditError):
    """The templated prompt's token ids are not a prefix of prompt + continuation."""


@dataclass(frozen=True)
class _Family:
    """How one family wraps a prompt and where its continuation starts."""

    template: str  # "{image}" and "{prompt}" placeholders; used when the processor has no chat template
    image: str  # what "{image}" becomes when the query has an image
    sep: str  # put between the generation prompt and the continuation
    kv_cache: bool  # prefix sharing through the KV cache (else one padded full forward)
    text_only: bool = True
    nested_images: bool = False  # processor wants [[image]] per text
    suffix: bool = False  # PaliGemma: the continuation is the processor's `suffix`
    sub_lm: bool = False  # BLIP: continuation forward through `model.language_model`


_QWEN = _Family("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                "{image}{prompt}<|im_end|>\n<|im_start|>assistant\n",
                "<|vision_start|><|image_pad|><|vision_end|>", "", kv_cache=False)
_VICUNA = _Family("USER: {image}{prompt} ASSISTANT:", "<image>\n", " ", kv_cache=True)
_FAMILIES: dict[str, _Family] = {
    "llava": _VICUNA,
    "llava_next": _VICUNA,
    "paligemma": _Family("{image}{prompt}", "<image>", "", kv_cache=False, text_only=False, suffix=True),
    "idefics3": _Family("User:{image}{prompt}<end_of_utterance>\nAssistant:", "<image>", " ", kv_cache=True,
                        nested_images=True),
    "smolvlm": _Family("<|im_start|>User:{image}{prompt}<end_of_utterance>\nAssistant:", "<image>", " ",
                       kv_cache=True, nested_images=True),
    "qwen2_vl": _QWEN,
    "qwen2_5_vl": _QWEN,
    "blip-2": _Family("Question: {prompt} Answer:", "", " ", kv_cache=True, text_only=False, sub_lm=True),
    "instructblip": _Family("{prompt}", "", " ", kv_cache=True, text_only=False, sub_lm=True),
}
GENERATIVE_TYPES = frozenset(_FAMILIES)


@dataclass
class _Scored:
    """One query after tokenization: prompt ids and each continuation's ids."""

    prompt_ids: list[int]
    conts: list[list[int]]


class HFGenerativeModel(GenerativeModel):
    """A transformers image-text-to-text model; scores are fp32 log-probs whatever the weights' dtype."""

    caption_prompt = "Describe the image in one sentence."

    def __init__(self, spec: str, model, processor, model_type: str, weights_hash: str, source: Path,
                 device: torch.device, dtype: torch.dtype, batch_size: int = 8) -> None:
        self.spec = spec
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.model_type = model_type
        self.fam = _FAMILIES[model_type]
        self.text_only = self.fam.text_only
        self.weights_hash = weights_hash
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.chat_template = getattr(processor, "chat_template", None) or None
        self.preprocessing = _preprocessing(processor.image_processor.to_dict())
        self._extra = _fingerprint_parts(model, processor, model_type, self.fam, self.chat_template, source)

    def fingerprint_extra(self) -> dict:
        """Beside weights: library version, config, tokenizer/processor, template and scoring path."""
        return dict(self._extra)

    # -- prompts --------------------------------------------------------------------------------
    def templated(self, prompt: str, has_image: bool) -> str:
        """The prompt wrapped for generation (chat template, image placeholder, assistant prefix)."""
        if self.chat_template and not self.fam.suffix:  # PaliGemma: the processor adds <bos> and "\n"
            content = ([{"type": "image"}] if has_image else []) + [{"type": "text", "text": prompt}]
            text = self.processor.apply_chat_template([{"role": "user", "content": content}],
                                                      add_generation_prompt=True, tokenize=False)
        else:
            text = self.fam.template.format(image=self.fam.image if has_image else "", prompt=prompt)
        # a trailing space would become its own token; the model generates " Yes" after "ASSISTANT:"
        return text.rstrip(" ") if self.fam.sep == " " else text

    def _check_image(self, image: Image.Image | None) -> None:
        if image is None and not self.text_only:
            raise VlmauditError(f"model {self.spec!r}: {self.model_type} cannot run without an image "
                                "(text_only is False); give the blind baseline a neutral image")

    def _encode(self, texts: list[str], images: list[Image.Image | None], suffix: list[str] | None = None,
                padding_side: str = "right") -> dict:
        """Processor call for one batch (all with images or none), on the model's device and dtype."""
        kwargs: dict = {"text": texts, "return_tensors": "pt", "padding": True}
        if images and images[0] is not None:
            rgb = [im.convert("RGB") for im in images]
            kwargs["images"] = [[im] for im in rgb] if self.fam.nested_images else rgb
        if suffix is not None:
            kwargs["suffix"] = suffix
        bos = self.tokenizer.bos_token
        if self.chat_template and bos and all(t.startswith(bos) for t in texts):
            kwargs["add_special_tokens"] = False  # the template already wrote <bos>
        old = self.tokenizer.padding_side
        self.tokenizer.padding_side = padding_side
        try:
            enc = self.processor(**kwargs)
        finally:
            self.tokenizer.padding_side = old
        enc.pop("labels", None)
        return {k: (v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device))
                for k, v in enc.items()}

    def _tokenize(self, query: Query) -> _Scored:
        """Prompt ids and continuation ids of one query, the boundary checked (see module docstring)."""
        self._check_image(query.image)
        prompt = self.templated(query.prompt, query.image is not None)
        conts = list(query.continuations)
        first = self._encode([prompt], [query.image])
        prompt_ids = _rows(first)[0]
        if not conts:
            return _Scored(prompt_ids, [])
        if self.fam.suffix:
            full = _rows(self._encode([prompt] * len(conts), [query.image] * len(conts), suffix=conts))
            eos = self.tokenizer.eos_token_id
            for row in full:
                if row[-1] != eos:
                    raise ScoringBoundaryError(f"model {self.spec!r}: PaliGemma suffix did not end in <eos>")
            full = [row[:-1] for row in full]  # the appended <eos> is not part of the continuation
        else:
            # Text-level ids: the processor only expands the image placeholder inside the prompt, so
            # the continuation's ids are the tail of prompt + continuation tokenised without the image
            # (one image preprocessing per query, not one per continuation); the prefix check runs on
            # the text-level ids, where a merge across the boundary would show.
            texts = [prompt] + [prompt + self.fam.sep + c for c in conts]
            template_bos = bool(self.chat_template and self.tokenizer.bos_token
                                and prompt.startswith(self.tokenizer.bos_token))
            plain = self.tokenizer(texts, add_special_tokens=not template_bos)["input_ids"]
            out = []
            for cont, row in zip(conts, plain[1:], strict=True):
                if row[: len(plain[0])] != plain[0]:
                    raise ScoringBoundaryError(
                        f"model {self.spec!r}: the prompt's tokens are not a prefix of prompt + continuation "
                        f"{cont!r} (the continuation merges with the prompt's last token); cannot score it "
                        "exactly")
                out.append(list(row[len(plain[0]):]))
            return _Scored(prompt_ids, out)
        out = []
        for cont, row in zip(conts, full, strict=True):
            if row[: len(prompt_ids)] != prompt_ids:
                raise ScoringBoundaryError(
                    f"model {self.spec!r}: the prompt's tokens are not a prefix of prompt + continuation "
                    f"{cont!r} (the continuation merges with the prompt's last token); cannot score it "
                    "exactly")
            out.append(row[len(prompt_ids):])
        return _Scored(prompt_ids, out)

    def continuation_tokens(self, texts: Sequence[str]) -> list[list[str]]:
        scored = self._tokenize(Query(_probe_image() if not self.text_only else None, "", tuple(texts)))
        return [self.tokenizer.convert_ids_to_tokens(ids) for ids in scored.conts]

    # -- scoring --------------------------------------------------------------------------------
    @torch.no_grad()
    def logprobs(self, queries: Sequence[Query]) -> list[list[np.ndarray]]:
        results: list[list[np.ndarray] | None] = [None] * len(queries)
        for has_image in (True, False):  # a processor batch is all-image or all-text
            index = [i for i, q in enumerate(queries) if (q.image is not None) == has_image]
            for start in range(0, len(index), self.batch_size):
                chunk = index[start:start + self.batch_size]
                qs = [queries[i] for i in chunk]
                scored = [self._tokenize(q) for q in qs]
                run = self._score_cached if self.fam.kv_cache else self._score_full
                for i, rows in zip(chunk, run(qs, scored), strict=True):
                    results[i] = rows
        return [r if r is not None else [] for r in results]

    def _forward(self, enc: dict, **kwargs):
        if self.model_type in ("qwen2_vl", "qwen2_5_vl"):
            self.model.model.rope_deltas = None  # state left by an earlier call must not shift positions
        return self.model(**enc, **kwargs)

    def _score_full(self, qs: list[Query], scored: list[_Scored]) -> list[list[np.ndarray]]:
        """One right-padded forward of every (prompt + continuation) of the chunk, no cache."""
        pairs = [(qi, ci) for qi, s in enumerate(scored) for ci in range(len(s.conts))]
        out: list[list[np.ndarray]] = [[np.zeros(0, np.float32)] * len(s.conts) for s in scored]
        if not pairs:
            return out
        images = [qs[qi].image for qi, _ in pairs]
        prompts = [self.templated(qs[qi].prompt, qs[qi].image is not None) for qi, _ in pairs]
        conts = [qs[qi].continuations[ci] for qi, ci in pairs]
        if self.fam.suffix:
            enc = self._encode(prompts, images, suffix=conts)
        else:
            enc = self._encode([p + self.fam.sep + c for p, c in zip(prompts, conts, strict=True)], images)
        rows = _rows(enc)
        starts = [len(scored[qi].prompt_ids) for qi, _ in pairs]
        ends = [s + len(scored[qi].conts[ci]) for s, (qi, ci) in zip(starts, pairs, strict=True)]
        for row, (qi, ci), e in zip(rows, pairs, ends, strict=True):
            if row[:e] != scored[qi].prompt_ids + scored[qi].conts[ci]:
                raise self._batch_mismatch()
        lo = max(min(starts) - 1, 0)
        hi = max(max(ends) - 1, lo + 1)
        logits = _window(self._forward(enc, use_cache=False, **self._keep(lo, hi)).logits, lo, hi)
        ids = enc["input_ids"]
        for b, ((qi, ci), s, e) in enumerate(zip(pairs, starts, ends, strict=True)):
            out[qi][ci] = _gather(logits[b, s - 1 - lo:e - 1 - lo], ids[b, s:e])
        return out

    def _batch_mismatch(self) -> ScoringBoundaryError:
        return ScoringBoundaryError(f"model {self.spec!r}: batched tokenization differs from unbatched")

    def _keep(self, lo: int, hi: int) -> dict:
        """Only the logits rows lo..hi-1 (a 150k vocabulary over a 600-token prompt is 360 MB in fp32)."""
        return {"logits_to_keep": torch.arange(lo, hi, device=self.device)}

    def _score_cached(self, qs: list[Query], scored: list[_Scored]) -> list[list[np.ndarray]]:
        """Prompts once with use_cache=True; every continuation of the chunk against the repeated cache."""
        prompts = [self.templated(q.prompt, q.image is not None) for q in qs]
        enc = self._encode(prompts, [q.image for q in qs])
        plen = [len(s.prompt_ids) for s in scored]
        for row, s in zip(_rows(enc), scored, strict=True):
            if row != s.prompt_ids:
                raise self._batch_mismatch()
        lo, hi = min(plen) - 1, max(plen)
        keep = {} if self.fam.sub_lm else self._keep(lo, hi)  # BLIP's forward takes no logits_to_keep
        first = self._forward(enc, use_cache=True, **keep)
        logits = _window(first.logits, lo, hi)
        cache = first.language_model_outputs.past_key_values if self.fam.sub_lm else first.past_key_values
        pairs = [(qi, ci) for qi, s in enumerate(scored) for ci in range(len(s.conts))]
        out: list[list[np.ndarray]] = [[np.zeros(0, np.float32)] * len(s.conts) for s in scored]
        if not pairs:
            return out
        first_lp = [torch.log_softmax(logits[qi, plen[qi] - 1 - lo].float(), -1) for qi in range(len(qs))]
        longest = max(len(scored[qi].conts[ci]) for qi, ci in pairs)
        rest = None
        if longest > 1:  # tokens 1.. of each continuation need one more forward; token 0 is scored already
            width = longest - 1
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
            ids = torch.full((len(pairs), width), pad, dtype=torch.long)
            mask = torch.zeros((len(pairs), width), dtype=torch.long)
            for b, (qi, ci) in enumerate(pairs):
                toks = scored[qi].conts[ci][:-1]
                ids[b, :len(toks)] = torch.tensor(toks, dtype=torch.long)
                mask[b, :len(toks)] = 1
            rep = torch.tensor([qi for qi, _ in pairs], device=self.device)
            cache.batch_select_indices(rep)
            attn = torch.cat([enc["attention_mask"][rep], mask.to(self.device)], dim=1)
            pos = torch.tensor([plen[qi] for qi, _ in pairs]).unsqueeze(1) + torch.arange(width)
            kwargs = dict(input_ids=ids.to(self.device), attention_mask=attn,
                          position_ids=pos.to(self.device), past_key_values=cache, use_cache=True)
            lm = self.model.language_model if self.fam.sub_lm else self.model
            rest = lm(**kwargs).logits
        for b, (qi, ci) in enumerate(pairs):
            toks = scored[qi].conts[ci]
            if not toks:
                continue
            head = first_lp[qi][toks[0]].reshape(1)
            tail = (torch.log_softmax(rest[b, :len(toks) - 1].float(), -1)
                    .gather(-1, torch.tensor(toks[1:], device=self.device).unsqueeze(-1)).squeeze(-1)
                    if len(toks) > 1 else head[:0])
            out[qi][ci] = torch.cat([head, tail]).cpu().numpy().astype(np.float32)
        return out

    # -- generation and probes ------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, images: Sequence[Image.Image | None], prompts: Sequence[str],
                 max_new_tokens: int = 16) -> list[str]:
        """Greedy, one (image, prompt) at a time: no padding can change what is generated."""
        texts = []
        for image, prompt in zip(images, prompts, strict=True):
            self._check_image(image)
            enc = self._encode([self.templated(prompt, image is not None)], [image])
            if self.model_type in ("qwen2_vl", "qwen2_5_vl"):
                self.model.model.rope_deltas = None
            ids = self.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                                      pad_token_id=self.tokenizer.pad_token_id)
            n = enc["input_ids"].shape[1]
            new = ids[0, n:] if ids.shape[1] > n and torch.equal(ids[0, :n], enc["input_ids"][0]) else ids[0]
            texts.append(self.tokenizer.decode(new, skip_special_tokens=True).strip())
        return texts

    @torch.no_grad()
    def hidden_states(self, images: Sequence[Image.Image | None], prompts: Sequence[str], layer: int = -1,
                      position: Position = "last") -> torch.Tensor:
        rows = []
        for image, prompt in zip(images, prompts, strict=True):  # unpadded: no pad can shift a mean
            self._check_image(image)
            enc = self._encode([self.templated(prompt, image is not None)], [image])
            out = self._forward(enc, use_cache=False, output_hidden_states=True)
            states = (out.language_model_outputs if self.fam.sub_lm else out).hidden_states[layer][0].float()
            rows.append(states[-1] if position == "last" else states.mean(0))
        return torch.stack(rows) if rows else torch.zeros(0, self.model.config.get_text_config().hidden_size)


def _window(logits: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """Rows lo..hi-1 of the sequence, whether or not the model honoured `logits_to_keep`."""
    return logits if logits.shape[1] == hi - lo else logits[:, lo:hi]


def _gather(logits: torch.Tensor, ids: torch.Tensor) -> np.ndarray:
    """log_softmax in fp32, read at the next token's id: [T]."""
    lp = torch.log_softmax(logits.float(), -1).gather(-1, ids.unsqueeze(-1)).squeeze(-1)
    return lp.cpu().numpy().astype(np.float32)


def _rows(enc: dict) -> list[list[int]]:
    """Unpadded token ids of each row (the attention mask says which are real)."""
    ids, mask = enc["input_ids"].cpu(), enc["attention_mask"].cpu().bool()
    return [row[m].tolist() for row, m in zip(ids, mask, strict=True)]


def _probe_image() -> Image.Image:
    return Image.new("RGB", (32, 32), (127, 127, 127))


def _preprocessing(cfg: dict) -> Preprocessing:
    """The processor's geometry, approximately: for reports and fingerprints; the processor does the work."""
    size = cfg.get("size") or {}
    resample = {0: "nearest", 2: "bilinear", 3: "bicubic"}.get(int(cfg.get("resample", 3)), "bicubic")
    if isinstance(size, int):
        image_size, mode = size, "squash"
    elif "shortest_edge" in size:
        crop = cfg.get("crop_size") or {}
        image_size, mode = crop.get("height", size["shortest_edge"]), "shortest"
    elif "height" in size:
        image_size, mode = size["height"], "squash"
    elif "longest_edge" in size:
        image_size, mode = (cfg.get("max_image_size") or size)["longest_edge"], "squash"
    else:  # Qwen: a variable grid between min_pixels and max_pixels; record the largest square side
        pixels = cfg.get("max_pixels") or size.get("max_pixels") or 224 * 224
        image_size, mode = int(pixels ** 0.5), "squash"
    mean = tuple(cfg.get("image_mean") or CLIP_MEAN)
    std = tuple(cfg.get("image_std") or CLIP_STD)
    return Preprocessing(int(image_size), mean, std, mode, resample)


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _fingerprint_parts(model, processor, model_type: str, fam: _Family, chat_template: str | None,
                       source: Path) -> dict:
    import transformers

    skip = ("_name_or_path", "transformers_version")
    config = {k: v for k, v in model.config.to_dict().items() if k not in skip}
    tok = processor.tokenizer
    backend = getattr(tok, "backend_tokenizer", None)
    proc_files = sorted(p.name for p in source.glob("*processor*.json"))
    proc_cfg = {name: json.loads((source / name).read_text()) for name in proc_files}
    return {
        "backend": "hfgen",
        "model_class": type(model).__name__,
        "model_type": model_type,
        "transformers": transformers.__version__,
        "config_hash": _digest(config),
        "tokenizer_hash": _digest(backend.to_str() if backend is not None
                                  else sorted(tok.get_vocab().items())),
        "processor_hash": _digest(proc_cfg),
        "template": chat_template or fam.template,
        "answer_sep": fam.sep,
        "scoring_path": "kv-cache" if fam.kv_cache else "full-forward",
    }


def _model_type(path: Path, spec: str) -> str:
    config = path / "config.json"
    if not config.is_file():
        raise load_error(spec, f"directory {path} has no config.json")
    try:
        return str(json.loads(config.read_text()).get("model_type", ""))
    except (OSError, ValueError) as exc:
        raise load_error(spec, f"cannot read {config}", exc) from exc


def is_generative_dir(rest: str) -> bool:
    """Whether `rest` is a local directory whose config names one of the nine generative families."""
    path = Path(rest).expanduser()
    if not (path / "config.json").is_file():
        return False
    try:
        return json.loads((path / "config.json").read_text()).get("model_type") in GENERATIVE_TYPES
    except (OSError, ValueError):
        return False


def resolve(rest: str, spec: str | None = None) -> None:
    """Check `rest` is a local model directory of one of the nine families, without loading it."""
    spec = spec or f"hfgen:{rest}"
    path = Path(rest).expanduser()
    if not path.is_dir():
        raise load_error(spec, f"no such model directory {rest!r} (hfgen loads local directories only)")
    model_type = _model_type(path, spec)
    if model_type not in GENERATIVE_TYPES:
        raise load_error(spec, f"model type {model_type!r} is not a supported generative VLM "
                               f"(supported: {', '.join(sorted(GENERATIVE_TYPES))})")


def load(rest: str, *, device: torch.device, dtype: torch.dtype,
         spec: str | None = None) -> HFGenerativeModel:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    spec = spec or f"hfgen:{rest}"
    resolve(rest, spec)
    path = Path(rest).expanduser()
    model_type = _model_type(path, spec)
    try:
        model, info = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True, dtype=dtype,
                                                                  output_loading_info=True)
    except Exception as exc:
        raise load_error(spec, "cannot load weights from the directory", exc) from exc
    if info.get("missing_keys"):
        missing = sorted(info["missing_keys"])
        raise load_error(spec, f"checkpoint lacks {len(missing)} weights (e.g. {missing[0]}); refusing to "
                               "evaluate randomly initialised layers")
    if model_type in ("blip-2", "instructblip") and not model.config.use_decoder_only_language_model:
        raise load_error(spec, "encoder-decoder (Flan-T5) language models are not supported")
    try:
        processor = AutoProcessor.from_pretrained(path, local_files_only=True)
    except Exception as exc:
        raise load_error(spec, "cannot load the processor/tokenizer from the directory", exc) from exc
    vocab = model.get_output_embeddings().weight.shape[0]
    if len(processor.tokenizer) > vocab:
        raise load_error(spec, f"tokenizer has {len(processor.tokenizer)} tokens (after the processor added "
                               f"its own) but the output layer has {vocab}")
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise load_error(spec, "no .safetensors weights in the directory")
    weights_hash = _digest([hash_file(str(f)) for f in files])
    model = model.to(device).eval()
    return HFGenerativeModel(spec, model, processor, model_type, weights_hash, path, device, dtype)
