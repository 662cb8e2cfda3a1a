"""Engine: dedup, batching, alignment, streaming, dtype casting, NaN handling, memory tier."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from toy import ToyModel
from vlmaudit.data.images import ImageRef, file_image, memory_image
from vlmaudit.engine import Engine
from vlmaudit.errors import EmbeddingError, ImageError
from vlmaudit.models import load_model
from vlmaudit.perturb.base import canonical_id


class CountingToy(ToyModel):
    """Records every batch the engine sends, so tests can see what was embedded: the distinct
    inputs of each forward (the engine pads a short batch with copies of its last input) and the
    shape of each forward."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.image_batches: list[int] = []
        self.text_batches: list[list[str]] = []
        self.forward_rows: list[int] = []

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        self.image_batches.append(len(torch.unique(pixels.flatten(1), dim=0)))
        self.forward_rows.append(pixels.shape[0])
        return super().encode_images(pixels)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        self.text_batches.append(list(dict.fromkeys(texts)))
        self.forward_rows.append(len(texts))
        return super().encode_texts(texts)


class Shift:
    """A minimal ImageTransform: rolls the image right by `dx` pixels."""

    def __init__(self, dx: int) -> None:
        self.dx = dx

    @property
    def id(self) -> str:
        return canonical_id("shift", {"dx": self.dx})

    def __call__(self, image: Image.Image) -> Image.Image:
        return Image.fromarray(np.roll(np.asarray(image), self.dx, axis=1))


def scenes(n: int, seed: int = 0) -> list[ImageRef]:
    rng = np.random.default_rng(seed)
    arrays = [rng.integers(0, 256, (24, 40, 3), dtype=np.uint8) for _ in range(n)]
    return [memory_image(Image.fromarray(a)) for a in arrays]


def direct(model: ToyModel, images: list[Image.Image]) -> torch.Tensor:
    with torch.no_grad():
        return torch.nn.functional.normalize(model.encode_images(model.preprocess(images)).float(), dim=-1)


def test_rows_align_to_request_and_each_unique_input_is_embedded_once():
    model = CountingToy()
    refs = scenes(5)
    request = [refs[3], refs[0], refs[3], refs[1], refs[0]]
    engine = Engine(model, batch_size=2, cache_dir=None)
    out = engine.images(request)
    assert out.dtype == torch.float32 and out.shape == (5, 32)
    assert torch.allclose(out, direct(ToyModel(), [r.load() for r in request]), atol=1e-6)
    assert sum(model.image_batches) == 3 and model.image_batches == [2, 1]
    counts = engine.stats.images
    assert (counts.requested, counts.unique, counts.computed) == (5, 3, 3)


def test_texts_dedup_exact_strings_and_batch():
    model = CountingToy()
    texts = ["a red cube", "a red cube", "a red cube ", "cube red a", "a blue ball"]
    out = Engine(model, batch_size=2, cache_dir=None).texts(texts)
    assert model.text_batches == [["a red cube", "a red cube "], ["cube red a", "a blue ball"]]
    assert torch.equal(out[0], out[1])
    assert torch.allclose(out.norm(dim=1), torch.ones(5))


def test_transforms_are_applied_and_keyed_by_id():
    model = CountingToy()
    ref = scenes(1)[0]
    shifted = Shift(7)
    out = Engine(model, cache_dir=None).images([ref, ref, ref], [None, shifted, Shift(7)])
    assert model.image_batches == [2]  # Shift(7) twice is one input: same id
    assert torch.allclose(out[1], direct(model, [shifted(ref.load())])[0], atol=1e-6)
    assert not torch.allclose(out[0], out[1])
    one = Engine(CountingToy(), cache_dir=None).images([ref, ref], shifted)  # one transform for all
    assert torch.equal(one[0], out[1])


def test_every_forward_has_the_batch_size_shape():
    """Bug caught: a short last batch (or a single recomputed row) sent to the model as is, so its
    rows come from a different BLAS kernel than the same inputs in a full batch."""
    model = CountingToy()
    engine = Engine(model, batch_size=4, cache_dir=None)
    engine.images(scenes(6))
    engine.texts(["a red cube", "a blue ball", "a cube"])
    assert model.forward_rows == [4, 4, 4]
    assert model.image_batches == [4, 2] and model.text_batches == [["a red cube", "a blue ball", "a cube"]]


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_an_image_embeds_bit_identically_alone_and_anywhere_in_any_batch(size):
    """Bug caught: rows that depend on which other inputs share the forward. On AVX-512/AMX CPUs
    a linear layer on 1-2 rows uses another kernel than on 16, so without fixed-shape batches the
    builtin model's embedding of an image changes in the last bits with the batch it is in."""
    model = load_model("builtin:scenes")
    refs = scenes(6, seed=3)
    alone = Engine(model, batch_size=8, cache_dir=None).images([refs[0]])[0]
    for position in range(size):
        batch = [*refs[1 : 1 + position], refs[0], *refs[1 + position : size]]
        rows = Engine(model, batch_size=8, cache_dir=None).images(batch)
        assert torch.equal(rows[position], alone), (size, position)


