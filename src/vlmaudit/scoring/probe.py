"""Linear probe on frozen features: sklearn `LogisticRegression`, C chosen on validation only.

The conventions, and why (anchors.md §2):
- C is chosen on the validation split, never on test (VLMClassifier reports the best epoch on the
  reported split; CLIP_benchmark#125 leaked validation into few-shot training). The validation
  split is the data's own where it has one; otherwise a seeded split stratified by class is carved
  from the training items (and, when the data has no split at all, test is carved first). The grid,
  the validation accuracy at every C and the chosen C are returned (openai/CLIP#277,
  CLIP_benchmark#143 ask for them). Equal validation accuracies pick the smallest C.
- After selection the probe is refit with the chosen C on train + val (`refit`), as CLIP_benchmark
  does with full data (with a fixed C, too: val items are then training data); k-shot refits on
  its k-shot draw only, as CLIP_benchmark does.
- L-BFGS with `max_iter=1000` (openai/CLIP#39's probe). A probe that stops at the limit is
  recorded in the result (`converged`, `warnings`); sklearn's warnings never reach the terminal.
- k-shot: k training items per class in each of `n_draws` seeded draws; mean and a t-interval
  over draws (MIEB/CoOp report mean ± spread over repeats; CLIP_benchmark makes one draw).
- Scores are the decision function in fp32, so top-1/top-5 go through `metrics.selection` with an
  explicit tie policy like every other K-way comparison.

`ProbeConfig(C=...)` fixes C (no selection, no validation split needed): the transforms suite's
probe and MTEB-style fixed-C probes use that.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from vlmaudit.data.items import LabelledImage
from vlmaudit.errors import DataError, SpecError
from vlmaudit.metrics.selection import Selection, TiePolicy, check_tie_policy, select, top_k

DEFAULT_C_GRID: tuple[float, ...] = tuple(float(c) for c in np.logspace(-3, 3, 13))  # half-decades
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ProbeConfig:
    C: float | None = None  # fixed inverse regularisation: no selection
    C_grid: tuple[float, ...] = DEFAULT_C_GRID
    standardize: bool = False  # StandardScaler (fit on the training rows) before the regression
    max_iter: int = 1000
    val_fraction: float = 0.2  # of the training items, when the data has no validation split
    test_fraction: float = 0.25  # of all items, when the data has no split at all
    refit: Literal["train", "train+val"] = "train+val"
    tie_policy: TiePolicy = "strict"
    seed: int = 0  # seeded splits, k-shot draws, LogisticRegression's random_state

    def check(self) -> ProbeConfig:
        check_tie_policy(self.tie_policy)
        if self.C is not None and not self.C > 0:
            raise SpecError(f"probe C must be > 0, got {self.C}")
        if self.C is None and (not self.C_grid or min(self.C_grid) <= 0):
            raise SpecError(f"probe C_grid must be non-empty and positive, got {self.C_grid}")
        for name in ("val_fraction", "test_fraction"):
            if not 0 < getattr(self, name) < 1:
                raise SpecError(f"probe {name} must be in (0, 1), got {getattr(self, name)}")
        if self.refit not in ("train", "train+val"):
            raise SpecError(f"probe refit must be 'train' or 'train+val', got {self.refit!r}")
        if self.max_iter < 1:
            raise SpecError(f"probe max_iter must be >= 1, got {self.max_iter}")
        return self


@dataclass(frozen=True)
class ProbeFit:
    classes: tuple[Hashable, ...]  # column order of `scores`
    C: float  # the C of the reported fit
    C_grid: tuple[float, ...]  # searched grid; () when C was fixed
    val_accuracy: tuple[float, ...]  # validation top-1 at each grid C (same tie policy)
    scores: np.ndarray  # [n_test, K] fp32 decision function
    gold: np.ndarray  # [n_test] class indices
    test_index: np.ndarray  # [n_test] positions of the test rows in the input
    top1: Selection
    top5: Selection | None  # None with <= 5 classes
    splits: np.ndarray  # [N] the train/val/test assignment used (the data's or the seeded one)
    split_origin: str  # "data", "data+seeded val", "seeded"
    converged: bool
    warnings: tuple[str, ...] = field(default=())

    @property
    def accuracy(self) -> float:
        return self.top1.accuracy

    @property
    def predicted(self) -> np.ndarray:
        """[n_test] first top-scoring class index (argmax-first; `top1.tied` flags ties)."""
        return self.scores.argmax(axis=1)


@dataclass(frozen=True)
class KShotProbe:
    k: int
    draws: tuple[ProbeFit, ...]
    accuracies: np.ndarray  # [n_draws] test top-1 of each draw
    ci: tuple[float, float]  # 95% t-interval of the mean over draws (nan with one draw)

    @property
    def mean(self) -> float:
        return float(self.accuracies.mean())

    @property
    def std(self) -> float:
        return float(self.accuracies.std(ddof=1)) if len(self.accuracies) > 1 else float("nan")


def _encode(labels: Sequence[Hashable], classes: Sequence[Hashable] | None, data: str
            ) -> tuple[tuple[Hashable, ...], np.ndarray]:
    order = tuple(classes) if classes is not None else tuple(sorted(set(labels)))
    position = {c: i for i, c in enumerate(order)}
    if len(position) < len(order):
        raise DataError(f"{data}: probe classes repeat")
    if unknown := sorted({str(x) for x in labels if x not in position}):
        raise DataError(f"{data}: labels outside the probe's classes: {unknown[:5]}")
    if len(order) < 2:
        raise DataError(f"{data}: a probe needs at least two classes, got {list(order)}")
    return order, np.array([position[x] for x in labels], dtype=np.int64)


def _carve(pool: np.ndarray, y: np.ndarray, fraction: float, seed: int, part: str, classes: tuple,
           data: str) -> tuple[np.ndarray, np.ndarray]:
    """Split `pool` (indices) in two, stratified by class: (kept, carved)."""
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y[pool], minlength=len(classes))
    if short := [str(classes[c]) for c in np.flatnonzero((counts > 0) & (counts < 2))]:
        raise DataError(f"{data}: class(es) {short[:5]} have one item left, too few to split off a "
                        f"{part} set stratified by class; give the data a {part} split")
    try:
        kept, carved = train_test_split(pool, test_size=fraction, stratify=y[pool], random_state=seed)
    except ValueError as err:
        raise DataError(f"{data}: cannot carve a stratified {part} set from {len(pool)} items: "
                        f"{err}") from None
    return np.sort(kept), np.sort(carved)


def resolve_splits(y: np.ndarray, given: Sequence[str], config: ProbeConfig, classes: tuple, data: str
                   ) -> tuple[np.ndarray, str]:
    """[N] train/val/test per row: the data's own, with val (and test) carved only where missing."""
    splits = np.array(["" if s is None else str(s) for s in given], dtype=object)
    if len(splits) != len(y):
        raise ValueError(f"{len(y)} labels but {len(splits)} splits")
    if bad := sorted(set(splits) - {*SPLITS, ""}):
        raise DataError(f"{data}: unknown split name(s) {bad} (use {', '.join(SPLITS)})")
    origin = "data"
    if (splits == "").all():
        train, test = _carve(np.arange(len(y)), y, config.test_fraction, config.seed, "test", classes, data)
        splits[test], splits[train], origin = "test", "train", "seeded"
    elif (splits == "").any():
        raise DataError(f"{data}: {int((splits == '').sum())} item(s) have no split while others do")
    if not (splits == "test").any() or not (splits == "train").any():
        raise DataError(f"{data}: a probe needs train and test items; splits present: {sorted(set(splits))}")
    if config.C is None and not (splits == "val").any():
        train, val = _carve(np.flatnonzero(splits == "train"), y, config.val_fraction, config.seed, "val",
                            classes, data)
        splits[val] = "val"
        origin = "seeded" if origin == "seeded" else "data+seeded val"
    return splits, origin


