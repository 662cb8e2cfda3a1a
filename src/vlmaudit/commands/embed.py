"""`vlmaudit embed`: export embeddings of image files and texts through the cached engine.

The output holds the embeddings, the ordered keys (image paths as given or found, the exact
texts) and the model's describe() block, so a file can be traced to the weights that made it.
It is written to a temp file and renamed, so an interrupted export never leaves a partial file.
Under `torchrun` the work is sharded across ranks and rank 0 writes the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from vlmaudit.atomic import atomic_path
from vlmaudit.errors import DataError, SpecError

OUT_SUFFIXES = (".npz", ".safetensors")


def expand_images(paths: tuple[str, ...]) -> list[Path]:
    """Files as given; directories expanded to their image files, recursively, in sorted order."""
    from vlmaudit.data.readers.captions import IMAGE_SUFFIXES

    files: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise DataError(f"--images {path} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
            files.extend(found)
        else:
            files.append(path)  # a missing file fails in file_image, naming it
    return files


TEXT_FILE_SUFFIXES = (".txt", ".csv", ".tsv", ".json", ".jsonl", ".lst")


def read_texts(values: tuple[str, ...]) -> list[str]:
    """Each value is a text file (one text per non-empty line) or, if no such file, a literal text.

    A value that reads as a file name (one word ending in .txt, ...) but names no file is an error:
    embedding a mistyped `captions.txt` as the caption "captions.txt" would go unnoticed.
    """
    texts: list[str] = []
    for value in values:
        path = Path(value)
        if path.is_file():
            lines = [line for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
            if not lines:
                raise DataError(f"--texts {path} holds no non-empty lines")
            texts.extend(lines)
        elif value.split() != [value] or path.suffix.lower() not in TEXT_FILE_SUFFIXES:
            texts.append(value)
        else:
            raise DataError(f"--texts {value}: no such file (texts with spaces are embedded as given)")
    return texts


def write_embeddings(out: Path, arrays: dict, keys: dict[str, list[str]], model: dict) -> None:
    """npz: arrays + keys + model JSON; safetensors: tensors + the rest as string metadata."""
    import numpy as np

    with atomic_path(out) as tmp, tmp.open("wb") as handle:
        if out.suffix == ".npz":
            extra = {name: np.array(values, dtype=str) for name, values in keys.items()}
            np.savez(handle, **arrays, **extra, model=np.array(json.dumps(model)))
        else:
            from safetensors.numpy import save

            metadata = {name: json.dumps(values) for name, values in keys.items()}
            handle.write(save(arrays, metadata={**metadata, "model": json.dumps(model)}))


@click.command()
@click.option("--model", "spec", required=True, help="Model spec, e.g. hf:DIR or openclip:ARCH:CKPT.")
@click.option("--images", multiple=True, help="Image file or directory (repeatable).")
@click.option("--texts", multiple=True, help="Text file (one per line) or a literal text (repeatable).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output .npz or .safetensors.")
@click.option("--dtype", default="fp32", show_default=True, type=click.Choice(["fp32", "bf16", "fp16"]))
@click.option("--device", default="cpu", show_default=True)
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1))
@click.option("--cache-dir", type=click.Path(file_okay=False),
              help="Cache dir [$VLMAUDIT_CACHE or ~/.cache/vlmaudit].")
@click.option("--no-cache", is_flag=True, help="Do not read or write the embedding cache.")
@click.option("--raw", is_flag=True, help="Store unnormalised embeddings (default: L2-normalised).")
@click.option("--quiet", is_flag=True, help="No progress bar or summary line.")
def embed(spec, images, texts, out, dtype, device, batch_size, cache_dir, no_cache, raw, quiet):
    """Embed images and/or texts with one model and save them with their keys."""
    out_path = Path(out)
    if out_path.suffix not in OUT_SUFFIXES:
        raise SpecError(f"--out {out} must end in {' or '.join(OUT_SUFFIXES)}")
    if not images and not texts:
        raise SpecError("nothing to embed: give --images and/or --texts")

    from vlmaudit.data.images import file_image
    from vlmaudit.engine import DEFAULT_CACHE_DIR, Engine
    from vlmaudit.engine.distributed import joined_world
    from vlmaudit.models import load_model
    from vlmaudit.models._loading import library_progress

    files, strings = expand_images(images), read_texts(texts)
    refs = [file_image(f) for f in files]  # a missing file fails now, before the model loads
    with joined_world(device) as (world, device):
        with library_progress(not quiet):
            model = load_model(spec, device=device, dtype=dtype)
        cache = None if no_cache else (cache_dir or DEFAULT_CACHE_DIR)
        engine = Engine(model, batch_size=batch_size, progress=not quiet, cache_dir=cache)
        arrays, keys = {}, {}
        if refs:
            arrays["image_embeddings"] = engine.images(refs, normalize=not raw).numpy()
            keys["image_keys"] = [str(f) for f in files]
        if strings:
            arrays["text_embeddings"] = engine.texts(strings, normalize=not raw).numpy()
            keys["texts"] = strings
        engine.close()
        if world.is_main:
            write_embeddings(out_path, arrays, keys, {**model.describe(), "normalized": not raw})
    if not world.is_main:
        return
    if not quiet:
        done = engine.stats
        click.echo(
            f"wrote {len(files)} image and {len(strings)} text embeddings to {out_path} "
            f"(computed {done.computed}, from cache {done.images.cache_hits + done.texts.cache_hits})"
        )
