"""The run report: one self-contained HTML file (jinja2) that a person opens at a glance.

Self-contained means no request leaves the file: styles and the failure browser's script are
inline and figures are the run's matplotlib PNGs as base64 `data:` URIs. Static PNGs are the
smallest self-contained choice (a figure is 30-90 kB); an interactive chart library would have to
be inlined to work offline, about 0.9 MB for Vega-Lite and 4.8 MB for plotly.js before any data
(measured in ../shared/reference/anchors.md §6), which would spend most of the 5 MB budget on code
the failure browser does not need. Sample rows travel as JSON inside the page and a few lines
of vanilla JS page and filter them (50 a page), so a 10,000-row table stays responsive.

Every suite contributes its part through `Suite.report_section(result, samples)` (default:
`section.default_section`); figures come from the unit's stored PNGs, else are drawn in memory
by `Suite.figures` from the stored results and samples, so an older run renders too.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

from vlmaudit.atomic import json_default, write_text_atomic
from vlmaudit.errors import DataError, VlmauditError
from vlmaudit.report.html.section import OUTCOMES, default_section
from vlmaudit.report.provenance import now
from vlmaudit.report.rundir import _read_json, _read_jsonl, read_results

THUMBNAILS = 200  # at most this many image thumbnails per report (each ~2-4 kB of JPEG)
THUMB_PX = 96

FLAG_KINDS = {
    "hackable": "an image-blind scorer (caption length, the text prior) reaches 0.9 or more on this metric, "
                "so a high value alone does not show the model looked at the image.",
    "reconstructed": "the paper does not publish this detail; vlmaudit made a named, documented choice, "
                     "so the number follows the paper's protocol only as far as it is published.",
    "note": "a fact about the data or protocol a reader needs beside the numbers.",
}


def _environment():
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("vlmaudit.report.html", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["jsonscript"] = script_json
    return env


def script_json(value: Any) -> str:
    """JSON safe inside <script type="application/json"> (no `</` can close the tag)."""
    from markupsafe import Markup

    text = json.dumps(value, default=json_default, separators=(",", ":"), ensure_ascii=False)
    return Markup(text.replace("</", "<\\/").replace("<!--", "<\\!--"))


def unit_dirs(run_dir: Path) -> list[Path]:
    """The finished units of a run (each folder with a results.json), staging folders left out."""
    found = [p.parent for p in sorted(Path(run_dir).rglob("results.json"))
             if not any(part.startswith(".") for part in p.relative_to(run_dir).parts)]
    return found


def load_unit(unit_dir: Path) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """A unit's results payload (current schema) and its sample tables."""
    raw = _read_json(unit_dir / "results.json")
    samples = {name: _read_jsonl(unit_dir / path) for name, path in raw.get("samples", {}).items()}
    return read_results(unit_dir), samples


def render_report(run_dir: str | Path) -> str:
    """The HTML text of the report of a run directory (or of a single unit directory)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir} is not a run directory")
    units = unit_dirs(run_dir)
    if not units:
        raise DataError(f"{run_dir} holds no finished unit (no results.json under it)")
    thumbs = _Thumbnails(THUMBNAILS)
    sections = [_unit_section(u, thumbs, index) for index, u in enumerate(units)]
    strings = _Strings()
    for section in sections:
        for table in section["tables"]:
            table["packed"] = pack_rows(table["rows"], strings)
    config = run_dir / "config.json"
    from vlmaudit.report.table import models_table

    comparison = models_table([read_results(u) for u in units])
    page = _environment().get_template("report.html.j2").render(
        title=f"vlmaudit report: {run_dir.name}", run_dir=str(run_dir), generated=now(),
        sections=sections, flag_kinds=FLAG_KINDS, outcomes=OUTCOMES,
        config=json.loads(config.read_text()) if config.is_file() else None,
        environment=_shared_provenance(sections), thumbs=thumbs.made, strings=strings.values,
        thumb_cap=THUMBNAILS, comparison=comparison,
    )
    return page


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Render and write the report atomically (default `RUN_DIR/report.html`); returns its path."""
    target = Path(out) if out is not None else Path(run_dir) / "report.html"
    write_text_atomic(target, render_report(run_dir))
    return target


