"""Suite `composition`: does the model read word order, relations and attribute binding?

Benchmarks: ARO (VG-Relation, VG-Attribution, COCO-/Flickr30k-Order), SugarCrepe (7 subsets),
Hard positives (Orig / Aug accuracy, Brittleness), each in its official format, and generated-scene
versions of all of them with exact gold (the default). Every number comes with its tie rate and
blind baselines (caption length both ways, the model's text prior, the bag-of-words-equivalent
fraction); a benchmark a length rule wins is flagged "hackable".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field, field_validator

from vlmaudit.benchmarks import references_for
from vlmaudit.data.items import CaptionChoice
from vlmaudit.data.source import DataSource
from vlmaudit.errors import DataError, SpecError
from vlmaudit.metrics.kit import Kit
from vlmaudit.metrics.selection import TIE_POLICIES
from vlmaudit.results import Metric
from vlmaudit.scoring.blind import caption_blind
from vlmaudit.suites.base import Evaluation, Names, OfficialTiePolicy, RunContext, Suite, SuiteConfig
from vlmaudit.suites.composition.bench import SCENE_BENCHMARKS, Benchmark, benchmark_for
from vlmaudit.suites.composition.metrics import (
    MetricSpec,
    Pool,
    aggregator,
    build_metrics,
    computable,
    metric_specs,
    outcome_key,
)
from vlmaudit.suites.composition.score import (
    Evaluated,
    choice_rule,
    evaluate,
    policy_sweep,
    sample_rows,
    score_tables,
    triplet_rule,
)


class Config(SuiteConfig):
    tie_policy: OfficialTiePolicy = "strict"  # or "official": each repository's own rule
    prompt: str = "a photo."  # neutral prompt of the text-prior baseline
    n_boot: int = Field(1000, ge=1)
    benchmarks: Names = ()  # generated scenes: which ones (empty = all)
    save_samples: bool = True

    @field_validator("benchmarks")
    @classmethod
    def _benchmarks(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if unknown := sorted(set(names) - set(SCENE_BENCHMARKS)):
            raise SpecError(f"unknown generated benchmarks {unknown} (known: {sorted(SCENE_BENCHMARKS)})")
        return names


@dataclass(frozen=True)
class Part:
    bench: Benchmark
    group: str
    items: list[CaptionChoice]


@dataclass(frozen=True)
class Combined:
    """A number over several parts: SugarCrepe overall (micro), Hard-Positive REPLACE (subset mean)."""

    group: str
    groups: tuple[str, ...]
    aggregation: str  # "micro" | "subsets"


def plan(data: DataSource, config: Config, seed: int) -> tuple[list[Part], list[Combined]]:
    """The benchmark parts of a source's caption-choice items, and the numbers combined over parts."""
    subsets = data.items_of(CaptionChoice, seed=seed)
    # `benchmarks` picks among the generated ones; all of them by default
    wanted = {SCENE_BENCHMARKS[key].name for key in config.benchmarks}
    parts = []
    for key, items in subsets.items():
        bench, group = benchmark_for(key)
        if not wanted or not key.startswith("scenes/") or bench.name in wanted:
            parts.append(Part(bench, group, items))
    generated = any(key.startswith("scenes/") for key in subsets)
    if generated and (missing := sorted(wanted - {part.bench.name for part in parts})):
        raise DataError(f"generated benchmark(s) {', '.join(missing)}: no scene among these supports them")
    groups = [part.group for part in parts]
    combos = []
    if len(scene_sc := tuple(g for g in groups if g.startswith("scenes/sugarcrepe_"))) > 1:
        combos.append(Combined("scenes/sugarcrepe_overall", scene_sc, "micro"))
    if sugarcrepe := tuple(g for g in groups if g.startswith("sugarcrepe/")):
        combos.append(Combined("sugarcrepe/overall", sugarcrepe, "micro"))
    replace_groups = ("hard_positives/replace_att", "hard_positives/replace_rel")
    if set(replace_groups) <= set(groups):
        combos.append(Combined("hard_positives/replace", replace_groups, "subsets"))
    return parts, combos


def _policy(config: Config, bench: Benchmark) -> str:
    return bench.official_tie_policy if config.tie_policy == "official" else config.tie_policy


