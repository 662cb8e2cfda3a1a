"""`torchrun --nproc-per-node 2 vlmaudit embed`: the real launcher, gloo on CPU, one output file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_fixtures import make_tiny_hf_clip

pytestmark = pytest.mark.slow


def test_torchrun_embed_matches_one_process_and_fills_the_cache(tmp_path):
    spec = make_tiny_hf_clip(tmp_path / "hf")
    rng = np.random.default_rng(0)
    (tmp_path / "imgs").mkdir()
    for i in range(7):
        pixels = rng.integers(0, 256, (30, 30 + i, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "imgs" / f"{i}.png")
    (tmp_path / "t.txt").write_text("\n".join(f"caption {i}" + " more" * i for i in range(9)))
    args = ["embed", "--model", spec, "--images", str(tmp_path / "imgs"), "--texts", str(tmp_path / "t.txt"),
            "--batch-size", "2", "--quiet"]
    vlmaudit = shutil.which("vlmaudit", path=str(Path(sys.executable).parent))
    # --standalone: the rendezvous takes a free port, so a busy 29500 cannot fail the test
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                "--no-python"]
    done = subprocess.run([*launcher, vlmaudit, *args, "--out", str(tmp_path / "dist.npz"), "--cache-dir",
                           str(tmp_path / "cache")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-6000:]  # the ranks' own errors come before torchrun's summary
    # torchrun gives each rank one thread; the thread count can change a reduction's last bits
    one_thread = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([vlmaudit, *args, "--out", str(tmp_path / "one.npz"), "--no-cache"], check=True,
                   timeout=300, env=one_thread)
    again = subprocess.run([vlmaudit, *args[:-1], "--out", str(tmp_path / "again.npz"), "--cache-dir",
                            str(tmp_path / "cache")], capture_output=True, text=True, check=True, timeout=300)
    assert "computed 0, from cache 16" in again.stdout
    dist, one, cached = (np.load(tmp_path / f"{name}.npz") for name in ("dist", "one", "again"))
    for name in ("image_embeddings", "text_embeddings"):
        np.testing.assert_array_equal(dist[name], one[name])
        np.testing.assert_array_equal(dist[name], cached[name])
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["again.npz", "dist.npz", "one.npz"]
