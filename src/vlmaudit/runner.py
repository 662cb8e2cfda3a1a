"""Orchestrates an audit: models x suites x data, each unit written atomically.

Data flows one way: spec -> model, data spec -> source, suite -> result, run directory -> files.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vlmaudit.atomic import json_default, write_json_atomic, write_text_atomic
from vlmaudit.data.source import DataSource, open_data, parse_data_spec
from vlmaudit.engine import Engine
from vlmaudit.errors import SpecError
from vlmaudit.models import DEFAULT_MODELS, load_model, model_family, parse_device, parse_dtype
from vlmaudit.models._loading import library_progress
from vlmaudit.registry import SUITES, default_suites
from vlmaudit.report.provenance import environment, now
from vlmaudit.report.rundir import RunDirectory
from vlmaudit.report.table import markdown_table
from vlmaudit.results import SuiteResult
from vlmaudit.scoring import scorer_for
from vlmaudit.specs import ModelSpec
from vlmaudit.suites.base import RunContext, build_config

SETTINGS = {"device": "cpu", "dtype": "fp32", "batch_size": 64, "seed": 0}  # defaults of run settings


@dataclass
class RunSummary:
    out: Path
    units: list[dict[str, Any]] = field(default_factory=list)  # results.json payloads, in run order
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)  # suites none of the given data fits
    unsupported: list[str] = field(default_factory=list)  # "model / suite": the suite cannot audit the family


def default_out_dir(models: Sequence[str]) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{stamp}-{'+'.join(m.split(':')[-1].split('/')[-1] for m in models)[:40]}"


def run(
    models: Sequence[str] = (),
    suites: Sequence[str] = (),
    data: Sequence[str] = (),
    *,
    out: str | Path | None = None,
    device: str | None = None,
    dtype: str | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    options: dict[str, dict[str, Any]] | None = None,
    cache_dir: str | Path | None = "default",
    resume: bool = False,
    progress: bool = True,
    on_unit=None,
) -> RunSummary:
    """Run `suites` (default: all available) for each model on `data` (default: each suite's own).

    resume: skip the units already in `out`. Once a unit has finished, the run is extended, not
    replaced: what is not given comes from its config.json and what is given is added (a bare
    resume continues the interrupted run; `--model NEW` adds a model to it). Changed settings
    for finished units are refused. device, dtype, batch_size and seed left as None are the resumed
    run's, else the defaults (`SETTINGS`): the CLI passes None for what the user did not type, so
    the CLI and this function resume alike.

    options: per-suite config overrides, e.g. {"transforms": {"n_images": 100}}.
    on_unit: optional callback(payload) after each finished unit, for live printing.
    """
    started = time.perf_counter()
    stored = stored_config(Path(out)) if resume and out is not None else None
    given = {"device": device, "dtype": dtype, "batch_size": batch_size, "seed": seed}
    device, dtype, batch_size, seed = _settings(given, stored).values()
    finished = stored is not None and any(Path(out).rglob("results.json"))
    given_suites = list(suites)
    options = options or {}
    # a run that failed before finishing any unit has nothing to keep: given settings replace it
    extend = stored is not None and (finished or not (models or suites or data or options))
    stored_plan: dict[str, list[str]] = stored["data"] if extend else {}
    if extend:
        models, suites = [*stored["models"], *models], [*stored["suites"], *suites]
        options = {name: {**stored["suite_configs"].get(name, {}), **options.get(name, {})}
                   for name in dict.fromkeys([*stored["suite_configs"], *options])}
    # `vlmaudit run [SUITES]` with no models, data or options: each model family on its own plan
    # (see _default_audit_plans), so `vlmaudit run transforms` is the default audit's transforms units
    default_audit = not (models or data or options) and not extend
    # a name given twice is one unit, not two (dict keeps the user's order)
    explicit = bool(models)  # the user's (or the resumed run's) models, not the defaults
    models = list(dict.fromkeys(models)) or list(DEFAULT_MODELS)
    model_specs = {text: ModelSpec.parse(text) for text in models}  # a typo fails before any file exists
    data = _distinct_data(data)
    suite_names = list(dict.fromkeys(suites)) or default_suites()
    suite_objs = {name: SUITES.get(name) for name in suite_names}
    families = {spec: model_family(parsed) for spec, parsed in model_specs.items()}
    if not explicit:  # `vlmaudit run alignment`: the default models that can run it, not an error
        models = [m for m in models if any(families[m] in suite_objs[s].families for s in suite_names)]
        model_specs = {m: model_specs[m] for m in models}
        families = {m: families[m] for m in models}
    _reject_unknown_option_suites(options, suite_names)
    configs = {name: _suite_config(obj, options.get(name, {}), seed) for name, obj in suite_objs.items()}

    parse_device(device), parse_dtype(dtype)  # fail before the run directory is created
    out_dir = Path(out) if out is not None else default_out_dir(models)
    sources: dict[str, DataSource] = {text: open_data(text) for text in data}
    plan = _plan(suite_objs, data, sources, required=given_suites, stored=stored_plan)
    plans = {spec: plan for spec in models}  # model -> suite -> data
    if default_audit:
        plans = _default_audit_plans(model_specs, suite_objs, plan)
    elif extend:
        plans |= {spec: stored_one for spec, stored_one in stored.get("plans", {}).items() if spec in plans}
    for one in plans.values():
        for texts in one.values():
            for text in texts:
                if text not in sources:
                    sources[text] = open_data(text)

    for spec, family in families.items():  # before the run directory exists: nothing half-written
        if model_specs[spec].options and family != "generative":
            raise SpecError(f"{spec}: scoring options {sorted(dict(model_specs[spec].options))} apply to "
                            "generative models only")
        for name in given_suites if explicit else ():
            if family not in suite_objs[name].families:
                raise SpecError(f"suite {name!r} cannot audit {spec} (a {family} model; it supports "
                                f"{', '.join(suite_objs[name].families)} models)")
    if data and not any(plan.values()):
        kinds = ", ".join(sorted({sources[text].kind for text in data}))
        raise SpecError(f"no suite of {suite_names} accepts the data given ({kinds})")
    if finished:
        _check_resumable(out_dir, stored, dtype=dtype, seed=seed,
                         suite_configs={name: cfg.model_dump() for name, cfg in configs.items()},
                         sources=sources)
    rundir = RunDirectory(out_dir, resume=resume)
    env = environment()
    config_record = {
        "models": models, "suites": suite_names,
        "data": {s: list(dict.fromkeys(d for one in plans.values() for d in one.get(s, [])))
                 for s in suite_names},
        "plans": plans,
        "device": device, "dtype": dtype, "batch_size": batch_size, "seed": seed,
        "suite_configs": {name: cfg.model_dump() for name, cfg in configs.items()},
        "cache_dir": str(cache_dir), "resume": resume,
    }
    write_json_atomic(out_dir / "config.json", config_record)
    summary = RunSummary(out=out_dir, skipped=[name for name in suite_names if not plan[name]])
    manifest_path = out_dir / "progress.json"

    loaded: dict[str, tuple[Any, Engine]] = {}  # the last model loaded (specs of one model are adjacent)
    for spec in models:
        todo = [(s, d) for s in suite_names for d in plans[spec].get(s, []) if not rundir.is_done(spec, s, d)]
        for s in suite_names:
            for d in plans[spec].get(s, []):
                if rundir.is_done(spec, s, d):
                    _record(summary, rundir.load(spec, s, d), manifest_path, on_unit)
        if not todo:
            continue
        weights = f"{model_specs[spec].backend}:{model_specs[spec].rest}"  # the spec without scoring options
        if weights not in loaded:  # `M` and `M?normalize=mean` share one model and one engine's memory
            with library_progress(progress):
                model = load_model(model_specs[spec], device=device, dtype=dtype)
            loaded = {weights: (model, Engine(model, batch_size=batch_size, progress=progress,
                                              cache_dir=_cache_arg(cache_dir)))}
        model, engine = loaded[weights]
        scorer = scorer_for(model, engine, dict(model_specs[spec].options))
        ctx = RunContext(model=model, engine=engine, scorer=scorer, seed=seed, progress=progress)
        family = getattr(model, "family", "dual")
        for name in dict.fromkeys(s for s, _ in todo):
            if family not in suite_objs[name].families:
                summary.unsupported.append(f"{spec} / {name}")
        todo = [(s, d) for s, d in todo if family in suite_objs[s].families]
        for suite_name, data_text in todo:
            source = sources[data_text]
            t0 = time.perf_counter()
            results = suite_objs[suite_name].run(ctx, source, configs[suite_name])
            elapsed = time.perf_counter() - t0
            result = _single(results, suite_name, data_text)
            result.model, result.data, result.suite = spec, data_text, suite_name
            result.data_fingerprint = result.data_fingerprint or source.fingerprint()
            result.seconds = result.seconds or elapsed
            provenance = env | {
                "model": model.describe(),
                "scorer": getattr(scorer, "describe", lambda: {"scorer": "cosine"})(),
                "data": {"spec": data_text, "fingerprint": result.data_fingerprint},
                "seed": seed, "finished": now(), "wall_seconds": round(elapsed, 3),
                "engine": getattr(engine, "stats_dict", lambda: {})(),
            }
            rundir.write_unit(result, provenance)
            _record(summary, rundir.load(spec, suite_name, data_text), manifest_path, on_unit)

    summary.seconds = time.perf_counter() - started
    write_text_atomic(out_dir / "summary.md", markdown_table(summary.units))
    write_json_atomic(out_dir / "summary.json", {
        "complete": True, "seconds": round(summary.seconds, 3), "config": config_record,
        "skipped_suites": summary.skipped, "unsupported_units": summary.unsupported,
        "units": [{k: u[k] for k in ("model", "suite", "data")} for u in summary.units],
    })
    _write_report(out_dir)
    return summary


def _write_report(out_dir: Path) -> None:
    """report.html, once every result is on disk: a report that fails to render costs one line, not a run."""
    from vlmaudit.report.html import write_report

    try:
        write_report(out_dir)
    except Exception as err:  # the results are written; the report can be rendered later by `vlmaudit report`
        print(f"warning: report.html not written ({type(err).__name__}: {err}); the results are in {out_dir}",
              file=sys.stderr)


def stored_config(out_dir: Path) -> dict[str, Any] | None:
    """The config.json of an earlier run in `out_dir`, or None when there is none to resume."""
    path = out_dir / "config.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise SpecError(f"cannot resume {out_dir}: {path} is not valid JSON ({err})") from None


def _settings(given: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    """Run settings: what was given, else the resumed run's, else the default. The one rule both the
    CLI and the Python API resume by (the CLI passes None for an option the user did not type)."""
    return {key: given[key] if given[key] is not None else (stored or {}).get(key, default)
            for key, default in SETTINGS.items()}


def _check_resumable(out_dir: Path, stored: dict[str, Any], *, dtype: str, seed: int,
                     suite_configs: dict[str, dict[str, Any]], sources: dict[str, DataSource]) -> None:
    """Refuse a resume whose settings or data differ from the finished units', which would be
    skipped as done and mixed with new ones: dtype, seed, any suite option, and the fingerprint of
    any data a finished unit ran on."""
    now_record = {"dtype": dtype, "seed": seed}
    differ = [f"{key} {stored.get(key)!r} -> {value!r}" for key, value in now_record.items()
              if stored.get(key) != value]
    old_configs = stored.get("suite_configs", {})
    for name, config in suite_configs.items():
        if name in old_configs:
            new = json.loads(json.dumps(config, default=json_default))
            differ += [f"{name}.{key} {old_configs[name].get(key)!r} -> {new[key]!r}"
                       for key in new if old_configs[name].get(key) != new[key]]
    for path in sorted(out_dir.rglob("results.json")):
        unit = json.loads(path.read_text())
        source = sources.get(unit.get("data"))
        if source is not None and unit.get("data_fingerprint") not in ("", source.fingerprint()):
            differ.append(f"data {unit['data']!r} fingerprint {unit['data_fingerprint'][:8]} -> "
                          f"{source.fingerprint()[:8]} (the data changed since {path.parent} finished)")
    differ = list(dict.fromkeys(differ))
    if differ:
        raise SpecError(f"cannot resume {out_dir} with other settings ({'; '.join(differ)}); "
                        "use the original ones or another --out")


def _cache_arg(cache_dir: str | Path | None) -> Any:
    if cache_dir == "default":
        from vlmaudit.engine.cache import default_cache_dir

        return default_cache_dir()
    return cache_dir


def _suite_config(suite: Any, overrides: dict[str, Any], seed: int) -> Any:
    if "seed" in suite.Config.model_fields and "seed" not in overrides:
        overrides = {**overrides, "seed": seed}
    config = build_config(suite.Config, overrides, suite=suite.name)
    suite.check(config)  # a bad option stops the run before its directory exists
    return config


def _distinct_data(data: Sequence[str]) -> list[str]:
    """The same dataset with its options in another order is one unit: the first spelling names it."""
    first: dict[tuple, str] = {}
    for text in data:
        spec = parse_data_spec(text)
        first.setdefault((spec.name, spec.path, tuple(sorted(spec.options.items()))), text)
    return list(first.values())


def _reject_unknown_option_suites(options: dict[str, Any], suite_names: list[str]) -> None:
    unknown = sorted(set(options) - set(suite_names))
    if unknown:
        raise SpecError(f"options given for suite(s) not being run: {unknown}")


def _plan(suites: dict[str, Any], data: list[str], sources: dict[str, DataSource],
          required: Sequence[str], stored: dict[str, list[str]]) -> dict[str, list[str]]:
    """Which data each suite runs on: a resumed run's data plus the user's data it accepts, else
    its defaults. A suite in `required` (named by the user) that accepts none of it is an error."""
    plan: dict[str, list[str]] = {}
    for name, suite in suites.items():
        if not data:
            plan[name] = list(stored.get(name, suite.default_data))
            continue
        accepted = [text for text in data if set(suite.accepts) & sources[text].item_types]
        plan[name] = list(dict.fromkeys([*stored.get(name, []), *accepted]))
        if not accepted and name in required:
            kinds = ", ".join(sorted({sources[t].kind for t in data}))
            wants = ", ".join(kind.__name__ for kind in suite.accepts)
            raise SpecError(f"suite {name!r} needs {wants} items, but the data given is {kinds}")
    return plan


def _default_audit_plans(model_specs: dict[str, ModelSpec], suites: dict[str, Any],
                         plan: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
    """The default audit's plan per model: the dual encoder runs every suite on its default data;
    when a generative model is among the models, the suites that audit both families also run on
    their `comparison_data` (smaller: a generative model scores every option with a decoder pass),
    for every model, so the families are compared on the same items."""
    families = {spec: model_family(parsed) for spec, parsed in model_specs.items()}
    compared = "generative" in families.values()
    plans: dict[str, dict[str, list[str]]] = {}
    for spec, family in families.items():
        one: dict[str, list[str]] = {}
        for name, suite in suites.items():
            shared = list(suite.comparison_data) if compared and family in suite.families else []
            own = plan[name] if family == "dual" else []
            if data := list(dict.fromkeys([*own, *shared])):
                one[name] = data
        plans[spec] = one
    return plans


def _single(results: list[SuiteResult] | SuiteResult, suite: str, data: str) -> SuiteResult:
    if isinstance(results, SuiteResult):
        return results
    if len(results) != 1:
        raise RuntimeError(f"suite {suite} returned {len(results)} results for {data}; expected 1")
    return results[0]


def _record(summary: RunSummary, payload: dict[str, Any], manifest: Path, on_unit) -> None:
    summary.units.append(payload)
    write_json_atomic(manifest, {"complete": False, "units": [
        {k: u[k] for k in ("model", "suite", "data")} for u in summary.units]})
    if on_unit is not None:
        on_unit(payload)

