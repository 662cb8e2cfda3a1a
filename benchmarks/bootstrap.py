"""Clustered-bootstrap benchmark (not a test): the former per-resample loop against `bootstrap_ci`.

The loop (the baseline, measured in the same run) draws each resample's clusters with
`rng.integers`, concatenates their members and takes the mean; `bootstrap_ci` draws the same
indices as one matrix from the same stream and takes sums over sizes. Both CIs are printed: on
0/1 outcomes they agree exactly; on fractional outcomes they may differ in the last ulp
(summation order).

    python benchmarks/bootstrap.py [--items 20000] [--clusters 4000] [--n-boot 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from vlmaudit.metrics.bootstrap import bootstrap_ci


def loop_ci(values: np.ndarray, clusters: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    """The pre-vectorisation implementation, kept here only as the speed and equality baseline."""
    rng = np.random.default_rng(seed)
    _, inverse = np.unique(clusters, return_inverse=True)
    members = [np.flatnonzero(inverse == c) for c in range(inverse.max() + 1)]
    stats = np.empty(n_boot)
    for b in range(n_boot):
        chosen = rng.integers(0, len(members), size=len(members))
        stats[b] = np.mean(values[np.concatenate([members[c] for c in chosen])])
    lo, hi = np.quantile(stats, [0.025, 0.975])
    return float(lo), float(hi)


def timed(fn, *args) -> tuple[float, tuple[float, float]]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--clusters", type=int, default=4_000)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    clusters = rng.integers(0, args.clusters, size=args.items).astype(str)
    outcomes = {"0/1": (rng.random(args.items) < 0.6).astype(np.float64),
                "fractional": rng.random(args.items)}
    print(f"{args.items} items, {len(np.unique(clusters))} clusters, n_boot={args.n_boot}")
    for kind, values in outcomes.items():
        t_loop, ci_loop = timed(loop_ci, values, clusters, args.n_boot, args.seed)
        t_vec, ci_vec = timed(bootstrap_ci, values, clusters, args.n_boot, args.seed)
        diff = max(abs(a - b) for a, b in zip(ci_loop, ci_vec, strict=True))
        print(f"{kind:>10}: loop {t_loop:7.3f} s  vectorised {t_vec:7.3f} s  ratio {t_loop / t_vec:6.1f}x  "
              f"CI loop {ci_loop}  vectorised {ci_vec}  max |diff| {diff:.3g}")


if __name__ == "__main__":
    main()
