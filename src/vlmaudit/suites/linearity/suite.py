"""Suite `linearity`: is f locally linear, and does noise tell aligned images from clean ones?
(arXiv 2402.08473 §2.3, on any model, in pixel space.)

For the first `n_images` labelled images x (and, for the spectrum and the detector, each one's
aligned copy from `vlmaudit.attacks.align`, one target of another class drawn by seed):

(a) linearisation: N copies f(x + eps), eps ~ N(0, sigma^2 I) unclamped, at each sigma; the
    empirical covariance against sigma^2 J J^T (matrix-free, `attacks.noise_check`), as the
    relative Frobenius error, and the top eigenvalues of both;
(b) normality of those embeddings: per dimension (D'Agostino-Pearson, Holm-corrected over D) and
    jointly on the top `pca_dims` principal directions (squared Mahalanobis distances against
    chi^2 by Kolmogorov-Smirnov); the smallest sigma where most images reject is where it breaks;
(c) the top-k singular values of J at clean and at aligned images (randomised SVD), condition;
(d) the detector: label-flip rate and embedding shift of `detector_copies` noisy copies
    (clamped to [0, 1], as a user would add noise to a real image), and sigma_1(J), each scored
    as ROC AUC and TPR at 5% FPR for aligned (positive) vs clean, paired bootstrap over images.

The paper claims aligned images are more fragile under noise; on a random tiny CLIP they were not.
This suite reports what it measures. Defaults the paper does not give (sigmas, N, k, the attack
schedule, the detector's noise and copies) are flagged "reconstructed".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field
from scipy import stats
from statsmodels.stats.multitest import multipletests

from vlmaudit.attacks import Jacobian, align_batches, noise_check, randomized_svd
from vlmaudit.data.items import LabelledImage
from vlmaudit.data.source import DataSource
from vlmaudit.engine.distributed import shard_map
from vlmaudit.errors import SpecError
from vlmaudit.metrics.kit import Kit
from vlmaudit.scoring.zeroshot import build_classifier, gold_indices
from vlmaudit.suites.alignment.suite import Config as AlignmentConfig
from vlmaudit.suites.alignment.suite import _pairs, attack_config, labelled_subsets, templates_for
from vlmaudit.suites.base import Evaluation, Numbers, RunContext, Suite, SuiteConfig

FLAG = ("reconstructed: sigmas {sigmas}, {samples} noise samples per image and sigma, top-{k} SVD, "
        "{copies} clamped noisy copies for the detector and the alignment schedule ({steps} steps, "
        "PSNR >= {psnr:g} dB) are not in 2402.08473")


class Config(SuiteConfig):
    n_images: int = Field(16, ge=2)  # first n labelled images; 16 keeps the default audit within +2 min
    sigmas: Numbers = (0.01, 0.03, 0.1)  # noise std in [0, 1] pixel units
    samples: int = Field(200, ge=8)  # noisy embeddings per image and sigma for the covariance
    pca_dims: int = Field(5, ge=1)  # principal directions of the joint normality test
    alpha: float = Field(0.05, gt=0, lt=1)  # level of every normality test (after Holm over dims)
    k: int = Field(8, ge=1)  # top singular values of J
    power_iterations: int = Field(2, ge=0)
    detector_copies: int = Field(16, ge=1)  # noisy copies per image for the label-flip detector
    templates: str = "auto"
    attack_steps: int = Field(100, ge=1)
    psnr: float = Field(35.0, gt=0)
    normalize: bool = True
    batch_size: int = Field(64, ge=1)  # images per alignment batch
    seed: int = 0
    n_boot: int = Field(1000, ge=1)


class LinearitySuite(Suite):
    name = "linearity"
    Config = Config
    default_data = ("scenes",)
    accepts = (LabelledImage,)

    def check(self, config: Config) -> None:
        if not config.sigmas or min(config.sigmas) <= 0:
            raise SpecError(f"linearity.sigmas must be positive noise levels, got {list(config.sigmas)}")

    def evaluate(self, ctx: RunContext, data: DataSource, config: Config) -> Evaluation:
        out = Evaluation(metrics=[])
        kit = Kit(config.seed, config.n_boot)
        for key, items, classes in labelled_subsets(data, config.seed, self.name):
            _evaluate_subset(ctx, key, items, classes, config, kit, out)
        out.flags.append(FLAG.format(sigmas=list(config.sigmas), samples=config.samples, k=config.k,
                                     copies=config.detector_copies, steps=config.attack_steps,
                                     psnr=config.psnr))
        return out

    def figures(self, result: dict[str, Any], samples: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        from vlmaudit.suites.linearity.plots import figures

        return figures(result, samples)

    def report_section(self, result: dict[str, Any],
                       samples: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        from vlmaudit.suites.linearity.report import section

        return section(result, samples)


SUITE = LinearitySuite()


def normality(embeddings: np.ndarray, pca_dims: int, alpha: float) -> dict[str, float]:
    """Per-dimension and joint normality of [N, D] samples.

    per_dim_rejected: share of the D dimensions whose D'Agostino-Pearson test rejects at `alpha`
    after Holm's correction over D; joint_p: Kolmogorov-Smirnov p-value of the squared Mahalanobis
    distances in the top `pca_dims` principal directions against chi^2(pca_dims) (a Gaussian's
    distances are chi^2; the mean and covariance are estimated, so the test is approximate).
    """
    x = np.asarray(embeddings, dtype=np.float64)
    centred = x - x.mean(axis=0)
    spread = centred.std(axis=0)
    live = spread > 1e-12 * max(float(spread.max()), 1e-300)  # a constant dimension has no shape
    p_dims = stats.normaltest(centred[:, live], axis=0).pvalue if live.any() else np.ones(1)
    rejected = multipletests(p_dims, alpha=alpha, method="holm")[0]
    _, values, vectors = np.linalg.svd(centred, full_matrices=False)
    q = int(min(pca_dims, np.sum(values > 1e-12 * values[0])))
    scores = centred @ vectors[:q].T / (values[:q] / np.sqrt(len(x) - 1))
    distances = np.sum(scores**2, axis=1)
    joint = stats.kstest(distances, stats.chi2(q).cdf)
    return {"per_dim_rejected": float(rejected.mean()), "joint_p": float(joint.pvalue),
            "joint_rejected": float(joint.pvalue < alpha), "pca_dims": q,
            "qq_first_pc": np.sort(scores[:, 0] / max(scores[:, 0].std(), 1e-300)).tolist()}


def sampling_floor(predicted: torch.Tensor, samples: int, seed: int) -> float:
    """The relative error a perfectly linear f would still show: the same N samples drawn from
    N(0, predicted) itself, their sample covariance against `predicted` (the blind baseline of
    the covariance error; with N = 200 and D = 128 it is far from 0)."""
    values, vectors = torch.linalg.eigh(predicted)
    root = vectors * values.clamp(min=0).sqrt()
    draws = torch.randn((samples, len(values)), generator=torch.Generator().manual_seed(seed + 2),
                        dtype=torch.float64) @ root.T
    error = torch.linalg.matrix_norm(torch.cov(draws.T) - predicted) / torch.linalg.matrix_norm(predicted)
    return float(error)


def _evaluate_subset(ctx: RunContext, key: str, items: list[LabelledImage], classes: tuple[str, ...],
                     config: Config, kit: Kit, out: Evaluation) -> None:
    engine = ctx.engine
    classifier = build_classifier(engine, classes, templates_for(ctx.model, config.templates))
    gold_all = gold_indices(items, classes)
    sources = items[: config.n_images]
    pairs = _pairs(gold_all, len(classes), 1, config.seed)[: len(sources)]
    x0 = engine.pixels([sources[s].image for s, _ in pairs]).float()
    schedule = AlignmentConfig(steps=config.attack_steps, psnr=config.psnr, normalize=config.normalize,
                               seed=config.seed)
    attack = attack_config(schedule, x0[0].numel())
    with torch.no_grad():
        targets = engine.embed_pixels(engine.pixels([items[t].image for _, t in pairs]).float(),
                                      normalize=config.normalize)
    aligned = torch.stack([r.pixels for r in align_batches(engine, x0, targets, attack, config.batch_size)])
    aligned = aligned.to(x0)
    # one image a unit: under torchrun image i is measured on rank i % world
    rows = shard_map(lambda i: _image_row(engine, classifier, x0[i], aligned[i], config), range(len(pairs)))
    for row, (s, t) in zip(rows, pairs, strict=True):
        row.update(item=sources[s].item_id or sources[s].image.key, label=classes[gold_all[s]],
                   target=classes[gold_all[t]])
    _report(rows, key, config, kit, out)
    out.extra.setdefault("attack", {})[key] = attack.model_dump()


def _image_row(engine: Any, classifier: Any, clean: torch.Tensor, aligned: torch.Tensor,
               config: Config) -> dict[str, Any]:
    """Every measurement of one image and its aligned copy (one sample row)."""
    row: dict[str, Any] = {}
    jac = Jacobian(engine, clean, normalize=config.normalize)
    for sigma in config.sigmas:
        check = noise_check(jac, sigma, samples=config.samples, seed=config.seed)
        top_pred = torch.linalg.eigvalsh(check.predicted).flip(0)[:3].tolist()
        top_emp = torch.linalg.eigvalsh(check.empirical).flip(0)[:3].tolist()
        shape = normality(check.embeddings.cpu().numpy(), config.pca_dims, config.alpha)
        floor = sampling_floor(check.predicted, config.samples, config.seed)
        row[f"sigma_{sigma:g}"] = {"relative_error": check.relative_error, "sampling_floor": floor,
                                   "top_predicted": top_pred,
                                   "top_empirical": top_emp,
                                   "mean_shift": float((check.mean - check.value.double().cpu()).norm()),
                                   **shape}
    for name, x in (("clean", clean), ("aligned", aligned)):
        j = jac if name == "clean" else Jacobian(engine, x, normalize=config.normalize)
        svd = randomized_svd(j, min(config.k, *j.shape), power_iterations=config.power_iterations,
                             seed=config.seed)
        row[f"{name}_singular_values"] = svd.singular_values.tolist()
        row[f"{name}_condition"] = svd.condition
        row[f"{name}_detector"] = _detector_scores(engine, classifier, x, config)
    row["attention"] = jac.attention
    return row


def _detector_scores(engine: Any, classifier: Any, x: torch.Tensor, config: Config) -> dict[str, dict]:
    """Per sigma: share of clamped noisy copies whose zero-shot label differs from x's, and the
    mean embedding shift 1 - cos(f(x + eps), f(x))."""
    gen = torch.Generator().manual_seed(config.seed + 1)
    out = {}
    with torch.no_grad():
        fx = engine.embed_pixels(x[None], normalize=True)
        label = int(np.argmax(classifier.scores(fx.cpu().numpy())[0]))
        for sigma in config.sigmas:
            eps = torch.randn((config.detector_copies, *x.shape), generator=gen).to(x) * sigma
            noisy = engine.embed_pixels((x + eps).clamp(0.0, 1.0), normalize=True)
            labels = classifier.scores(noisy.cpu().numpy()).argmax(axis=1)
            out[f"{sigma:g}"] = {"flip_rate": float(np.mean(labels != label)),
                                 "shift": float(1 - (noisy @ fx[0]).mean())}
    return out


def _report(rows: list[dict[str, Any]], key: str, config: Config, kit: Kit, out: Evaluation) -> None:
    lin, det = f"{key}/linearisation", f"{key}/detector"
    broken = None
    for sigma in config.sigmas:
        at = [r[f"sigma_{sigma:g}"] for r in rows]
        name = f"sigma_{sigma:g}"
        rejected = np.array([a["joint_rejected"] for a in at])
        out.metrics += [
            kit.metric(f"{name}/cov_relative_error", np.array([a["relative_error"] for a in at]), group=lin,
                       higher_is_better=False,
                       baselines={"sampling floor": np.array([a["sampling_floor"] for a in at])},
                       notes=f"||C_emp - sigma^2 JJ^T||_F / ||sigma^2 JJ^T||_F, {config.samples} samples"),
            kit.metric(f"{name}/gaussian_rejected", rejected, group=lin, chance=config.alpha,
                       higher_is_better=False,
                       notes=f"share of images whose joint test (top {config.pca_dims} PCs) rejects at "
                             f"{config.alpha:g}; chance = the test's level"),
            kit.metric(f"{name}/dims_rejected", np.array([a["per_dim_rejected"] for a in at]), group=lin,
                       higher_is_better=False, notes="share of dimensions rejecting normality (Holm)"),
        ]
        if broken is None and rejected.mean() > 0.5:
            broken = sigma
        flips = {side: np.array([r[f"{side}_detector"][f"{sigma:g}"]["flip_rate"] for r in rows])
                 for side in ("clean", "aligned")}
        shifts = {side: np.array([r[f"{side}_detector"][f"{sigma:g}"]["shift"] for r in rows])
                  for side in ("clean", "aligned")}
        out.metrics += kit.auc(f"{name}/flip_rate_auc", flips["clean"], flips["aligned"], group=det,
                               notes="label-flip rate under noise, aligned vs clean")
        out.metrics += kit.auc(f"{name}/shift_auc", shifts["clean"], shifts["aligned"], group=det,
                               notes="embedding shift 1 - cos under noise, aligned vs clean")
    spectrum = {side: np.array([r[f"{side}_singular_values"][0] for r in rows])
                for side in ("clean", "aligned")}
    out.metrics += kit.auc("sigma1_auc", spectrum["clean"], spectrum["aligned"], group=det,
                           notes="largest singular value of J, aligned vs clean")
    spec = f"{key}/spectrum"
    for side in ("clean", "aligned"):
        out.metrics.append(kit.metric(f"{side}/sigma1", spectrum[side], group=spec,
                                      notes=f"top singular value of J (randomised SVD, k={config.k})"))
        out.metrics.append(kit.metric(f"{side}/log10_condition",
                                      np.log10([r[f"{side}_condition"] for r in rows]), group=spec,
                                      higher_is_better=False, notes=f"log10 sigma_1 / sigma_{config.k}"))
    first = config.sigmas[0]
    out.headline += [f"{lin}/sigma_{first:g}/cov_relative_error", f"{lin}/sigma_{first:g}/gaussian_rejected",
                     f"{det}/sigma_{first:g}/flip_rate_auc", f"{det}/sigma1_auc"]
    out.samples[f"{key}/images"] = rows
    out.extra.setdefault("breaks_at_sigma", {})[key] = broken
    if any(r["attention"] == "math" for r in rows):
        out.flags.append(f"{key}: JVPs ran under the math SDPA kernel "
                         "(the fused CPU kernel has no forward AD)")
