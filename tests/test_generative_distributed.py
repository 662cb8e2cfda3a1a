"""Continuation scores under torch.distributed (gloo, 2 processes): identical to one process.

Catches: ranks cutting the pairs into other batches than one process would (a batch's queries are
run together, so a score's last bits depend on its companions), gathered rows out of order,
dropped or duplicated, the (sum, n_tokens) rows of one rank lost, and every rank scoring every
pair (no sharding at all).

Bit identity needs oneDNN off (`torch.backends.mkldnn.enabled = False`, in the workers and the
reference alike). With it on, a batch's last bits depend on what the process computed before, not
on the batch: one process scoring only the even batches reproduces rank 0's bits and differs from
one scoring all of them (3 of 36 sums, ~1e-6; found while writing this test). So the exact
comparison runs without oneDNN, and the default backend is held to the interface's 1e-4.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist

from spawn_world import run_world
from vlmaudit.data.scenes import describe, generate_scenes, scene_ref
from vlmaudit.data.scenes.perturb import SHUFFLE_SCHEMES, shuffle
from vlmaudit.engine import Engine
from vlmaudit.models import load_model
from vlmaudit.scoring.generative import GenerativeScorer, GenerativeSettings
from vlmaudit.train.generative_recipe import GenerativeRecipe, build_model, save_generative

WORLD = 2
ITEMS, OPTIONS = 12, 3
# 36 pairs in batches of 4: 9 batches in rounds (0 | 1) ... (8 | -), the last uneven; 4 is not a
# multiple of 3, so an image's options straddle two batches (and ranks): two queries of one prefix
BATCH = 4


def _items() -> tuple[list, list[list[str]]]:
    """12 scenes, each [true caption, two word-order shuffles] (distinct, so no pair is a duplicate)."""
    rng = random.Random(0)
    refs, options = [], []
    for scene in generate_scenes(40, seed=5):
        caption = describe(scene)
        row = [caption.text]
        for scheme in SHUFFLE_SCHEMES:
            perturbed = shuffle(scheme)(scene, caption, rng)
            if perturbed is not None and perturbed.caption.text not in row:
                row.append(perturbed.caption.text)
        if len(row) >= OPTIONS:
            refs.append(scene_ref(scene))
            options.append(row[:OPTIONS])
        if len(refs) == ITEMS:
            return refs, options
    raise AssertionError("too few scenes with two distinct shuffles")


def _record(model_dir: Path) -> dict:
    """Every score the test compares, each from a fresh cold engine, with that engine's stats."""
    model = load_model(f"builtin:{model_dir}")
    refs, options = _items()
    record: dict = {}

    def engine() -> Engine:
        return Engine(model, batch_size=BATCH, cache_dir=None, progress=False)

    raw = engine()
    flat_refs = [ref for ref in refs for _ in range(OPTIONS)]
    texts = [text for row in options for text in row]
    prompts = [model.caption_prompt] * len(texts)
    record["raw"] = raw.continuation_logprobs(flat_refs, [None] * len(texts), prompts, texts)
    record["raw_stats"] = raw.stats_dict()["continuations"]
    methods = {"likelihood": GenerativeSettings(), "vqa": GenerativeSettings(method="vqa")}
    for name, settings in methods.items():
        record[name] = GenerativeScorer(engine(), settings).image_options(refs, options)
    record["prior"] = GenerativeScorer(engine()).language_prior().image_options(refs, options)  # text only
    return record


def _worker(rank: int, tmp: Path, onednn: bool) -> None:
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = onednn
    dist.init_process_group("gloo", init_method=f"file://{tmp / 'rendezvous'}", rank=rank, world_size=WORLD)
    try:
        torch.save(_record(tmp / "model"), tmp / f"rank{rank}.pt")
        dist.barrier()  # neither rank tears gloo down while the other may still be in a collective
    finally:
        dist.destroy_process_group()


def _sharp(model: torch.nn.Module, seed: int = 3) -> None:
    """Weights large enough that attention is far from uniform (as test_generative): at the default
    init a shifted position or a leaking pad would change no bit worth comparing."""
    generator = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if p.requires_grad and not name.startswith("tower."):
            p.data = torch.randn(p.shape, generator=generator) * (0.3 if p.ndim > 1 else 0.1)


@pytest.mark.slow  # ~10 s each on two busy cores: two spawned processes import torch and the tower
@pytest.mark.parametrize("onednn", [False, True], ids=["exact", "onednn"])
def test_two_ranks_score_continuations_like_one_process(tmp_path, onednn):
    """Catches sharded continuation scores that differ from one process (by a bit, with oneDNN off;
    beyond 1e-4 with it on), rows misordered or lost in the gather, and ranks that each score
    every pair instead of their share."""
    model, tower_hash = build_model(GenerativeRecipe(preset="tiny"))
    _sharp(model)
    save_generative(model, tmp_path / "model" / "model.safetensors", tower_hash, {"test": True})
    ranks = run_world(_worker, (tmp_path, onednn), WORLD, tmp_path)
    threads, backend = torch.get_num_threads(), torch.backends.mkldnn.enabled
    torch.set_num_threads(1)  # as the workers: the thread count can change a reduction's last bits
    torch.backends.mkldnn.enabled = onednn
    try:
        single = _record(tmp_path / "model")
    finally:
        torch.set_num_threads(threads)
        torch.backends.mkldnn.enabled = backend
    pairs = ITEMS * OPTIONS
    assert single["raw"].shape == (pairs, 2) and single["likelihood"].shape == (ITEMS, OPTIONS)
    assert np.isfinite(single["raw"]).all() and (single["raw"][:, 1] > 0).all()
    for name in ("raw", "likelihood", "vqa", "prior"):
        assert np.array_equal(ranks[0][name], ranks[1][name]), name  # every rank holds the same rows
        if onednn:
            np.testing.assert_allclose(ranks[0][name], single[name], rtol=0, atol=1e-4, err_msg=name)
        else:
            assert np.array_equal(ranks[0][name], single[name]), name
    assert single["raw_stats"]["computed"] == single["raw_stats"]["computed_here"] == pairs
    here = [record["raw_stats"]["computed_here"] for record in ranks]
    assert all(record["raw_stats"]["computed"] == pairs for record in ranks)
    assert here == [20, 16]  # batches 0, 2, 4, 6, 8 on rank 0 (the last one of 4), 1, 3, 5, 7 on rank 1