def _run_part(part: Part, tables, config: Config, ctx: RunContext,
              kit: Kit) -> tuple[Evaluated, list[Metric], dict]:
    bench, policy = part.bench, _policy(config, part.bench)
    rule = triplet_rule if bench.rule == "triplet" else choice_rule(outcome_key(bench))
    ev = evaluate(part.group, part.items, tables, rule, policy, ctx.seed, triplet=bench.rule == "triplet")
    wanted = metric_specs(bench, grouped=any(item.group for item in part.items))
    specs = [s for s in wanted if computable(s, Pool([ev]))]
    notes = "; ".join(filter(None, [f"tie_policy={policy}", bench.reconstructed]))
    metrics, macro_tables = build_metrics(Pool([ev]), specs, part.group, kit, rule=policy, notes=notes)
    main = next((s for s in specs if s.name == bench.main_score), specs[0])
    aggregate = aggregator(main, Pool([ev]))
    gold = np.asarray([item.gold for item in part.items])
    extra = {
        "benchmark": bench.model_dump(),
        "main_score": main.name,
        "not_computed": [
            f"{part.group}/{s.name}: no group has >= {s.min_count} items outside the exclusion list; "
            f"the headline shows {main.name}" for s in wanted if s not in specs
        ],
        "tie_policy": policy,
        "tie_policies": policy_sweep(tables.model, gold, rule, TIE_POLICIES, ctx.seed, aggregate),
        **({"macro": macro_tables} if macro_tables else {}),
    }
    return ev, metrics, extra


def _combine(combo: Combined, evaluated: dict[str, Evaluated], bench: Benchmark, kit: Kit,
             rule: str) -> list[Metric]:
    pool = Pool([evaluated[g] for g in combo.groups])
    specs = [MetricSpec(s.name, s.source, s.chance, "micro" if combo.aggregation == "micro" else "subsets",
                        s.higher_is_better) for s in metric_specs(bench, grouped=False)]
    notes = f"{combo.aggregation} over {', '.join(combo.groups)}"
    metrics, _ = build_metrics(pool, specs, combo.group, kit, rule=rule, notes=notes)
    return metrics


def _evaluate(ctx: RunContext, data: DataSource, config: Config) -> Evaluation:
    parts, combos = plan(data, config, ctx.seed)
    scorers = [ctx.scorer, *caption_blind(ctx.scorer, config.prompt)]
    tables = score_tables(scorers, {p.group: p.items for p in parts})
    kit = Kit(ctx.seed, config.n_boot, references_for(ctx.model.spec, "composition"))
    metrics: list[Metric] = []
    evaluated: dict[str, Evaluated] = {}
    extra: dict = {"per_benchmark": {}}
    flags: list[str] = []
    samples: dict[str, list[dict]] = {}
    for part in parts:
        ev, part_metrics, part_extra = _run_part(part, tables[part.group], config, ctx, kit)
        evaluated[part.group] = ev
        metrics += part_metrics
        extra["per_benchmark"][part.group] = part_extra
        if config.save_samples:
            samples[part.group] = sample_rows(ev, outcome_key(part.bench))
        flags += part_extra["not_computed"]
    headline = [key for part in parts for key in _headline(
        part.group, part.bench, extra["per_benchmark"][part.group]["main_score"])]
    for combo in combos:
        bench = next(p.bench for p in parts if p.group in combo.groups)
        metrics += _combine(combo, evaluated, bench, kit, _policy(config, bench))
        headline += _headline(combo.group, bench)
    flags += sorted({p.bench.reconstructed for p in parts if p.bench.reconstructed})
    if any(p.group.startswith("scenes/") for p in parts) and not config.benchmarks:
        present = {p.bench.name for p in parts}
        if skipped := [key for key, bench in SCENE_BENCHMARKS.items() if bench.name not in present]:
            flags.append(f"skipped: generated benchmarks no scene supports: {', '.join(skipped)}")
    info = getattr(data, "info", {})
    if info:
        extra["data_notes"] = info
        if info.get("excluded_token_identical"):
            flags.append(f"excluded {info['excluded_token_identical']} Order items whose perturbation stayed "
                         "token-identical after resampling")
    return Evaluation(metrics, samples, flags, extra, headline)


def _headline(group: str, bench: Benchmark, main: str = "") -> list[str]:
    """Summary-table keys: the main score (and Brittleness beside Aug accuracy)."""
    names = [main or bench.main_score] + (["brittleness"] if bench.rule == "triplet" else [])
    return [f"{group}/{name}" for name in names]


class CompositionSuite(Suite):
    name = "composition"
    Config = Config
    default_data = ("scenes",)
    accepts = (CaptionChoice,)
    families = ("dual", "generative")
    comparison_data = ("scenes",)

    def evaluate(self, ctx: RunContext, data: DataSource, config: Config) -> Evaluation:
        return _evaluate(ctx, data, config)


SUITE = CompositionSuite()