def test_normalize_false_returns_raw_fp32_rows():
    model = ToyModel()
    refs = scenes(3)
    raw = Engine(model, cache_dir=None).images(refs, normalize=False)
    expected = model.encode_images(model.preprocess([r.load() for r in refs]))
    assert torch.allclose(raw, expected, atol=1e-6)
    assert not torch.allclose(raw.norm(dim=1), torch.ones(3))


def test_images_are_loaded_one_batch_at_a_time():
    model = CountingToy()
    events: list[str] = []

    def ref(i: int, image: Image.Image) -> ImageRef:
        def load() -> Image.Image:
            events.append("load")
            return image

        return ImageRef(key=f"k{i}", loader=load)

    original = model.encode_images
    model.encode_images = lambda pixels: (events.append("encode"), original(pixels))[1]
    Engine(model, batch_size=2, cache_dir=None).images([ref(i, r.load()) for i, r in enumerate(scenes(5))])
    assert events == ["load", "load", "encode", "load", "load", "encode", "load", "encode"]


class HalfToy(ToyModel):
    """A bf16 model: refuses pixels that were not cast to its dtype."""

    dtype = torch.bfloat16

    def __init__(self) -> None:
        super().__init__()
        self.image_proj = self.image_proj.to(torch.bfloat16)

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        assert pixels.dtype == torch.bfloat16
        return super().encode_images(pixels)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        return super().encode_texts(texts).to(torch.bfloat16)


def test_bf16_model_gets_bf16_pixels_and_returns_fp32_close_to_fp32_model():
    refs = scenes(4)
    half = Engine(HalfToy(), cache_dir=None)
    out, texts = half.images(refs), half.texts(["a cube"])
    assert out.dtype == torch.float32 and texts.dtype == torch.float32
    full = Engine(ToyModel(), cache_dir=None).images(refs)
    assert (out * full).sum(dim=1).min() > 0.99
    assert HalfToy().fingerprint != ToyModel().fingerprint  # so their cache entries never mix


class NaNToy(CountingToy):
    """Returns NaN for images whose top-left pixel is pure black."""

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        out = super().encode_images(pixels)
        bad = (pixels[:, :, 0, 0] == 0).all(dim=1)
        return torch.where(bad[:, None], torch.full_like(out, float("nan")), out)


def test_nan_embeddings_raise_naming_the_input_and_cache_nothing_of_that_batch(tmp_path):
    good = scenes(2, seed=1)
    black = memory_image(Image.new("RGB", (24, 24)), label="black.png")
    model = NaNToy()
    engine = Engine(model, batch_size=2, cache_dir=tmp_path)
    with pytest.raises(EmbeddingError, match=r"black\.png") as err:
        engine.images([*good, black, good[0]])
    assert "\n" not in str(err.value)
    cached = engine.cache.get([f"i:{r.key}|" for r in [*good, black]])
    assert set(cached) == {f"i:{r.key}|" for r in good}  # first batch kept, the NaN batch not


def test_bad_image_file_fails_naming_it(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    with pytest.raises(ImageError, match=r"broken\.png"):
        Engine(ToyModel(), cache_dir=None).images([*scenes(2), file_image(path)])


def test_memory_tier_serves_repeated_requests_without_a_disk_cache():
    model = CountingToy()
    engine = Engine(model, batch_size=8, cache_dir=None)
    refs = scenes(3)
    first = engine.images(refs)
    second = engine.images([refs[2], refs[0]])
    assert model.image_batches == [3]
    assert engine.stats.images.memory_hits == 2
    assert torch.equal(second, first[[2, 0]])
    again = Engine(model, cache_dir=None, memory=False)
    again.images(refs[:1])
    again.images(refs[:1])
    assert model.image_batches == [3, 1, 1]


def test_empty_request_and_input_validation():
    engine = Engine(ToyModel(), cache_dir=None)
    assert engine.images([]).shape == (0, 0) and engine.texts([]).shape == (0, 0)
    with pytest.raises(TypeError):
        engine.texts("a cube")
    with pytest.raises(ValueError):
        engine.images(scenes(2), [None])


def test_progress_bar_stays_off_when_stderr_is_not_a_terminal(capfd):
    Engine(ToyModel(), cache_dir=None, progress=True).images(scenes(3))
    assert capfd.readouterr().err == ""