def _fit(x: np.ndarray, y: np.ndarray, C: float, config: ProbeConfig, caught: list[str]):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    regression = LogisticRegression(C=C, max_iter=config.max_iter, random_state=config.seed)
    model = make_pipeline(StandardScaler(), regression) if config.standardize else regression
    # One BLAS/OpenMP thread: with torch loaded, sklearn's pools and torch's oversubscribe the cores
    # and the same fit ran ~100x slower (0.2 s vs 21 s for 1800 x 32, 24 classes, on 2 cores).
    with warnings.catch_warnings(record=True) as seen, threadpool_limits(limits=1):
        warnings.simplefilter("always")
        model.fit(x, y)
    caught.extend(f"C={C:g}: {' '.join(str(w.message).split())}" for w in seen)
    return model


def _scores(model, x: np.ndarray, n_classes: int) -> np.ndarray:
    """[n, K] fp32 decision function; a binary probe's one margin m becomes [-m, m]."""
    raw = np.asarray(model.decision_function(x), dtype=np.float64)
    raw = np.stack([-raw, raw], axis=1) if raw.ndim == 1 else raw
    if raw.shape[1] != n_classes:
        raise ValueError(f"decision function has {raw.shape[1]} columns for {n_classes} classes")
    return raw.astype(np.float32)


def _check_train_classes(y: np.ndarray, rows: np.ndarray, classes: tuple, data: str) -> None:
    if missing := [str(classes[c]) for c in sorted(set(range(len(classes))) - set(y[rows].tolist()))]:
        raise DataError(f"{data}: class(es) {missing[:5]} have no training items; the probe cannot "
                        "predict them")


