"""The embedding engine: every suite's only way to get embeddings.

Requests are (image, transform) pairs and texts, for pooled embeddings or for dense token maps
(`image_tokens`, `text_tokens`, a cached kind of their own). Each unique input is looked up in this
engine's memory, then in the on-disk cache (keyed by the model fingerprint and the input), and only
the rest is computed, in batches, under inference mode, sharded across ranks when torch.distributed
is initialised. Rows are stored raw and come back as fp32, aligned to the request, L2-normalised
unless asked otherwise. Images are decoded one batch at a time: the engine holds embeddings only.

Every forward has the same shape: a short batch is padded to `batch_size` with copies of its last
input and the copies' rows dropped, and texts share a forward only with texts of the same padded
length (`model.text_lengths`). BLAS picks its kernel (and so its summation order) by the matrix
shape — on AVX-512/AMX CPUs a linear layer on 1 or 2 rows differs from the same rows among 16 in the
last bits — so without this an image embedded alone, in a resumed run or after a damaged cache entry
is recomputed, would not be bit-identical to the same image embedded in a full batch. Rows are
bit-identical for one `batch_size`, device and dtype; across CPUs only to float tolerance.

Generative models (`vlmaudit.models.generative`) go through the same memory, cache and sharding:
`continuation_logprobs` caches (sum of log-probs, token count) per (image, view, prompt,
continuation), and `hidden_states` caches decoder states per (image, view, prompt, layer, position).
A batch of pair requests is grouped into one query per (image, prompt), so the model encodes each
image and prompt once and scores all of its continuations against that prefix.

Gradient code (attacks, Jacobians) takes the differentiable path: `pixels` then `embed_pixels`,
uncached, on the model's device and dtype, never a backend call of its own.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from vlmaudit.data.images import ImageRef
from vlmaudit.engine.cache import EmbeddingCache, default_cache_dir
from vlmaudit.engine.distributed import World
from vlmaudit.errors import EmbeddingError
from vlmaudit.models.base import AuditedModel
from vlmaudit.models.generative import Query
from vlmaudit.perturb.base import ImageTransform


class _Default(Enum):
    CACHE_DIR = "default"


DEFAULT_CACHE_DIR = _Default.CACHE_DIR  # `$VLMAUDIT_CACHE` or ~/.cache/vlmaudit; None disables


@dataclass
class Counts:
    """What happened to the inputs of one kind, summed over calls."""

    requested: int = 0  # rows asked for
    unique: int = 0  # distinct inputs among them (per call)
    memory_hits: int = 0  # served from this engine's earlier results
    cache_hits: int = 0  # served from the disk cache
    computed: int = 0  # embedded by the model (all ranks together)
    computed_here: int = 0  # of those, embedded by this process
    seconds: float = 0.0  # wall time spent embedding


@dataclass
class EngineStats:
    images: Counts = field(default_factory=Counts)
    texts: Counts = field(default_factory=Counts)
    image_tokens: Counts = field(default_factory=Counts)
    text_tokens: Counts = field(default_factory=Counts)
    continuations: Counts = field(default_factory=Counts)  # generative: (image, prompt, continuation) scores
    hidden: Counts = field(default_factory=Counts)  # generative: decoder states for probes

    @property
    def computed(self) -> int:
        return self.images.computed + self.texts.computed


Encoder = Callable[[list[Any]], np.ndarray]


class Engine:
    def __init__(
        self,
        model: AuditedModel,
        *,
        batch_size: int = 64,
        progress: bool = True,
        cache_dir: str | Path | _Default | None = DEFAULT_CACHE_DIR,
        memory: bool = True,
    ) -> None:
        """`progress` shows a bar on rank 0 when stderr is a terminal; `memory` keeps computed rows
        for the engine's lifetime so repeated requests cost nothing even without a disk cache."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.batch_size = batch_size
        self.progress = progress
        directory = default_cache_dir() if cache_dir is DEFAULT_CACHE_DIR else cache_dir
        self.cache = (
            EmbeddingCache(directory, model.fingerprint, model.describe()) if directory is not None else None
        )
        self.stats = EngineStats()
        self._memory: dict[str, np.ndarray] | None = {} if memory else None

    def images(
        self,
        refs: Sequence[ImageRef],
        transforms: Sequence[ImageTransform | None] | ImageTransform | None = None,
        *,
        normalize: bool = True,
    ) -> torch.Tensor:
        """[N, D] fp32 embeddings of `transforms[i](refs[i])`, aligned to the request."""
        if transforms is None or not isinstance(transforms, Sequence):
            transforms = [transforms] * len(refs)
        if len(transforms) != len(refs):
            raise ValueError(f"{len(refs)} images but {len(transforms)} transforms")
        keys = [_image_key(ref, t) for ref, t in zip(refs, transforms, strict=True)]
        inputs = dict(zip(keys, zip(refs, transforms, strict=True), strict=True))
        return self._embed("images", keys, inputs, self._encode_images, normalize)

    def texts(self, texts: Sequence[str], *, normalize: bool = True) -> torch.Tensor:
        """[M, D] fp32 embeddings of `texts`, aligned to the request."""
        if isinstance(texts, str):
            raise TypeError("Engine.texts takes a sequence of strings, not one string")
        # keyed by what the text tower reads (token ids): texts it cannot tell apart are one row
        keys = [f"t:{key}" for key in self.model.text_keys(list(texts))]
        inputs: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            inputs.setdefault(key, text)
        return self._embed("texts", keys, inputs, self._encode_texts, normalize)

    def image_tokens(
        self, refs: Sequence[ImageRef], transforms: Sequence[ImageTransform | None] | None = None
    ) -> torch.Tensor:
        """[N, T, D] fp32 patch tokens in the joint space (`model.image_tokens`), for dense scorers.

        Cached and deduplicated like embeddings (a "tokens" kind of its own), never normalised.
        """
        transforms = [None] * len(refs) if transforms is None else list(transforms)
        keys = [f"it:{_image_key(ref, t)}" for ref, t in zip(refs, transforms, strict=True)]
        inputs = dict(zip(keys, zip(refs, transforms, strict=True), strict=True))
        flat = self._embed("image_tokens", keys, inputs, self._encode_image_tokens, False)
        return flat.reshape(len(refs), -1, self._token_width())

    def text_tokens(self, texts: Sequence[str]) -> torch.Tensor:
        """[M, L, D] fp32 token states in the joint space (`model.text_tokens`, padded to the
        backend's fixed length so a row never depends on its batch), cached like embeddings."""
        keys = [f"tt:{key}" for key in self.model.text_keys(list(texts))]
        inputs: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            inputs.setdefault(key, text)
        flat = self._embed("text_tokens", keys, inputs, self._encode_text_tokens, False)
        return flat.reshape(len(texts), -1, self._token_width())

    def continuation_logprobs(self, refs: Sequence[ImageRef | None], views: Sequence[ImageTransform | None],
                              prompts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        """[P, 2] fp32 (sum of log P(continuation tokens | image, prompt), token count) per request.

        A None image is a text-only query (the language prior). Requests are aligned lists; each
        distinct one is computed once (memory, then disk, then the model).
        """
        if not len(refs) == len(views) == len(prompts) == len(continuations):
            raise ValueError("continuation_logprobs needs aligned refs, views, prompts and continuations")
        keys, inputs = [], {}
        for ref, view, prompt, text in zip(refs, views, prompts, continuations, strict=True):
            key = f"g:{_query_image_key(ref, view)}\x1f{prompt}\x1f{text}"
            keys.append(key)
            inputs.setdefault(key, (ref, view, prompt, text))
        rows = self._embed_rows("continuations", keys, inputs, self._score_continuations)
        return np.stack(rows) if rows else np.zeros((0, 2), dtype=np.float32)

    def hidden_states(self, refs: Sequence[ImageRef], views: Sequence[ImageTransform | None] | None,
                      prompt: str, layer: int = -1, position: str = "last") -> torch.Tensor:
        """[N, H] fp32 decoder states of each (image, view) under `prompt` (generative probes)."""
        views = [None] * len(refs) if views is None else list(views)
        keys = [f"h:{_image_key(ref, v)}\x1f{prompt}\x1f{layer}\x1f{position}"
                for ref, v in zip(refs, views, strict=True)]
        inputs = dict(zip(keys, zip(refs, views, strict=True), strict=True))

        def encode(items: list[tuple[ImageRef, ImageTransform | None]]) -> np.ndarray:
            images = [_load(ref, t) for ref, t in items]
            out = self.model.hidden_states(images, [prompt] * len(images), layer, position)
            return _rows(out, len(items), "hidden states")

        rows = self._embed_rows("hidden", keys, inputs, encode)
        return torch.from_numpy(np.stack(rows)) if rows else torch.empty((0, 0))

    def _score_continuations(self, items: list[tuple[ImageRef | None, ImageTransform | None, str, str]]
                             ) -> np.ndarray:
        """One query per (image, view, prompt) of the batch, in order of first appearance."""
        groups: dict[tuple[str, str], list[int]] = {}
        for i, (ref, view, prompt, _) in enumerate(items):
            groups.setdefault((_query_image_key(ref, view), prompt), []).append(i)
        queries = []
        for members in groups.values():
            ref, view, prompt, _ = items[members[0]]
            image = None if ref is None else _load(ref, view)
            queries.append(Query(image, prompt, tuple(items[i][3] for i in members)))
        out = np.zeros((len(items), 2), dtype=np.float32)
        for members, scored in zip(groups.values(), self.model.logprobs(queries), strict=True):
            for i, logp in zip(members, scored, strict=True):
                out[i] = (np.asarray(logp, dtype=np.float64).sum(), len(logp))
        return out

    def pixels(self, refs: Sequence[ImageRef], transforms: Sequence[ImageTransform | None] | None = None
               ) -> torch.Tensor:
        """[N, 3, S, S] model pixels in [0, 1] (geometry only), on the model's device: the start of the
        differentiable path that attacks and Jacobians take."""
        transforms = [None] * len(refs) if transforms is None else list(transforms)
        images = [_load(ref, t) for ref, t in zip(refs, transforms, strict=True)]
        return self.model.preprocess(images).to(device=self.model.device, dtype=self.model.dtype)

    def embed_pixels(self, pixels: torch.Tensor, *, normalize: bool = True) -> torch.Tensor:
        """f(pixels), differentiable (no cache, no inference mode): gradient and Jacobian code call
        this, never the backend directly, so dtype and device handling stay in one place."""
        out = self.model.encode_images(pixels.to(device=self.model.device, dtype=self.model.dtype)).float()
        return torch.nn.functional.normalize(out, dim=-1) if normalize else out

    def stats_dict(self) -> dict:
        """Counts for provenance: how much was computed versus served from memory or disk."""
        return {
            **{kind: asdict(getattr(self.stats, kind))
               for kind in ("images", "texts", "image_tokens", "text_tokens", "continuations", "hidden")},
            "cache_corrupt": self.cache.corrupt if self.cache is not None else 0,
        }

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()

    def _embed(
        self, kind: str, keys: list[str], inputs: dict[str, Any], encode: Encoder, normalize: bool
    ) -> torch.Tensor:
        rows = self._embed_rows(kind, keys, inputs, encode)
        if not keys:
            return torch.empty((0, 0))
        out = torch.from_numpy(np.stack(rows))
        return torch.nn.functional.normalize(out, dim=-1) if normalize else out

    def _embed_rows(self, kind: str, keys: list[str], inputs: dict[str, Any],
                    encode: Encoder) -> list[np.ndarray]:
        """Rows aligned to `keys`: memory, then disk cache, then the model for the rest."""
        world = World.current()
        counts: Counts = getattr(self.stats, kind)
        unique = list(dict.fromkeys(keys))
        counts.requested += len(keys)
        counts.unique += len(unique)
        memory = self._memory if self._memory is not None else {}
        rows = {k: memory[k] for k in unique if k in memory}
        counts.memory_hits += len(rows)
        todo = [k for k in unique if k not in rows]
        world.check_same(hashlib.sha256("\0".join(todo).encode()).hexdigest(), kind)
        found = self.cache.get(todo) if self.cache is not None and world.is_main and todo else {}
        hits: dict[str, np.ndarray] = world.from_main(found)  # type: ignore[assignment]
        counts.cache_hits += len(hits)
        rows.update(hits)
        misses = [k for k in todo if k not in hits]
        for batch, out in self._compute(world, kind, misses, inputs, encode):
            rows.update(zip(batch, out, strict=True))
        if self._memory is not None:
            self._memory.update((k, rows[k]) for k in todo)
        return [rows[k] for k in keys]

    def _compute(
        self, world: World, kind: str, misses: list[str], inputs: dict[str, Any], encode: Encoder
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        """Embed `misses` in batches (batch i on rank i % world); yield every batch on every rank."""
        counts: Counts = getattr(self.stats, kind)
        batches = [group[i : i + self.batch_size] for group in self._same_shape(kind, misses, inputs)
                   for i in range(0, len(group), self.batch_size)]
        show = None if self.progress and world.is_main else True  # None: tqdm shows only on a TTY
        bar = tqdm(total=len(misses), desc=f"embedding {kind}", unit=kind[:-1], disable=show, leave=False)
        with bar:
            for first in range(0, len(batches), world.size):
                round_ = batches[first : first + world.size]
                mine = round_[world.rank] if world.rank < len(round_) else None
                start = time.perf_counter()
                local, error = None, None
                try:
                    local = encode([inputs[k] for k in mine]) if mine is not None else None
                    counts.computed_here += len(mine or ())
                except Exception as err:
                    if not world.distributed:
                        raise
                    error = err  # raised on every rank by gather, so none is left waiting
                outs = world.gather(local, error)
                counts.seconds += time.perf_counter() - start
                for batch, out in zip(round_, outs, strict=False):
                    _check_finite(out, batch, inputs)
                    if self.cache is not None and world.is_main:
                        self.cache.put(batch, out)
                    counts.computed += len(batch)
                    bar.update(len(batch))
                    yield batch, out

    def _same_shape(self, kind: str, misses: list[str], inputs: dict[str, Any]) -> list[list[str]]:
        """`misses` split into groups of one forward shape (texts: one padded length), in order."""
        if kind != "texts":  # text_tokens are padded to the backend's fixed length
            return [misses]
        groups: dict[int, list[str]] = {}
        for key, length in zip(misses, self.model.text_lengths([inputs[k] for k in misses]), strict=True):
            groups.setdefault(length, []).append(key)
        return list(groups.values())

    def _encode_images(self, items: list[tuple[ImageRef, ImageTransform | None]]) -> np.ndarray:
        pixels = self._full_batch(self.pixels([ref for ref, _ in items], [t for _, t in items]))
        with torch.inference_mode():
            return _rows(self.model.encode_images(pixels), len(pixels), "images")[: len(items)]

    def _encode_texts(self, texts: list[str]) -> np.ndarray:
        with torch.inference_mode():
            rows = _rows(self.model.encode_texts(self._full_batch(texts)), self.batch_size, "texts")
        return rows[: len(texts)]

    def _encode_image_tokens(self, items: list[tuple[ImageRef, ImageTransform | None]]) -> np.ndarray:
        pixels = self._full_batch(self.pixels([ref for ref, _ in items], [t for _, t in items]))
        with torch.inference_mode():
            tokens = self.model.image_tokens(pixels)
        return _rows(tokens.flatten(1), len(pixels), "image tokens")[: len(items)]

    def _encode_text_tokens(self, texts: list[str]) -> np.ndarray:
        with torch.inference_mode():
            tokens = self.model.text_tokens(self._full_batch(texts))
        return _rows(tokens.flatten(1), self.batch_size, "text tokens")[: len(texts)]

    def _full_batch(self, batch: Any) -> Any:
        """`batch` (a tensor or a list of texts) padded to `batch_size` with copies of its last
        input, so every forward has one shape (see the module docstring)."""
        missing = self.batch_size - len(batch)
        if missing <= 0:
            return batch
        if isinstance(batch, torch.Tensor):
            return torch.cat([batch, batch[-1:].expand(missing, *batch.shape[1:])])
        return list(batch) + [batch[-1]] * missing

    def _token_width(self) -> int:
        """D of the joint space, in which dense tokens are projected (the pooled embedding's width)."""
        return int(self.texts(["a photo."]).shape[1])


def _image_key(ref: ImageRef, transform: ImageTransform | None) -> str:
    """Image content (+ crop) and the transform's canonical id: what decides the pixels."""
    return f"i:{ref.key}|{transform.id if transform is not None else ''}"


def _query_image_key(ref: ImageRef | None, transform: ImageTransform | None) -> str:
    """A generative query's image half of the key: "none" for a text-only query."""
    return _image_key(ref, transform) if ref is not None else "none"


def _load(ref: ImageRef, transform: ImageTransform | None):
    """The image the model sees: the ref's pixels through the transform, if any."""
    return transform(ref.load()) if transform is not None else ref.load()


def _rows(out: torch.Tensor, expected: int, what: str) -> np.ndarray:
    """The model's output as raw fp32 rows on the CPU."""
    if out.ndim != 2 or out.shape[0] != expected:
        raise EmbeddingError(f"model returned shape {tuple(out.shape)} for {expected} {what}")
    return np.ascontiguousarray(out.detach().float().cpu().numpy(), dtype=np.float32)


def _check_finite(out: np.ndarray, batch: list[str], inputs: dict[str, Any]) -> None:
    """NaN/inf rows fail the whole batch (so nothing of it is cached), naming the inputs."""
    bad = ~np.isfinite(out).all(axis=1)
    if bad.any():
        names = [_label(inputs[k]) for k, b in zip(batch, bad, strict=True) if b]
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        raise EmbeddingError(f"model returned NaN/inf embeddings for {', '.join(names[:5])}{more}")


def _label(item: Any) -> str:
    if isinstance(item, str):
        return repr(item if len(item) <= 60 else item[:57] + "...")
    if len(item) == 4:  # a generative request: (image, view, prompt, continuation)
        ref, transform, _, text = item
        return f"{_label((ref, transform)) if ref is not None else 'no image'} + {_label(text)}"
    ref, transform = item
    name = ref.label or ref.key
    return f"{name} [{transform.id}]" if transform is not None else name
