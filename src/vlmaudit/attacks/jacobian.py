"""Matrix-free Jacobian tools for f = `Engine.embed_pixels` at one image x (arXiv 2402.08473 §2.3).

J is D x n (n = 3*S*S, 150,528 for a 224 px model), so it is only ever touched through products:
J v by forward mode (`torch.func.jvp`), J^T u by reverse mode (`torch.func.vjp`). A batch of k
products is one batched forward at k copies of x, which is exact because an embedder in eval mode
treats batch rows independently. On top of the products: the noise covariance predicted by the
linearisation, sigma^2 J J^T, against the empirical covariance of f(x + eps); and randomised top-k
SVD (Halko, Martinsson & Tropp 2011, Alg. 4.4 + 5.1). The full J (`jacrev`/`jacfwd`) is for small
reference models only.

Fused SDPA kernels on CPU have no forward-mode derivative (HF CLIP and open_clip call them). A JVP
that fails for that reason is rerun under `sdpa_kernel(SDPBackend.MATH)`, the same attention
written out, and `Jacobian.attention` says so ("math"); any other failure is raised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from vlmaudit.engine import Engine

T = TypeVar("T")


class Jacobian:
    """J of x -> embed_pixels(x)[0] at one image `x` [3, S, S]; counts every product it computes."""

    def __init__(self, engine: Engine, x: torch.Tensor, *, normalize: bool = True, chunk: int = 32) -> None:
        if x.ndim != 3:
            raise ValueError(f"Jacobian takes one [3, S, S] image, got {tuple(x.shape)}")
        self.engine, self.normalize, self.chunk = engine, normalize, chunk
        self.x = x.detach().float()
        self.jvps = 0
        self.vjps = 0
        self.attention = "default"  # "math" once a JVP needed the written-out attention kernel
        self._gram: torch.Tensor | None = None
        with torch.no_grad():
            self.value = self._f(self.x[None])[0]
        self.shape = (self.value.numel(), self.x.numel())

    def _f(self, batch: torch.Tensor) -> torch.Tensor:
        return self.engine.embed_pixels(batch, normalize=self.normalize)

    def jvp(self, tangents: torch.Tensor) -> torch.Tensor:
        """[k, 3, S, S] (or [k, n]) directions v_i -> [k, D] rows J v_i."""
        tangents = tangents.reshape(-1, *self.x.shape).to(self.x)
        rows = []
        for v in tangents.split(self.chunk):
            primal = self.x.expand_as(v).clone()  # jvp writes into its primal
            out = self._forward_ad(lambda p=primal, v=v: torch.func.jvp(self._f, (p,), (v,))[1])
            rows.append(out.detach())
            self.jvps += len(v)
        return torch.cat(rows)

    def vjp(self, cotangents: torch.Tensor) -> torch.Tensor:
        """[k, D] vectors u_i -> [k, 3, S, S] rows J^T u_i."""
        # one forward at x, its pullback vmapped over the cotangents (as jacrev does): 4.6x faster
        # on the built-in model than a forward and backward of len(u) copies of x
        _, pull = torch.func.vjp(lambda z: self._f(z[None])[0], self.x)
        rows = []
        for u in cotangents.to(self.value).split(self.chunk):
            rows.append(torch.func.vmap(pull)(u)[0].detach())
            self.vjps += len(u)
        return torch.cat(rows)

    def noise_covariance(self, vectors: torch.Tensor, sigma: float) -> torch.Tensor:
        """[k, D] u_i -> [k, D] rows sigma^2 J J^T u_i (the linearised noise covariance, applied)."""
        return sigma**2 * self.jvp(self.vjp(vectors))

    def gram(self) -> torch.Tensor:
        """J J^T [D, D] (float64), from D VJPs once, then cached: every sigma's predicted covariance
        is sigma^2 times it. The VJPs of the unit vectors are J's rows, so J J^T is their Gram
        matrix (exactly symmetric) and needs no JVPs; the rows are held once, D x n floats
        (~300 MB at ViT-B/32, 224 px), as J^T I would hold them anyway."""
        if self._gram is None:
            rows = self.vjp(torch.eye(self.shape[0], device=self.value.device)).flatten(1).double()
            self._gram = rows @ rows.T
        return self._gram

    def full(self, mode: str = "rev") -> torch.Tensor:
        """The whole [D, n] Jacobian: `jacrev` (D reverse passes) or `jacfwd` (n forward passes)."""
        single = lambda z: self._f(z[None])[0]  # noqa: E731
        if mode == "rev":
            return torch.func.jacrev(single)(self.x).reshape(self.shape)
        if mode == "fwd":
            return self._forward_ad(lambda: torch.func.jacfwd(single)(self.x)).reshape(self.shape)
        raise ValueError(f"mode must be 'rev' or 'fwd', got {mode!r}")

    def _forward_ad(self, call: Callable[[], T]) -> T:
        """Run a forward-mode computation; switch to the math SDPA kernel if the fused one refuses."""
        if self.attention == "math":
            with sdpa_kernel(SDPBackend.MATH):
                return call()
        try:
            return call()
        except NotImplementedError as err:
            if "forward AD" not in str(err) or "attention" not in str(err):
                raise
        self.attention = "math"
        with sdpa_kernel(SDPBackend.MATH):
            return call()


@dataclass(frozen=True)
class NoiseCheck:
    """f(x + eps), eps ~ N(0, sigma^2 I) unclamped, against the linearisation N(f(x), sigma^2 J J^T)."""

    predicted: torch.Tensor  # [D, D] sigma^2 J J^T (float64)
    empirical: torch.Tensor  # [D, D] sample covariance of the N embeddings (float64)
    mean: torch.Tensor  # [D] sample mean
    embeddings: torch.Tensor  # [N, D] the noisy embeddings themselves (float64), for normality tests
    value: torch.Tensor  # [D] f(x)
    relative_error: float  # ||empirical - predicted||_F / ||predicted||_F
    sigma: float
    samples: int
    seed: int
    jvps: int
    vjps: int
    attention: str


def noise_check(jac: Jacobian, sigma: float, samples: int = 500, seed: int = 0) -> NoiseCheck:
    """Empirical mean/covariance of N noisy embeddings vs sigma^2 J J^T (`Jacobian.gram`, built once).

    The noise is not clamped to [0, 1]: clamping would make it non-Gaussian and bias the
    comparison the linearisation makes; embedders accept any real input.
    """
    if samples < 2:
        raise ValueError(f"need at least 2 samples for a covariance, got {samples}")
    jvps, vjps = jac.jvps, jac.vjps
    predicted = sigma**2 * jac.gram()
    gen = torch.Generator().manual_seed(seed)
    rows = []
    with torch.no_grad():
        for start in range(0, samples, jac.chunk):
            count = min(jac.chunk, samples - start)
            eps = torch.randn((count, *jac.x.shape), generator=gen).to(jac.x) * sigma
            rows.append(jac._f(jac.x + eps).double())
    embeddings = torch.cat(rows)
    empirical = torch.cov(embeddings.T)
    error = torch.linalg.matrix_norm(empirical - predicted) / torch.linalg.matrix_norm(predicted)
    return NoiseCheck(predicted=predicted, empirical=empirical, mean=embeddings.mean(0),
                      embeddings=embeddings, value=jac.value,
                      relative_error=float(error), sigma=sigma, samples=samples, seed=seed,
                      jvps=jac.jvps - jvps, vjps=jac.vjps - vjps, attention=jac.attention)


@dataclass(frozen=True)
class SVDResult:
    singular_values: torch.Tensor  # [k], descending (float64)
    condition: float  # sigma_1 / sigma_k
    jvps: int
    vjps: int
    k: int
    oversample: int
    power_iterations: int
    seed: int
    attention: str

    @property
    def products(self) -> int:
        return self.jvps + self.vjps


def randomized_svd(jac: Jacobian, k: int, *, oversample: int = 5, power_iterations: int = 2,
                   seed: int = 0) -> SVDResult:
    """Top-k singular values of J from products only: Y = J Omega, q power iterations
    (Y = J J^T Q, re-orthonormalised by QR each half step), B = Q^T J, then the SVD of the small B.
    Uses l + 2ql JVP/VJP products in all, l = min(k + oversample, D, n)."""
    d, n = jac.shape
    if not 1 <= k <= min(d, n):
        raise ValueError(f"k must be in 1..{min(d, n)}, got {k}")
    jvps, vjps = jac.jvps, jac.vjps
    width = min(k + oversample, d, n)
    omega = torch.randn((width, n), generator=torch.Generator().manual_seed(seed))
    q = _orthonormal(jac.jvp(omega).T)  # [D, l]
    for _ in range(power_iterations):
        z = _orthonormal(jac.vjp(q.T.float()).reshape(width, n).T)  # [n, l]
        q = _orthonormal(jac.jvp(z.T.float()).T)
    b = jac.vjp(q.T.float()).reshape(width, n).double()  # B = Q^T J, [l, n]
    values = torch.linalg.svdvals(b)[:k].cpu()
    return SVDResult(singular_values=values, condition=float(values[0] / values[-1]),
                     jvps=jac.jvps - jvps, vjps=jac.vjps - vjps, k=k, oversample=oversample,
                     power_iterations=power_iterations, seed=seed, attention=jac.attention)


def _orthonormal(y: torch.Tensor) -> torch.Tensor:
    return torch.linalg.qr(y.double()).Q
