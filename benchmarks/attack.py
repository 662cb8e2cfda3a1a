"""Attack-core benchmark (not a test): prints a table, saves nothing.

Model: open_clip ViT-B-32 with random weights (same architecture and FLOPs as the released model,
nothing downloaded). Images: generated scenes at 224 px. Measured in one run, so the ratios compare
like with like:
- alignment: aligned images/s for one batched `align` call vs a plain loop of one-image calls
  (same steps, Adam, target = another image's embedding), fp32, and bf16 with --bf16 (off by
  default: on a CPU without native bf16 it ran ~20x slower than fp32 and doubled the run time);
- Jacobian: the full J from D = 512 VJPs vs randomised top-5 SVD (oversample 10) with 2, 4, 8
  power iterations, stopping at the first whose top 5 agree with the full J's to 1e-3 relative;
  time and JVP/VJP products of each (random weights give a flat spectrum, the hard case).
Defaults are small (2 images, 3 steps: throughput, not converged attacks); the full J (512 VJPs at 224 px,
one forward and a vmapped pullback, 57 s on 2 cores) dominates the run time. Measured 2026-12-04:
random weights give cond(top 5) = 1.08, and the randomised SVD reached 1.9e-3 only at q = 8 (270
products, 57 s: no faster than the full J); the >= 10x target needs a decaying spectrum.

    python benchmarks/attack.py [--images 2] [--steps 3] [--threads N] [--bf16]
"""

from __future__ import annotations

import argparse
import time

import torch

from table import print_table
from vlmaudit.attacks import AlignConfig, Jacobian, align, randomized_svd
from vlmaudit.data.scenes import generate_scenes, scene_ref
from vlmaudit.engine import Engine
from vlmaudit.models import load_model

SPEC = "openclip:ViT-B-32"
MAX_SVD_ERROR = 1e-3
OVERSAMPLE = 10
POWER_ITERATIONS = (2, 4, 8)


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
    """Full J (D VJPs) once, then randomised SVD with more power iterations until its top 5 agree
    with the full J's to MAX_SVD_ERROR: the products it needs depend on the spectral gap."""
    engine = Engine(load_model(SPEC), cache_dir=None, progress=False, memory=False)
    x = engine.pixels([scene_ref(generate_scenes(1, seed=0)[0])])[0].float()
    jac = Jacobian(engine, x, chunk=32)
    randomized_svd(jac, 1, oversample=0, power_iterations=0)  # warm-up (and the SDPA switch)
    before = jac.vjps
    full, t_full = timed(lambda: jac.vjp(torch.eye(jac.shape[0])).reshape(jac.shape))
    full_products = jac.vjps - before
    print(f"  (full J: {t_full:.1f} s)", flush=True)
    exact = torch.linalg.svdvals(full.double())[:5]
    tries = []
    for power in POWER_ITERATIONS:
        run = lambda p=power: randomized_svd(jac, 5, oversample=OVERSAMPLE, power_iterations=p)  # noqa: E731
        fast, t_fast = timed(run)
        error = float(((fast.singular_values - exact).abs() / exact).max())
        tries.append({"power": power, "time": t_fast, "products": fast.products, "error": error,
                      "condition": fast.condition})
        print(f"  (q={power}: {t_fast:.1f} s, {fast.products} products, error {error:.1e})", flush=True)
        if error <= MAX_SVD_ERROR:
            break
    return {"full": t_full, "full_products": full_products, "tries": tries,
            "attention": jac.attention, "exact_condition": float(exact[0] / exact[-1])}



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--bf16", action="store_true", help="also time bf16 alignment (slow on CPUs "
                        "without native bf16: ~20x fp32 here)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [("measure", "ours", "baseline", "ratio")]
    for dtype in ("fp32", "bf16") if args.bf16 else ("fp32",):
        try:
            batched, loop = bench_align(dtype, args.images, args.steps)
        except (RuntimeError, NotImplementedError) as err:
            rows.append((f"align {dtype}", f"failed: {str(err).splitlines()[0][:60]}", "", ""))
            continue
        rows.append((f"align {dtype}, {args.steps} steps (img/s)", f"{batched:.2f} batched",
                     f"{loop:.2f} per-image loop", f"{batched / loop:.2f}x"))
        print(f"  ({rows[-1]})", flush=True)
    svd = bench_svd()
    rows.append(("full J, 512x150528: seconds / products", f"{svd['full']:.1f} s / {svd['full_products']}",
                 f"attention: {svd['attention']}", f"exact cond(top 5) {svd['exact_condition']:.3f}"))
    for t in svd["tries"]:
        ok = "ok" if t["error"] <= MAX_SVD_ERROR else "not yet"
        rows.append((f"randomised top-5, q={t['power']}, p={OVERSAMPLE}: seconds / products",
                     f"{t['time']:.1f} s / {t['products']}", f"max rel err {t['error']:.1e} ({ok})",
                     f"{svd['full'] / t['time']:.2f}x faster, "
                     f"{svd['full_products'] / t['products']:.2f}x fewer products"))
    print(f"{SPEC} (random weights), {torch.get_num_threads()} threads, torch {torch.__version__}")
    print_table(rows)


if __name__ == "__main__":
    main()
