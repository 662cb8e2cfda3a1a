"""Frozen Order negatives: generate once, write to a file, reuse forever.

ARO's Order numbers move with the seed, the spaCy model version and the NLTK tokenizer, and its
shuffled captions were never released. Writing the generated options to a JSON file makes a run
reproducible on another machine, and with the file present no POS tagger is needed at all.
Entries are never rewritten: new items are appended, existing ones are checked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from vlmaudit.atomic import write_json_atomic
from vlmaudit.errors import DataError
from vlmaudit.perturb.text_order import SCHEMES, OrderOptions, Tagger, item_seed, load_tagger, order_options

FORMAT = "vlmaudit-order-negatives/1"


def generate(
    captions: Sequence[tuple[str, str]],
    tagger: Tagger,
    *,
    seed: int = 0,
    max_words: int = 30,
    max_tries: int = 10,
) -> dict[str, OrderOptions]:
    """Order options for (item_id, raw caption) pairs, each item seeded by its id."""
    out = {}
    for item_id, caption in captions:
        tagged = tagger.tag(caption)
        tokens = tagger.tokenize(caption)
        out[item_id] = order_options(
            tagged, tokens, caption, item_seed(seed, item_id), max_words=max_words, max_tries=max_tries
        )
    return out


def frozen_order_options(
    captions: Sequence[tuple[str, str]],
    path: str | Path | None,
    tagger: Tagger | Callable[[], Tagger] | str = "auto",
    *,
    seed: int = 0,
    max_words: int = 30,
    max_tries: int = 10,
) -> tuple[dict[str, OrderOptions], str]:
    """Options for every caption (read from `path` when frozen there) and the tagger name(s) used.

    The tagger is only built when some item is missing from the file.
    """
    header = {"format": FORMAT, "seed": seed, "max_words": max_words, "schemes": list(SCHEMES)}
    stored: dict[str, dict] = {}
    if path is not None and Path(path).exists():
        stored = _read(Path(path), header)
    for item_id, caption in captions:
        if item_id in stored and stored[item_id]["caption"] != caption:
            raise DataError(f"{path}: item {item_id!r} was frozen for another caption; use a new file")
    missing = [(i, c) for i, c in captions if i not in stored]
    if missing:
        built = _resolve(tagger)
        fresh = generate(missing, built, seed=seed, max_words=max_words, max_tries=max_tries)
        for item_id, caption in missing:
            stored[item_id] = {"caption": caption, "tagger": built.name, **fresh[item_id].to_json()}
        if path is not None:
            _write(Path(path), {**header, "items": stored})
    options = {
        item_id: OrderOptions(tuple(e["options"]), tuple(e["identical"]), int(e["resampled"]))
        for item_id, e in ((i, stored[i]) for i, _ in captions)
    }
    taggers = sorted({stored[i]["tagger"] for i, _ in captions})
    return options, ",".join(taggers)


def _resolve(tagger: Tagger | Callable[[], Tagger] | str) -> Tagger:
    if isinstance(tagger, str):
        return load_tagger(tagger)
    return tagger if hasattr(tagger, "tag") else tagger()


def _read(path: Path, header: dict) -> dict[str, dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"cannot read negatives file {path}: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), dict):
        raise DataError(f"{path}: not a {FORMAT} file (no 'items' mapping)")
    for key, value in header.items():
        if data.get(key) != value:
            raise DataError(f"{path}: frozen with {key}={data.get(key)!r}, this run asks {value!r}")
    for item_id, entry in data["items"].items():
        fields = ("caption", "tagger", "options", "identical", "resampled")
        if not isinstance(entry, dict) or any(f not in entry for f in fields) or len(entry["options"]) != 5:
            raise DataError(f"{path}: entry {item_id!r} is malformed (needs {fields}, 5 options)")
    return data["items"]


def _write(path: Path, data: dict) -> None:
    write_json_atomic(path, data, indent=1, sort_keys=True)
