"""Suite configs: one pydantic model per suite, built the same from CLI strings and stored JSON."""

from __future__ import annotations

import json

import pytest

from vlmaudit.errors import SpecError
from vlmaudit.registry import SUITES
from vlmaudit.suites.base import build_config

CLI = {  # one string per field kind: int, float, bool, tuple (comma list), str
    "transforms": {"n_images": "100", "probe_test_fraction": "0.5", "transforms": "hflip,vflip",
                   "template": "{caption}: {description}"},
    "composition": {"n_boot": "7", "save_samples": "no", "benchmarks": "order,relation_swap"},
    "spatial": {"n_sets": "3", "legacy": "false", "score_dtype": "fp16"},
}


@pytest.mark.parametrize("suite", sorted(CLI))
def test_cli_strings_and_stored_json_build_the_same_config(suite):
    """Catches a resume that re-runs (or refuses) finished units because the config read back from
    config.json (tuples as JSON lists) differs from the one the CLI strings built."""
    config_cls = SUITES.get(suite).Config
    built = build_config(config_cls, CLI[suite], suite=suite)
    default = config_cls()
    assert all(type(getattr(built, key)) is type(getattr(default, key)) for key in CLI[suite])
    stored = json.loads(json.dumps(built.model_dump()))  # what the runner writes to config.json
    assert build_config(config_cls, stored, suite=suite) == built
    assert build_config(config_cls, stored, suite=suite).model_dump() == built.model_dump()


def test_cli_strings_are_parsed_to_field_types():
    """Catches options kept as strings ("no" is truthy, "hflip,vflip" iterates by character)."""
    options = {"save_samples": "no", "benchmarks": "order, relation_swap"}
    built = build_config(SUITES.get("composition").Config, options)
    assert built.save_samples is False and built.benchmarks == ("order", "relation_swap")
    transforms = build_config(SUITES.get("transforms").Config, {"n_images": "100", "transforms": ""})
    assert transforms.n_images == 100 and transforms.transforms == ()


@pytest.mark.parametrize(("suite", "options", "message"), [
    ("transforms", {"n_images": "many"}, r"^option transforms\.n_images='many': .*integer"),
    ("transforms", {"n_boot": "0"}, r"^option transforms\.n_boot='0': .*greater than or equal to 1"),
    ("transforms", {"probe_test_fraction": "0"}, r"^option transforms\.probe_test_fraction='0'"),
    ("spatial", {"legacy": "maybe"}, r"^option spatial\.legacy='maybe': .*boolean"),
    ("composition", {"n_boot": [1, 2]}, r"^option composition\.n_boot=\[1, 2\]"),
])
def test_a_wrong_value_is_one_line_naming_suite_key_and_value(suite, options, message):
    """Catches pydantic's multi-line ValidationError reaching the user instead of one SpecError line."""
    with pytest.raises(SpecError, match=message) as err:
        build_config(SUITES.get(suite).Config, options, suite=suite)
    assert "\n" not in str(err.value)


def test_an_unknown_key_names_the_key_the_suite_and_the_known_keys():
    """Catches a typo'd option silently ignored, or an error that does not say which keys exist."""
    with pytest.raises(SpecError, match=r"unknown option\(s\) \['n_image'\] for suite transforms "
                                        r"\(known: \[.*'n_images'.*\]\)"):
        build_config(SUITES.get("transforms").Config, {"n_image": "5"}, suite="transforms")


def test_configs_are_frozen():
    """Catches a suite mutating its config mid-run, so results.json records another config than ran."""
    config = build_config(SUITES.get("spatial").Config, {})
    with pytest.raises(ValueError, match="frozen"):
        config.n_sets = 3
