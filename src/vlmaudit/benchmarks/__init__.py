"""Benchmark metadata and published references: package data, validated on load, one loader.

`data/benchmarks.json` holds every benchmark's metadata; `data/references/<suite>.json` the
published numbers a suite attaches to matching models; `data/<list>.json` package lists such as
ARO's VG-Relation exclusion list. A malformed file fails the first load, naming the file.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ValidationError

from vlmaudit.benchmarks.schema import Benchmark, BenchmarkFile, Reference, ReferenceFile
from vlmaudit.errors import DataError

__all__ = ["Benchmark", "Reference", "benchmark", "benchmarks", "exclusion_list", "reference_file",
           "references_for"]

SUITES = ("composition", "spatial", "transforms")


def _read(*parts: str) -> Any:
    return json.loads(resources.files("vlmaudit.benchmarks").joinpath("data", *parts).read_text("utf-8"))


def _validated(model: type[BaseModel], *parts: str) -> Any:
    try:
        return model.model_validate(_read(*parts))
    except ValidationError as err:
        raise DataError(f"vlmaudit/benchmarks/data/{'/'.join(parts)}: {err}") from None


@cache
def benchmarks() -> dict[str, Benchmark]:
    """name -> Benchmark, in file order."""
    return {b.name: b for b in _validated(BenchmarkFile, "benchmarks.json").benchmarks}


def benchmark(name: str) -> Benchmark:
    try:
        return benchmarks()[name]
    except KeyError:
        raise KeyError(f"no benchmark {name!r} (known: {sorted(benchmarks())})") from None


@cache
def reference_file(suite: str) -> ReferenceFile:
    if suite not in SUITES:
        raise KeyError(f"no reference file for suite {suite!r} (have {SUITES})")
    table = _validated(ReferenceFile, "references", f"{suite}.json")
    if table.suite != suite:
        raise DataError(f"vlmaudit/benchmarks/data/references/{suite}.json says suite {table.suite!r}")
    return table


@cache
def _flat(suite: str) -> tuple[Reference, ...]:
    return reference_file(suite).flat()


def references_for(model_spec: str, suite: str) -> tuple[Reference, ...]:
    """The suite's published numbers whose model patterns match `model_spec` (lower-cased, re.search)."""
    return tuple(ref for ref in _flat(suite) if ref.matches(model_spec))


@cache
def exclusion_list(file_name: str) -> frozenset[str]:
    """Groups a macro mean leaves out, from package data (ARO's VG-R list: 157 relations, MIT)."""
    if not file_name:
        return frozenset()
    return frozenset(_read(file_name)["excluded_relations"])
