"""`builtin:scenes-gen` (and `-cls`): the built-in generative model behind the generative interface.

Scoring shares the prefix: each query's image and prompt run through the decoder once, and all of
its continuations are scored in one forward against the cached keys and values (`CaptionDecoder.run`
with `past`). Every token sits at the position it had in training (image tokens from 0, then
`<bos> prompt <sep>`, then the answer), whatever else is scored beside it; continuations are
right-padded and the padding masked, so a continuation's score does not depend on its neighbours
beyond float rounding (tested against the uncached, per-pair forward).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from vlmaudit.models.base import Preprocessing
from vlmaudit.models.builtin_gen_arch import KV, CaptionDecoder
from vlmaudit.models.generative import GenerativeModel, Position, Query

CPU = torch.device("cpu")
MEMO_IMAGES = 4096  # projected image tokens kept per model (~9 kB each at the shipped size)
CONTINUATION_ROWS = 128  # continuations per forward, sorted by length so padding stays short


class BuiltinGenerativeModel(GenerativeModel):
    """The audit interface around a `CaptionDecoder`; squash resize like the built-in CLIP."""

    text_only = True  # a query without an image runs the decoder on the prompt alone

    def __init__(self, module: CaptionDecoder, spec: str, weights_hash: str, tower_hash: str,
                 device: torch.device = CPU, dtype: torch.dtype = torch.float32) -> None:
        tower = module.config.tower_config
        self.spec, self.weights_hash, self.tower_hash = spec, weights_hash, tower_hash
        self.preprocessing = Preprocessing(tower.image_size, tower.mean, tower.std, "squash", "bicubic")
        self.device, self.dtype = device, dtype
        self.module = module.to(device=device, dtype=dtype).eval().requires_grad_(False)
        self.caption_prompt = "Describe the image."
        blob = json.dumps(module.config.to_dict(), sort_keys=True).encode()
        self._config_hash = hashlib.sha256(blob).hexdigest()[:16]
        self._memo: dict[bytes, torch.Tensor] = {}

    def fingerprint_extra(self) -> dict:
        return {"tokenizer": "word", "config_hash": self._config_hash, "tower_hash": self.tower_hash,
                "image_input": self.module.config.image_input}

    def continuation_tokens(self, texts: Sequence[str]) -> list[list[str]]:
        vocab = self.module.tokenizer.vocab
        return [[vocab[i] for i in self.module.word_ids(text)] for text in texts]

    def _prefix(self, image: Image.Image | None, prompt: str,
                layers: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor, list[KV]]:
        """[image tokens] <bos> prompt <sep> of one query: (states [1, T, W], valid [1, T], K/V).

        An image-less query keeps its image slots (masked out), so its prompt sits where it did in
        training.
        """
        m = self.module
        head = torch.tensor([m.prompt_ids(prompt)], dtype=torch.long, device=self.device)
        stand_in = image if image is not None else Image.new("RGB", (self.preprocessing.image_size,) * 2)
        pixels = self.preprocess([stand_in]).to(self.dtype)
        visual = m.projector(m.visual_features(pixels))
        valid = torch.ones((1, visual.shape[1] + head.shape[1]), dtype=torch.bool, device=self.device)
        valid[:, : visual.shape[1]] = image is not None
        states, cache = m.run(torch.cat([visual, m.embed(head)], dim=1), 0, valid, layers=layers)
        return states, valid, cache

    def logprobs(self, queries: Sequence[Query], chunk: int = 32) -> list[list[np.ndarray]]:
        """Queries in chunks: one batched prefix forward (prompts right-padded, so every real token
        keeps its training position), then every continuation of the chunk in one forward against
        its own query's cached K/V (rows repeated per continuation, padding masked)."""
        out: list[list[np.ndarray]] = []
        with torch.inference_mode():
            for start in range(0, len(queries), chunk):
                out += self._logprobs(queries[start : start + chunk])
        return out

    def _visual(self, images: Sequence[Image.Image | None]) -> torch.Tensor:
        """[N, image_length, width] projected image tokens; zeros for a missing image (masked out).

        Memoised by image content: one scene image is a query of a dozen benchmarks (and of a
        caption prompt and a question), and the tower + projector are most of a short query's cost.
        """
        m = self.module
        keys = [None if img is None else _content_key(img) for img in images]
        todo = list(dict.fromkeys(k for k in keys if k is not None and k not in self._memo))
        if todo:
            first = {k: images[keys.index(k)] for k in todo}
            pixels = self.preprocess([first[k] for k in todo]).to(self.dtype)
            for k, row in zip(todo, m.projector(m.visual_features(pixels)), strict=True):
                if len(self._memo) >= MEMO_IMAGES:
                    self._memo.pop(next(iter(self._memo)))
                self._memo[k] = row
        blank = torch.zeros(m.config.image_length, m.config.width, dtype=self.dtype, device=self.device)
        return torch.stack([self._memo[k] if k is not None else blank for k in keys])

    def _logprobs(self, queries: Sequence[Query]) -> list[list[np.ndarray]]:
        m, dev, pad = self.module, self.device, self.module.tokenizer.pad_id
        heads = [m.prompt_ids(q.prompt) for q in queries]
        head_ids = _padded(heads, pad, dev)
        visual = self._visual([q.image for q in queries])
        image_valid = torch.tensor([q.image is not None for q in queries], device=dev)[:, None]
        valid = torch.cat([image_valid.expand(-1, visual.shape[1]), head_ids != pad], dim=1)
        states, cache = m.run(torch.cat([visual, m.embed(head_ids)], dim=1), 0, valid)
        ends = torch.tensor([visual.shape[1] + len(h) for h in heads], device=dev)  # first answer position
        owner, conts = [], []
        for qi, (query, head) in enumerate(zip(queries, heads, strict=True)):
            room = m.config.context - len(head)
            for text in query.continuations:
                owner.append(qi)
                conts.append(m.word_ids(text)[:room])
        scored: list[np.ndarray | None] = [None] * len(conts)
        order = sorted(range(len(conts)), key=lambda r: len(conts[r]))  # similar lengths pad together
        for start in range(0, len(order), CONTINUATION_ROWS):
            group = order[start : start + CONTINUATION_ROWS]
            if not max(len(conts[r]) for r in group):
                for r in group:
                    scored[r] = np.zeros(0, dtype=np.float32)
                continue
            rows = torch.tensor([owner[r] for r in group], device=dev)
            first = m.logits(states[rows, ends[rows] - 1])  # the <sep> state predicts the first answer token
            ids = _padded([conts[r] for r in group], pad, dev)
            past = [(key[rows], value[rows]) for key, value in cache]
            mask = torch.cat([valid[rows], ids != pad], dim=1)
            cont_states, _ = m.run(m.embed(ids), ends[rows], mask, past)
            logits = torch.cat([first[:, None], m.logits(cont_states[:, :-1])], dim=1)  # j predicts j + 1
            logp = logits.float().log_softmax(-1).gather(2, ids[..., None])[..., 0].cpu().numpy()
            for i, r in enumerate(group):
                scored[r] = logp[i, : len(conts[r])].astype(np.float32)
        result: list[list[np.ndarray]] = [[] for _ in queries]
        for qi, logp in zip(owner, scored, strict=True):
            result[qi].append(logp)
        return result

    def generate(self, images: Sequence[Image.Image | None], prompts: Sequence[str],
                 max_new_tokens: int = 16) -> list[str]:
        m = self.module
        texts = []
        with torch.inference_mode():
            for image, prompt in zip(images, prompts, strict=True):
                states, valid, cache = self._prefix(image, prompt)
                position, words = states.shape[1], []
                token = int(m.logits(states[:, -1]).argmax(-1))
                while token != m.tokenizer.eos_id and len(words) < max_new_tokens \
                        and position < m.pos.shape[1]:
                    words.append(token)
                    valid = torch.cat([valid, valid.new_ones(1, 1)], dim=1)
                    step, cache = m.run(m.embed(torch.tensor([[token]], device=self.device)), position, valid,
                                        cache)
                    position += 1
                    token = int(m.logits(step[:, -1]).argmax(-1))
                texts.append(m.decode(words))
        return texts

    def hidden_states(self, images: Sequence[Image.Image | None], prompts: Sequence[str], layer: int = -1,
                      position: Position = "last") -> torch.Tensor:
        """layer 0 = the input embeddings, i = after block i; -1 = the final, normalised states."""
        rows = []
        with torch.inference_mode():
            for image, prompt in zip(images, prompts, strict=True):
                layers: list[torch.Tensor] = []
                states, valid, _ = self._prefix(image, prompt, layers)
                picked = states if layer == -1 else layers[layer]
                picked = picked[0, valid[0]]
                rows.append(picked[-1] if position == "last" else picked.mean(0))
        return torch.stack(rows).float()