def _probe(x: np.ndarray, y: np.ndarray, splits: np.ndarray, origin: str, train: np.ndarray,
           classes: tuple, config: ProbeConfig, data: str) -> ProbeFit:
    """Select C on val (training on `train`), refit, score the test rows."""
    _check_train_classes(y, train, classes, data)
    val, test = np.flatnonzero(splits == "val"), np.flatnonzero(splits == "test")
    caught: list[str] = []
    fits = []  # every model fitted, for the convergence flag
    grid, val_accuracy = (), ()
    C = config.C
    if C is None:
        grid = tuple(sorted(config.C_grid))
        accuracies = []
        for c in grid:
            fits.append(model := _fit(x[train], y[train], c, config, caught))
            accuracies.append(select(_scores(model, x[val], len(classes)), y[val], config.tie_policy,
                                     config.seed).accuracy)
        val_accuracy = tuple(accuracies)
        C = grid[int(np.argmax(accuracies))]  # first maximum: the smallest C among equals
    final_rows = np.sort(np.concatenate([train, val])) if config.refit == "train+val" else train
    fits.append(model := _fit(x[final_rows], y[final_rows], C, config, caught))
    scores = _scores(model, x[test], len(classes))
    top5 = top_k(scores, y[test], 5, config.tie_policy) if len(classes) > 5 else None
    converged = all(bool(np.all(_n_iter(m) < config.max_iter)) for m in fits)
    return ProbeFit(classes, float(C), grid, val_accuracy, scores, y[test], test,
                    select(scores, y[test], config.tie_policy, config.seed), top5, splits, origin,
                    converged, tuple(dict.fromkeys(caught)))


def _n_iter(model) -> np.ndarray:
    return (model[-1] if hasattr(model, "steps") else model).n_iter_


def _inputs(features: np.ndarray, labels: Sequence[Hashable], data: str) -> np.ndarray:
    x = np.asarray(features)
    if x.ndim != 2 or x.shape[0] != len(labels):
        raise ValueError(f"features must be [N, D] for {len(labels)} labels, got {x.shape}")
    if not np.isfinite(x).all():
        raise DataError(f"{data}: probe features contain NaN or inf")
    return x


def fit_probe(features: np.ndarray, labels: Sequence[Hashable], splits: Sequence[str] | None = None,
              config: ProbeConfig = ProbeConfig(), *, classes: Sequence[Hashable] | None = None,
              data: str = "probe data") -> ProbeFit:
    """Full-data probe: train on train, C on val, refit, report test. `data` names the data in errors.

    `splits` per row ("train"/"val"/"test", or "" / None everywhere for a seeded split); `classes`
    fixes the column order (default: sorted labels)."""
    config = config.check()
    order, y = _encode(labels, classes, data)
    x = _inputs(features, labels, data)
    resolved, origin = resolve_splits(y, splits if splits is not None else [""] * len(y), config, order, data)
    return _probe(x, y, resolved, origin, np.flatnonzero(resolved == "train"), order, config, data)


def kshot_probe(features: np.ndarray, labels: Sequence[Hashable], k: int, splits: Sequence[str] | None = None,
                config: ProbeConfig = ProbeConfig(), *, n_draws: int = 5,
                classes: Sequence[Hashable] | None = None, data: str = "probe data") -> KShotProbe:
    """k training items per class in each of `n_draws` seeded draws; C on the (full) val split."""
    config = config.check()
    if k < 1 or n_draws < 1:
        raise SpecError(f"k-shot needs k >= 1 and n_draws >= 1, got k={k}, n_draws={n_draws}")
    order, y = _encode(labels, classes, data)
    x = _inputs(features, labels, data)
    resolved, origin = resolve_splits(y, splits if splits is not None else [""] * len(y), config, order, data)
    pool = np.flatnonzero(resolved == "train")
    by_class = [pool[y[pool] == c] for c in range(len(order))]
    if short := [f"{order[c]} ({len(rows)})" for c, rows in enumerate(by_class) if len(rows) < k]:
        raise DataError(f"{data}: {k}-shot needs {k} training items per class; too few: {short[:5]}")
    once = replace(config, refit="train")  # k-shot trains on its draw only
    draws = []
    for draw in range(n_draws):
        rng = np.random.default_rng([config.seed, k, draw])
        train = np.sort(np.concatenate([rng.choice(rows, size=k, replace=False) for rows in by_class]))
        draws.append(_probe(x, y, resolved, origin, train, order, once, data))
    accuracies = np.array([d.accuracy for d in draws])
    return KShotProbe(k, tuple(draws), accuracies, _t_interval(accuracies))


def _t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean over draws (few draws: a bootstrap would be degenerate)."""
    from scipy import stats

    if len(values) < 2:
        return float("nan"), float("nan")
    mean, sem = float(values.mean()), float(stats.sem(values))
    if sem == 0.0:
        return mean, mean
    half = float(stats.t.ppf(0.5 + level / 2, df=len(values) - 1)) * sem
    return mean - half, mean + half


def probe_items(features: np.ndarray, items: Sequence[LabelledImage], classes: Sequence[str],
                config: ProbeConfig = ProbeConfig(), *, data: str = "probe data") -> ProbeFit:
    """`fit_probe` on labelled images: their labels, in `classes` order, and the source's splits."""
    return fit_probe(features, [item.label for item in items], [item.split for item in items], config,
                     classes=classes, data=data)
