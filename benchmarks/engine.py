"""Embedding-engine benchmark (not a test): prints a table, saves nothing in the repo.

Model: open_clip ViT-B-32 with random weights (no pretrained tag: same architecture and FLOPs as
the released model, nothing downloaded). Data: ARO-style items from the generated scenes world,
each image with its true caption and ARO's four word-order shuffles.

Measured, per dtype (fp32, bf16): images/s and captions/s on a cold cache; the fully cached
re-run (must embed nothing, be bit-identical and >= 20x faster); bf16-vs-fp32 cosine agreement;
and the engine against a naive loop that encodes every (image, caption) pair without dedup.

    python benchmarks/engine.py [--images 32] [--batch-size 32] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch

from table import print_table
from vlmaudit.data.images import ImageRef
from vlmaudit.data.scenes import describe, generate_scenes, scene_ref
from vlmaudit.data.scenes.perturb import SHUFFLE_SCHEMES, shuffle
from vlmaudit.engine import Engine
from vlmaudit.models import ImageTextModel, load_model

SPEC = "openclip:ViT-B-32"
MIN_CACHE_SPEEDUP = 20.0
MIN_BF16_COSINE = 0.9999


def aro_style(n: int, seed: int = 0) -> tuple[list[ImageRef], list[list[str]]]:
    """n scenes; each with [true caption, *shuffles] (a shuffle equal to the caption is skipped)."""
    rng = random.Random(seed)
    refs, captions = [], []
    for scene in generate_scenes(n, seed=seed):
        caption = describe(scene)
        options = [caption.text]
        for scheme in SHUFFLE_SCHEMES:
            perturbed = shuffle(scheme)(scene, caption, rng)
            if perturbed is not None:
                options.append(perturbed.caption.text)
        refs.append(scene_ref(scene))
        captions.append(options)
    return refs, captions


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def warm_up(model: ImageTextModel, refs: list[ImageRef], texts: list[str]) -> None:
    """First calls build kernels; keep that out of every timing."""
    Engine(model, cache_dir=None, progress=False).images(refs[:2])
    Engine(model, cache_dir=None, progress=False).texts(texts[:2])


def bench_dtype(dtype: str, refs: list[ImageRef], texts: list[str], batch: int, cache: str) -> dict:
    model = load_model(SPEC, dtype=dtype)
    warm_up(model, refs, texts)
    cold = Engine(model, batch_size=batch, cache_dir=cache, progress=False)
    images, t_img = timed(lambda: cold.images(refs))
    captions, t_txt = timed(lambda: cold.texts(texts))
    warm = Engine(model, batch_size=batch, cache_dir=cache, progress=False)
    (images2, captions2), t_warm = timed(lambda: (warm.images(refs), warm.texts(texts)))
    return {
        "model": model, "images": images, "captions": captions,
        "img_s": len(refs) / t_img, "cap_s": len(texts) / t_txt, "cold": t_img + t_txt, "warm": t_warm,
        "rerun_computed": warm.stats.computed,
        "identical": torch.equal(images, images2) and torch.equal(captions, captions2),
    }


def naive(model: ImageTextModel, refs: list[ImageRef], captions: list[list[str]], batch: int) -> torch.Tensor:
    """Every (image, caption) pair encoded as it comes: the image once per caption, no dedup."""
    pairs = [(ref, text) for ref, options in zip(refs, captions, strict=True) for text in options]
    rows = []
    with torch.inference_mode():
        for start in range(0, len(pairs), batch):
            chunk = pairs[start : start + batch]
            pixels = model.preprocess([ref.load() for ref, _ in chunk])
            rows.append(model.encode_images(pixels).float())
            model.encode_texts([text for _, text in chunk])
    return torch.nn.functional.normalize(torch.cat(rows), dim=-1)


def dedup_gain(model: ImageTextModel, refs: list[ImageRef], captions: list[list[str]], batch: int) -> dict:
    pair_refs = [ref for ref, options in zip(refs, captions, strict=True) for _ in options]
    pair_texts = [text for options in captions for text in options]
    naive_rows, t_naive = timed(lambda: naive(model, refs, captions, batch))
    engine = Engine(model, batch_size=batch, cache_dir=None, progress=False)
    (engine_rows, _), t_engine = timed(lambda: (engine.images(pair_refs), engine.texts(pair_texts)))
    return {"pairs": len(pair_texts), "naive": t_naive, "engine": t_engine,
            "unique": (engine.stats.images.computed, engine.stats.texts.computed),
            "cos": (naive_rows * engine_rows).sum(dim=1).min().item()}


def cosine(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    cos = (a * b).sum(dim=1)
    return cos.min().item(), cos.mean().item()



def check(ok: bool) -> str:
    return "ok" if ok else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32, help="ARO-style items (1 image, ~5 captions)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    refs, captions = aro_style(args.images)
    texts = list(dict.fromkeys(t for options in captions for t in options))
    print(f"{SPEC} (random weights), {len(refs)} images, {len(texts)} unique captions, "
          f"batch {args.batch_size}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="vlmaudit-bench-") as cache:
        runs = {dtype: bench_dtype(dtype, refs, texts, args.batch_size, cache) for dtype in ("fp32", "bf16")}
        gain = dedup_gain(runs["bf16"]["model"], refs, captions, args.batch_size)
    fp32, bf16 = runs["fp32"], runs["bf16"]
    speedups = {d: r["cold"] / r["warm"] for d, r in runs.items()}
    img_cos, txt_cos = cosine(fp32["images"], bf16["images"]), cosine(fp32["captions"], bf16["captions"])
    rows = [("measure", "fp32", "bf16", "check")]
    rows += [
        ("images/s (cold)", f"{fp32['img_s']:.1f}", f"{bf16['img_s']:.1f}",
         f"bf16/fp32 = {bf16['img_s'] / fp32['img_s']:.2f}x"),
        ("captions/s (cold)", f"{fp32['cap_s']:.1f}", f"{bf16['cap_s']:.1f}",
         f"bf16/fp32 = {bf16['cap_s'] / fp32['cap_s']:.2f}x"),
        ("cold run, s", f"{fp32['cold']:.2f}", f"{bf16['cold']:.2f}", ""),
        ("cached re-run, s", f"{fp32['warm']:.4f}", f"{bf16['warm']:.4f}", ""),
        ("cache speed-up", f"{speedups['fp32']:.0f}x", f"{speedups['bf16']:.0f}x",
         f"{check(min(speedups.values()) >= MIN_CACHE_SPEEDUP)} (>= {MIN_CACHE_SPEEDUP:.0f}x)"),
        ("re-run embedded", str(fp32["rerun_computed"]), str(bf16["rerun_computed"]),
         check(fp32["rerun_computed"] == bf16["rerun_computed"] == 0)),
        ("re-run bit-identical", str(fp32["identical"]), str(bf16["identical"]),
         check(fp32["identical"] and bf16["identical"])),
        ("bf16 vs fp32 cos, images (min/mean)", "", f"{img_cos[0]:.5f} / {img_cos[1]:.5f}",
         f"{check(img_cos[0] >= MIN_BF16_COSINE)} (>= {MIN_BF16_COSINE})"),
        ("bf16 vs fp32 cos, captions (min/mean)", "", f"{txt_cos[0]:.5f} / {txt_cos[1]:.5f}",
         f"{check(txt_cos[0] >= MIN_BF16_COSINE)} (>= {MIN_BF16_COSINE})"),
        (f"naive, {gain['pairs']} pairs, s", "", f"{gain['naive']:.2f}", "every pair: image + caption"),
        ("engine, same pairs, s", "", f"{gain['engine']:.2f}",
         f"embedded {gain['unique'][0]} images + {gain['unique'][1]} captions"),
        ("naive / engine", "", f"{gain['naive'] / gain['engine']:.2f}x",
         f"image rows agree: min cos {gain['cos']:.5f}"),
    ]
    print_table(rows)


if __name__ == "__main__":
    main()