def load_generative(name: str, weights, record: dict, device: torch.device, dtype: torch.dtype
                    ) -> BuiltinGenerativeModel:
    """A generative record's module, weights checked against its hash (ModelLoadError otherwise)."""
    from safetensors.torch import load_file

    from vlmaudit.errors import ModelLoadError
    from vlmaudit.models.base import hash_state_dict
    from vlmaudit.models.builtin_gen_arch import GenerativeConfig

    try:
        module = CaptionDecoder(GenerativeConfig.from_dict(record["arch"]))
        state = load_file(str(weights))
        module.load_state_dict({**state, "head.weight": state["embed.weight"]})
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        raise ModelLoadError(f"builtin model {name!r} ({weights}): {err}") from None
    actual = hash_state_dict(state)
    if actual != record.get("weights_hash"):
        raise ModelLoadError(f"{weights} has weights hash {actual}, but its record says "
                             f"{record.get('weights_hash')}")
    tower = hash_state_dict({k.removeprefix("tower."): v for k, v in state.items() if k.startswith("tower.")})
    if tower != record.get("tower_hash"):
        raise ModelLoadError(f"{weights}: image tower hash {tower} differs from the recorded "
                             f"{record.get('tower_hash')}")
    return BuiltinGenerativeModel(module, f"builtin:{name}", actual, tower, device, dtype)


def _padded(rows: Sequence[Sequence[int]], pad: int, device: torch.device) -> torch.Tensor:
    """[N, max len] int64 ids, right-padded."""
    out = torch.full((len(rows), max(map(len, rows), default=0)), pad, dtype=torch.long, device=device)
    for r, row in enumerate(rows):
        out[r, : len(row)] = torch.tensor(list(row), dtype=torch.long, device=device)
    return out


def _content_key(image: Image.Image) -> bytes:
    return hashlib.sha1(image.tobytes() + repr((image.size, image.mode)).encode()).digest()
