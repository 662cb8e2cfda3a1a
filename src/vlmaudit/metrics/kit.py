"""One kit that turns per-item outcomes into a reported Metric.

Every suite hands it numpy arrays: outcomes (1/0, or fractions under `half`), optionally cluster
keys (items sharing an image), a tie mask, blind scorers' outcomes on the same items, the chance
level and the paper's denominator; the kit returns a `Metric` with value, percentile bootstrap
CI, tie rate, n, baselines aggregated by the metric's own rule, and the published number when the
run's model matches one computed with the same rule. Suites name what they measure; how a number
is aggregated, bootstrapped and referenced is decided here, once.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vlmaudit.benchmarks.schema import Reference
from vlmaudit.metrics.aggregate import Macro, macro
from vlmaudit.metrics.bootstrap import bootstrap_ci, stratified_ci
from vlmaudit.results import Metric

Baselines = Mapping[str, "float | np.ndarray"]  # blind scorer -> its value, or its per-item outcomes


@dataclass(frozen=True)
class Kit:
    """Builds Metrics with the run's seed and n_boot; `references` are the run's model's numbers."""

    seed: int = 0
    n_boot: int = 1000
    references: tuple[Reference, ...] = ()

    def reference(self, group: str, name: str, rule: str | None = None) -> dict[str, Any] | None:
        """The published number for group/name, if it was computed with `rule` (or names no rule)."""
        for ref in self.references:
            if ref.group == group and ref.metric == name and (ref.rule is None or ref.rule == rule):
                return ref.attached()
        return None

    def metric(
        self,
        name: str,
        outcomes: np.ndarray,
        *,
        group: str = "",
        variant: str = "",
        rule: str | None = None,
        chance: float | None = None,
        clusters: Sequence[Hashable] | np.ndarray | None = None,
        tied: np.ndarray | None = None,
        baselines: Baselines | None = None,
        denominator: float | None = None,
        higher_is_better: bool = True,
        notes: str = "",
    ) -> Metric:
        """Mean of `outcomes` ([N] items, or [C, m]: rows are clusters of m trials) with its CI.

        `denominator`: the paper's divisor when it is not the number of units (What'sUp pairs
        over N/2 with an image missing); value and n follow it, the CI stays over units.
        `rule`: the tie rule the outcomes were computed with, to match a published number's.
        """
        values = np.asarray(outcomes, dtype=np.float64)
        key = f"{group}/{name}@{variant}"
        if values.size == 0:
            raise ValueError(f"metric {key} has no items")
        keys = None if clusters is None else np.asarray([str(k) for k in clusters])
        lo, hi = bootstrap_ci(values, clusters=keys, n_boot=self.n_boot, seed=self.seed)
        partial = denominator is not None and float(values.shape[0]) != float(denominator)

        def aggregate(v: np.ndarray) -> float:
            return float(v.sum() / denominator) if partial else float(v.mean())

        if partial:
            notes = "; ".join(filter(None, [notes, (
                f"{values.shape[0]} units but the paper divides by {denominator:g}; "
                "value uses the paper's denominator, CI is over units")]))
        return Metric(
            name=name, value=aggregate(values), n=round(denominator) if partial else int(values.size),
            chance=chance, ci_low=lo, ci_high=hi, tie_rate=_rate(tied), higher_is_better=higher_is_better,
            group=group, baselines=_baselines(baselines, aggregate),
            reference=self.reference(group, name, rule), notes=notes, variant=variant,
        )

    def macro(
        self,
        name: str,
        outcomes: np.ndarray,
        groups: Sequence[str],
        *,
        min_count: int = 1,
        exclude: Iterable[str] = (),
        group: str = "",
        variant: str = "",
        rule: str | None = None,
        chance: float | None = None,
        tied: np.ndarray | None = None,
        baselines: Baselines | None = None,
        higher_is_better: bool = True,
        notes: str = "",
    ) -> tuple[Metric, Macro]:
        """Macro mean over item groups with a stratified CI; n, ties and baselines over kept groups."""
        values = np.asarray(outcomes, dtype=np.float64)
        exclude = frozenset(exclude)
        result = macro(values, groups, min_count=min_count, exclude=exclude)
        lo, hi = stratified_ci(values, groups, result.kept, n_boot=self.n_boot, seed=self.seed)
        kept = np.isin(np.asarray([str(g) for g in groups], dtype=str), result.kept)

        def aggregate(v: np.ndarray) -> float:
            return macro(v, groups, min_count=min_count, exclude=exclude).value

        metric = Metric(
            name=name, value=result.value, n=sum(count for _, count in result.per_group.values()),
            chance=chance, ci_low=lo, ci_high=hi,
            tie_rate=None if tied is None else _rate(np.asarray(tied)[kept]),
            higher_is_better=higher_is_better, group=group, baselines=_baselines(baselines, aggregate),
            reference=self.reference(group, name, rule), notes=notes, variant=variant,
        )
        return metric, result

    def auc(self, name: str, negatives: np.ndarray, positives: np.ndarray, *, group: str = "",
            fpr: float = 0.05, notes: str = "") -> list[Metric]:
        """ROC AUC of a score separating paired `positives` from `negatives` (row i of both comes
        from one image; ties count half, as sklearn's roc_auc_score), and the TPR at `fpr`: the
        share of positives above the lowest threshold that at most floor(fpr * n) negatives
        exceed (the best TPR with FPR <= fpr). CIs: paired percentile bootstrap over images
        (scipy.stats.bootstrap), because the two sets share their source images. Chance: AUC 0.5,
        TPR = fpr."""
        from scipy.stats import bootstrap, mannwhitneyu

        neg, pos = np.asarray(negatives, dtype=np.float64), np.asarray(positives, dtype=np.float64)
        if neg.shape != pos.shape or neg.ndim != 1 or neg.size < 2:
            raise ValueError(f"auc {group}/{name} needs paired 1-D scores, got {neg.shape} and {pos.shape}")

        def area(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
            return mannwhitneyu(b, a, axis=axis).statistic / (a.shape[axis] * b.shape[axis])

        def tpr_at(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
            allowed = int(np.floor(fpr * a.shape[axis] + 1e-9))  # negatives that may score above
            threshold = np.take(np.sort(a, axis=axis), [a.shape[axis] - 1 - allowed], axis=axis)
            return np.mean(b > threshold, axis=axis)

        out = []
        for metric, statistic, chance in ((name, area, 0.5), (f"{name}/tpr@{fpr:g}fpr", tpr_at, fpr)):
            value = float(statistic(neg, pos))
            if np.ptp(np.r_[neg, pos]) == 0:  # one constant score: no resample can differ
                lo = hi = value
            else:
                ci = bootstrap((neg, pos), statistic, paired=True, vectorized=True, n_resamples=self.n_boot,
                               method="percentile", random_state=self.seed).confidence_interval
                lo, hi = float(ci.low), float(ci.high)
                if not (np.isfinite(lo) and np.isfinite(hi)):  # every resample gave one value
                    lo = hi = value
            out.append(Metric(name=metric, value=value, n=int(neg.size), chance=chance, ci_low=lo, ci_high=hi,
                              group=group, notes=notes))
        return out

    def derived(self, name: str, value: float, *, n: int, group: str = "", variant: str = "",
                rule: str | None = None, chance: float | None = None, notes: str = "") -> Metric:
        """A number computed from other metrics (a mean of subset accuracies): no CI of its own."""
        return Metric(name=name, value=float(value), n=n, chance=chance, group=group,
                      reference=self.reference(group, name, rule), notes=notes, variant=variant)


def _rate(tied: np.ndarray | None) -> float | None:
    return None if tied is None else float(np.mean(tied))


def _baselines(baselines: Baselines | None, aggregate) -> dict[str, float]:
    """Blind scorers' numbers: a float as given, per-item outcomes through the metric's own rule."""
    out = {}
    for name, value in (baselines or {}).items():
        out[name] = aggregate(np.asarray(value, dtype=np.float64)) if isinstance(value, np.ndarray) else value
    return out
