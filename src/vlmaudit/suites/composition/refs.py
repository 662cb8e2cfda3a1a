"""Published numbers (references/composition.json) attached to metrics of a matching model.

A reference carries the precision, activation and tie rule it was computed with, because ARO's
0.59 (fp16, ties counted wrong) and the ~0.66 of an fp32 rerun are the same model: a reader must
see which conditions a gap comes from.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any


@cache
def _table() -> dict[str, Any]:
    return json.loads((resources.files("vlmaudit") / "references" / "composition.json").read_text("utf-8"))


def reference_for(model_spec: str, group: str, metric: str) -> dict[str, Any] | None:
    """The published number for (group, metric) if `model_spec` matches an entry, else None."""
    spec = model_spec.lower()
    table = _table()
    for model in table["models"]:
        if not any(re.search(pattern, spec) for pattern in model["match"]):
            continue
        for number in model["numbers"]:
            if number["group"] == group and number["metric"] == metric:
                source = table["sources"].get(number["source"], number["source"])
                return {**number, "model": model["label"], "source": source}
    return None
