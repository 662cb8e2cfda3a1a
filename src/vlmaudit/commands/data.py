"""`vlmaudit data export`: write generated datasets to files for other tools."""

from __future__ import annotations

import click


@click.group()
def data() -> None:
    """Export generated datasets to files."""


@data.command()
@click.argument("dataset", type=click.Choice(["scenes"]))
@click.option("--out", required=True, type=click.Path(), help="Output directory (created atomically).")
@click.option("--n", default=500, show_default=True, type=click.IntRange(min=1), help="Number of scenes.")
@click.option("--seed", default=1234, show_default=True, type=int, help="Stream seed (1234 = held out).")
@click.option("--size", default=64, show_default=True, type=int, help="Image side in pixels.")
@click.option("--objects", default="1-3", show_default=True, help="Objects per scene: N or MIN-MAX.")
@click.option("--force", is_flag=True, help="Replace a non-empty --out directory.")
def export(dataset: str, out: str, n: int, seed: int, size: int, objects: str, force: bool) -> None:
    """Write PNG images, captions.jsonl (caption + paraphrases) and scene_graphs.jsonl."""
    from vlmaudit.data.scenes.export import export_scenes
    from vlmaudit.data.scenes.generate import SceneConfig
    from vlmaudit.data.scenes.source import parse_objects

    low, high = parse_objects(objects)
    path = export_scenes(out, n, seed, SceneConfig(image_size=size, min_objects=low, max_objects=high), force)
    click.echo(f"wrote {n} {dataset} to {path}")
