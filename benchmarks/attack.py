"""Attack-core benchmark (not a test): prints a table, saves nothing.

Model: open_clip ViT-B-32 with random weights (same architecture and FLOPs as the released model,
nothing downloaded). Images: generated scenes at 224 px. Measured in one run, so the ratios compare
like with like:
- alignment: aligned images/s for one batched `align` call vs a plain loop of one-image calls
  (same steps, Adam, target = another image's embedding), fp32 and bf16;
- Jacobian: randomised top-k SVD (k=5, oversample 5, 2 power iterations) vs the full J built from
  D = 512 VJPs, time and JVP/VJP products, with the top-k agreement (must be <= 1e-3 relative).
Defaults are small (2 images, 3 steps); the full J (512 batched VJPs at 224 px) dominates and took
over 6 minutes on 2 contended cores, above the ~3 minute target. Throughput, not converged attacks.

    python benchmarks/attack.py [--images 4] [--steps 5] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import torch

from vlmaudit.attacks import AlignConfig, Jacobian, align, randomized_svd
from vlmaudit.data.scenes import generate_scenes, scene_ref
from vlmaudit.engine import Engine
from vlmaudit.models import load_model

SPEC = "openclip:ViT-B-32"
MAX_SVD_ERROR = 1e-3


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bench_align(dtype: str, n: int, steps: int) -> tuple[float, float]:
    engine = Engine(load_model(SPEC, dtype=dtype), cache_dir=None, progress=False, memory=False)
    refs = [scene_ref(s) for s in generate_scenes(2 * n, seed=0)]
    pixels = engine.pixels(refs).float()
    with torch.no_grad():
        targets = engine.embed_pixels(pixels[n:])
    x0 = pixels[:n]
    config = AlignConfig(step_size=1e-2, steps=steps, stop="steps")
    align(engine, x0[:1], targets[:1], config.model_copy(update={"steps": 1}))  # warm-up
    _, batched = timed(lambda: align(engine, x0, targets, config))
    _, loop = timed(lambda: [align(engine, x0[i : i + 1], targets[i : i + 1], config) for i in range(n)])
    return n / batched, n / loop


def bench_svd() -> dict:
    engine = Engine(load_model(SPEC), cache_dir=None, progress=False, memory=False)
    x = engine.pixels([scene_ref(generate_scenes(1, seed=0)[0])])[0].float()
    jac = Jacobian(engine, x, chunk=32)
    fast, t_fast = timed(lambda: randomized_svd(jac, 5, oversample=5, power_iterations=2, seed=0))
    before = jac.vjps
    full, t_full = timed(lambda: jac.vjp(torch.eye(jac.shape[0])).reshape(jac.shape))
    exact = torch.linalg.svdvals(full.double())[:5]
    error = float(((fast.singular_values - exact).abs() / exact).max())
    return {"fast": t_fast, "full": t_full, "fast_products": fast.products,
            "full_products": jac.vjps - before, "error": error, "condition": fast.condition,
            "attention": jac.attention}


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [("measure", "ours", "baseline", "ratio")]
    for dtype in ("fp32", "bf16"):
        try:
            batched, loop = bench_align(dtype, args.images, args.steps)
        except (RuntimeError, NotImplementedError) as err:
            rows.append((f"align {dtype}", f"failed: {str(err).splitlines()[0][:60]}", "", ""))
            continue
        rows.append((f"align {dtype}, {args.steps} steps (img/s)", f"{batched:.2f} batched",
                     f"{loop:.2f} per-image loop", f"{batched / loop:.2f}x"))
    svd = bench_svd()
    rows.append(("top-5 SVD of J, 512x150528 (s)", f"{svd['fast']:.1f} randomised",
                 f"{svd['full']:.1f} full J", f"{svd['full'] / svd['fast']:.1f}x faster"))
    rows.append(("JVP/VJP products", str(svd["fast_products"]), str(svd["full_products"]),
                 f"{svd['full_products'] / svd['fast_products']:.1f}x fewer"))
    ok = "ok" if svd["error"] <= MAX_SVD_ERROR else "FAIL"
    rows.append(("top-5 max relative error", f"{svd['error']:.1e} ({ok}, <= {MAX_SVD_ERROR:g})",
                 f"attention: {svd['attention']}", f"cond {svd['condition']:.1f}"))
    print(f"{SPEC} (random weights), {torch.get_num_threads()} threads, torch {torch.__version__}")
    print_table(rows)


if __name__ == "__main__":
    main()
