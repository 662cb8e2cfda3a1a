"""The engine's dense-token kind and its differentiable path.

Catches: token maps recomputed for a repeated input (no dedup/cache), token rows reshaped with the
wrong width, a differentiable path that detaches (no gradient) or bypasses the model's own
normalisation, and pixels that differ from what the cached embedding path feeds the model.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from toy import ToyModel
from vlmaudit.data.images import memory_image
from vlmaudit.engine import Engine


class TokenToy(ToyModel):
    """ToyModel with 4 patch tokens: the 2x2 average-pooled pixels, each projected linearly."""

    def image_tokens(self, pixels):
        x = torch.nn.functional.adaptive_avg_pool2d(self.preprocessing.normalise(pixels), 2)  # [N, 3, 2, 2]
        patches = x.flatten(2).transpose(1, 2)  # [N, 4, 3]
        return patches @ self.image_proj[:3]


def _refs():
    return [memory_image(Image.new("RGB", (32, 32), c)) for c in ((200, 10, 10), (10, 200, 10))]


def test_image_tokens_are_cached_deduplicated_and_shaped():
    model = TokenToy()
    engine = Engine(model, cache_dir=None, progress=False)
    refs = _refs()
    tokens = engine.image_tokens([refs[0], refs[1], refs[0]])
    assert tokens.shape == (3, 4, model.dim)
    assert torch.equal(tokens[0], tokens[2])
    assert engine.stats.image_tokens.computed == 2
    direct = model.image_tokens(model.preprocess([r.load() for r in refs]))
    assert torch.allclose(tokens[:2], direct, atol=1e-6)
    engine.image_tokens(refs)
    assert engine.stats.image_tokens.computed == 2  # served from memory


def test_differentiable_path_is_the_model_and_carries_gradients():
    """On a model linear in pixels, f(x + d) - f(x) = J d exactly, and the gradient is non-zero."""
    model = ToyModel()
    engine = Engine(model, cache_dir=None, progress=False)
    refs = _refs()
    pixels = engine.pixels(refs)
    assert torch.equal(pixels, model.preprocess([r.load() for r in refs]))
    x = pixels.clone().requires_grad_(True)
    out = engine.embed_pixels(x, normalize=False)
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    d = torch.randn_like(pixels) * 1e-2
    jvp = torch.func.jvp(lambda p: engine.embed_pixels(p, normalize=False), (pixels,), (d,))[1]
    diff = engine.embed_pixels(pixels + d, normalize=False) - engine.embed_pixels(pixels, normalize=False)
    assert torch.allclose(diff, jvp, atol=1e-5)
    cached = engine.images(refs)
    assert np.allclose(engine.embed_pixels(pixels).detach().numpy(), cached.numpy(), atol=1e-6)