def _unit_section(unit_dir: Path, thumbs: _Thumbnails, index: int) -> dict[str, Any]:
    from vlmaudit.registry import SUITES

    result, samples = load_unit(unit_dir)
    try:
        suite = SUITES.get(result["suite"])
    except VlmauditError:  # a run of a suite that is not installed here: the generic section
        suite = None
    section = suite.report_section(result, samples) if suite is not None else default_section(result, samples)
    if "figures" not in section:
        section["figures"] = _figures(unit_dir, result, samples, suite)
    for t, table in enumerate(section["tables"]):
        table["dom_id"] = f"u{index}t{t}"
        for row in table["rows"]:
            row["thumb"] = thumbs.add(row["image"])
    flags = [{"kind": _flag_kind(f), "text": f} for f in result.get("flags", [])]
    return section | {
        "model": result["model"], "suite": result["suite"], "data": result["data"], "flags": flags,
        "path": str(unit_dir), "provenance": result.get("provenance", {}), "seconds": result.get("seconds"),
        "anchor": f"unit{index}",
    }


def _figures(unit_dir: Path, result: dict[str, Any], samples: dict, suite: Any) -> list[dict[str, str]]:
    """The unit's stored PNGs as data URIs; drawn in memory from the stored unit when none are stored."""
    stored = [unit_dir / p for p in result.get("figures", [])]
    if stored and all(p.is_file() for p in stored):
        return [{"name": p.stem, "src": _data_uri(p.read_bytes(), "image/png")} for p in stored]
    if suite is None:
        return []
    import matplotlib.pyplot as plt

    figures = []
    for stem, figure in suite.figures(result, samples).items():
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        plt.close(figure)
        figures.append({"name": stem, "src": _data_uri(buffer.getvalue(), "image/png")})
    return figures


def pack_rows(rows: list[dict[str, Any]], strings: _Strings) -> dict[str, Any]:
    """Failure-browser rows as columns, every string an index into one page-wide table.

    Sample rows repeat the same captions, labels and names thousands of times (a transforms run
    is 12,500 trials of 500 captions); columns without per-row keys and one shared string table
    make the default audit's page a third of the size of plain row objects. browser.js unpacks it.
    """
    detail_keys = list(dict.fromkeys(k for row in rows for k in row["detail"]))
    textual = [k for k in detail_keys
               if all(isinstance(r["detail"].get(k), str | None) for r in rows)]
    return {
        "id": [strings.index(r["id"]) for r in rows], "group": [strings.index(r["group"]) for r in rows],
        "image": [strings.index(r["image"]) for r in rows],
        "thumb": [strings.index(r["thumb"]) if r["thumb"] else -1 for r in rows],
        "options": [[strings.index(o) for o in r["options"]] for r in rows],
        "scores": [r["scores"] for r in rows], "gold": [r["gold"] for r in rows],
        "outcome": [OUTCOMES.index(r["outcome"]) for r in rows],
        "detail_keys": detail_keys, "textual": textual,
        "detail": [[strings.index(v) if k in textual and v is not None else v
                    for k in detail_keys for v in [r["detail"].get(k)]] for r in rows],
    }


class _Strings:
    """A page-wide string table: each distinct string stored once."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._index: dict[str, int] = {}

    def index(self, text: str) -> int:
        if text not in self._index:
            self._index[text] = len(self.values)
            self.values.append(text)
        return self._index[text]


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _flag_kind(flag: str) -> str:
    head = flag.split(":", 1)[0].strip()
    return head if head in FLAG_KINDS else "note"


def _shared_provenance(sections: list[dict[str, Any]]) -> dict[str, Any]:
    """Run-level provenance (code, libraries, machine): the first unit's, without its unit-level keys."""
    unit_keys = {"model", "data", "seed", "finished", "wall_seconds", "engine"}
    first = sections[0]["provenance"] if sections else {}
    return {k: v for k, v in first.items() if k not in unit_keys}


class _Thumbnails:
    """Small JPEG thumbnails of sample images that are readable files, up to `cap` of them.

    Generated scenes carry a label, not a path (`scene(seed=..., index=...)`): those rows show
    the label. A label already seen reuses its thumbnail.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.made: dict[str, str] = {}
        self.refused: set[str] = set()

    def add(self, label: str) -> str | None:
        if not label or label in self.refused:
            return None
        if label in self.made:
            return label
        if len(self.made) >= self.cap or not Path(label).is_file():
            self.refused.add(label)
            return None
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(label) as image:
                image = image.convert("RGB")
                image.thumbnail((THUMB_PX, THUMB_PX))
                buffer = io.BytesIO()
                image.save(buffer, format="JPEG", quality=70)
        except (OSError, UnidentifiedImageError):
            self.refused.add(label)
            return None
        self.made[label] = _data_uri(buffer.getvalue(), "image/jpeg")
        return label
