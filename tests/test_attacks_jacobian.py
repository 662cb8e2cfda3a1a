"""Matrix-free Jacobian tools (vlmaudit.attacks.jacobian): products, noise covariance, randomised SVD."""

from __future__ import annotations

import pytest
import torch

import vlmaudit
from attack_models import LinearModel, engine
from model_fixtures import make_tiny_hf_clip
from vlmaudit.attacks import Jacobian, noise_check, randomized_svd


def _linear() -> tuple[LinearModel, Jacobian]:
    model = LinearModel()
    x = torch.rand(3, 3, 3, generator=torch.Generator().manual_seed(0))
    return model, Jacobian(engine(model), x, normalize=False)


def test_jacobian_of_a_linear_model_is_its_matrix():
    """Catches swapped JVP/VJP, a transposed J, or batched products mixing rows: on f = A x + b,
    J v = A v, J^T u = A^T u and the full J (both modes) is A."""
    model, jac = _linear()
    v = torch.randn(5, 27, generator=torch.Generator().manual_seed(1))
    u = torch.randn(4, 40, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(jac.jvp(v), v @ model.a.T, atol=1e-6)
    assert torch.allclose(jac.vjp(u).flatten(1), u @ model.a, atol=1e-6)
    assert torch.allclose(jac.full("rev"), model.a, atol=1e-7)
    assert torch.allclose(jac.full("fwd"), model.a, atol=1e-7)
    assert (jac.jvps, jac.vjps) == (5, 4)


def test_noise_covariance_is_sigma2_aat_and_the_empirical_one_converges():
    """Catches a missing sigma^2, J^T J in place of J J^T, or a biased sample covariance: on the linear
    model the prediction is sigma^2 A A^T exactly and the sample estimate approaches it with N."""
    model, jac = _linear()
    sigma = 0.05
    expected = sigma**2 * (model.a @ model.a.T).double()
    small = noise_check(jac, sigma, samples=100, seed=0)
    large = noise_check(jac, sigma, samples=20_000, seed=0)
    assert torch.allclose(large.predicted, expected, rtol=1e-5, atol=1e-9)
    assert large.relative_error < 0.05 < small.relative_error
    assert torch.allclose(large.mean, model.encode_images(jac.x[None])[0].double(), atol=2e-3)
    assert (small.jvps, small.vjps) == (0, 40)  # J J^T from D = 40 VJPs (its rows), no JVPs
    assert (large.jvps, large.vjps) == (0, 0)  # ... once per Jacobian, whatever the sigma or N


def test_randomized_svd_matches_full_jacobian_on_a_tiny_vit(tmp_path):
    """Catches a wrong range finder (missing QR, power iteration on J instead of J J^T) or a miscount
    of products: top-k singular values of a tiny HF CLIP tower equal svdvals(jacrev) to 1e-4."""
    model = vlmaudit.load_model(make_tiny_hf_clip(tmp_path / "clip"))
    x = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    jac = Jacobian(engine(model), x)
    exact = torch.linalg.svdvals(jac.full().double())[:4]
    result = randomized_svd(jac, 4, oversample=6, power_iterations=3, seed=0)
    assert torch.allclose(result.singular_values, exact, rtol=1e-4)
    assert (result.jvps, result.vjps) == (10 * 4, 10 * 4)  # l + q l of each, l = 10, q = 3
    assert result.condition == pytest.approx(float(exact[0] / exact[3]), rel=1e-4)
    assert result.attention == "math"  # HF CLIP's fused SDPA has no forward AD on CPU


def test_builtin_model_jvp_matches_reverse_mode():
    """Catches a JVP that breaks or silently changes kernels on the built-in ViT tower: J v equals
    (jacrev J) v, and no attention switch was needed (its attention is written out)."""
    model = vlmaudit.load_model("builtin:scenes")
    x = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))
    jac = Jacobian(engine(model), x)
    v = torch.randn(2, x.numel(), generator=torch.Generator().manual_seed(1))
    assert torch.allclose(jac.jvp(v), v @ jac.full().T, atol=1e-5)
    assert jac.attention == "default"


class _NoForwardAD(torch.autograd.Function):
    @staticmethod
    def forward(x):
        return x * 2

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad):
        return grad * 2


class _OpaqueModel(LinearModel):
    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        return super().encode_images(_NoForwardAD.apply(pixels))


def test_other_forward_ad_failures_are_raised_not_swallowed():
    """Catches a fallback that reruns every failing JVP under another kernel (or returns something
    else): a failure that is not fused attention propagates, and the kernel stays default."""
    jac = Jacobian(engine(_OpaqueModel()), torch.rand(3, 3, 3), normalize=False)
    with pytest.raises((NotImplementedError, RuntimeError)):
        jac.jvp(torch.randn(1, 27))
    assert jac.attention == "default"
