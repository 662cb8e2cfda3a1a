"""Held-out quality of a scenes model: the built-in model's bar plus its known compositional blind spots.

All scenes come from a generator stream never used in training (default 1234, the generator's
documented held-out stream; training uses stream = training seed, and the recipe refuses 1234).
Prompts follow reference/builtin_prototype.md:
- shape: argmax over "a {shape}";
- colour / size / context: per class, the renormalised mean embedding of "a {colour} {shape}" /
  "a {size} {shape}" / "a {shape} on {context}" over all shapes (a prompt ensemble), argmax;
  all on single-object scenes;
- retrieval: two-object scenes in pools of `pool`, canonical full captions; image->text and
  text->image R@1 averaged over pools (a hit is any text/image with the identical caption);
- relation swap: "A rel B on ctx" vs "B rel A on ctx" on two-object scenes (chance 50 %);
- binding swap: colours exchanged between the two objects, in the full caption ("binding_full")
  and in "a c1 s1 and a c2 s2" ("binding_and"), on scenes whose objects differ in colour and shape.
Two-way and K-way choices use the strict tie policy (a tie counts as wrong).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from vlmaudit.data.images import ImageRef
from vlmaudit.data.scenes import COLOURS, CONTEXTS, SHAPES, SIZES, Scene, describe, generate_scenes, scene_ref
from vlmaudit.data.scenes.grammar import assemble, scene_clauses
from vlmaudit.data.scenes.meaning import ObjectDesc
from vlmaudit.engine.core import Engine
from vlmaudit.metrics.selection import pairwise, select
from vlmaudit.models.base import ImageTextModel

HELDOUT_SEED = 1234
BAR = {"shape": 0.95, "colour": 0.95, "context": 0.90, "i2t_r1": 0.70, "t2i_r1": 0.70}


def _ensemble(engine: Engine, classes: tuple[str, ...], template: str) -> torch.Tensor:
    """[C, D]: per class, the renormalised mean of the template's embeddings over all shapes."""
    rows = []
    for value in classes:
        texts = [template.format(value=value, shape=shape) for shape in SHAPES]
        rows.append(F.normalize(engine.texts(texts).mean(dim=0), dim=-1))
    return torch.stack(rows)


def _accuracy(images: torch.Tensor, prompts: torch.Tensor, gold: list[int]) -> float:
    return select((images @ prompts.T).numpy(), np.asarray(gold)).accuracy


def zero_shot(engine: Engine, scenes: list[Scene]) -> dict[str, float]:
    """Shape / colour / size / context accuracy on single-object scenes."""
    images = engine.images([scene_ref(s) for s in scenes])
    objects = [s.objects[0] for s in scenes]
    shapes = engine.texts([f"a {shape}" for shape in SHAPES])
    return {
        "shape": _accuracy(images, shapes, [SHAPES.index(o.shape) for o in objects]),
        "colour": _accuracy(images, _ensemble(engine, COLOURS, "a {value} {shape}"),
                            [COLOURS.index(o.colour) for o in objects]),
        "size": _accuracy(images, _ensemble(engine, SIZES, "a {value} {shape}"),
                          [SIZES.index(o.size) for o in objects]),
        "context": _accuracy(images, _ensemble(engine, CONTEXTS, "a {shape} on {value}"),
                             [CONTEXTS.index(s.context) for s in scenes]),
    }


def retrieval(engine: Engine, scenes: list[Scene], pool: int) -> dict[str, float]:
    """Mean R@1 over consecutive pools of `pool` scenes with their canonical captions."""
    images = engine.images([scene_ref(s) for s in scenes])
    captions = [describe(s).text for s in scenes]
    texts = engine.texts(captions)
    i2t, t2i = [], []
    for start in range(0, len(scenes) - pool + 1, pool):
        sims = images[start : start + pool] @ texts[start : start + pool].T
        names = np.asarray(captions[start : start + pool])
        i2t.append(float((names[sims.argmax(dim=1).numpy()] == names).mean()))
        t2i.append(float((names[sims.argmax(dim=0).numpy()] == names).mean()))
    return {"i2t_r1": float(np.mean(i2t)), "t2i_r1": float(np.mean(t2i))}


PairScore = Callable[[list[ImageRef], list[str]], np.ndarray]  # s(image_p, text_p) for aligned lists


def embedding_pairs(engine: Engine) -> PairScore:
    """s = image . text embedding, in fp32 (the dual encoder's two-way rule)."""
    def score(refs: list[ImageRef], texts: list[str]) -> np.ndarray:
        return (engine.images(refs) * engine.texts(texts)).sum(dim=1).numpy()
    return score


def _two_way(score: PairScore, scenes: list[Scene], true: list[str], false: list[str]) -> float:
    refs = [scene_ref(s) for s in scenes]
    return pairwise(score(refs, true), score(refs, false)).accuracy


def relation_swap(score: PairScore, scenes: list[Scene]) -> float:
    """Canonical "A rel B on ctx" against "B rel A on ctx" (object phrases exchanged)."""
    true, false = [], []
    for scene in scenes:
        (a, rel, b), = scene_clauses(scene)
        true.append(assemble([(a, rel, b)], scene.context).text)
        false.append(assemble([(b, rel, a)], scene.context).text)
    return _two_way(score, scenes, true, false)


def binding_swap(score: PairScore, scenes: list[Scene]) -> dict[str, float]:
    """Colours exchanged between the two objects, in the full caption and in the "A and B" form."""
    full_true, full_false, and_true, and_false = [], [], [], []
    for scene in scenes:
        (a, rel, b), = scene_clauses(scene)
        sa, sb = replace(a, colour=b.colour), replace(b, colour=a.colour)
        full_true.append(assemble([(a, rel, b)], scene.context).text)
        full_false.append(assemble([(sa, rel, sb)], scene.context).text)
        ca, cb = ObjectDesc(a.shape, a.colour), ObjectDesc(b.shape, b.colour)
        and_true.append(assemble([(ca,), (cb,)], None).text)
        swapped = [(replace(ca, colour=cb.colour),), (replace(cb, colour=ca.colour),)]
        and_false.append(assemble(swapped, None).text)
    return {"binding_full": _two_way(score, scenes, full_true, full_false),
            "binding_and": _two_way(score, scenes, and_true, and_false)}


def evaluate_builtin(
    model: ImageTextModel,
    n: int = 1000,
    seed: int = HELDOUT_SEED,
    pool: int = 100,
    compositional: bool = True,
) -> dict[str, float]:
    """Held-out metrics of a scenes model: `n` single-object and `n` two-object scenes (see module doc).

    Scene streams: singles are indices [0, n), two-object scenes [n, 2n), binding scenes [2n, 3n)
    of stream `seed`, so the three sets never share a scene's random draws.
    """
    engine = Engine(model, batch_size=256)
    singles = generate_scenes(n, seed, start=0, n_objects=1)
    pairs = generate_scenes(n, seed, start=n, n_objects=2)
    out = {**zero_shot(engine, singles), **retrieval(engine, pairs, min(pool, n))}
    if compositional:
        out["relation_swap"] = relation_swap(embedding_pairs(engine), pairs)
        out.update(binding_swap(embedding_pairs(engine), generate_scenes(n, seed, start=2 * n, n_objects=2,
                                                        differ=("colour", "shape"))))
    out["n"] = n
    out["seed"] = seed
    return out


def passes_bar(metrics: dict[str, float], bar: dict[str, float] | None = None) -> dict[str, bool]:
    return {key: metrics[key] >= threshold for key, threshold in (bar or BAR).items()}


GENERATIVE_BAR = {"shape_answer": 0.95, "colour_answer": 0.95, "context_answer": 0.95, "i2t_r1": 0.90}


def _answers(engine: Engine, scenes: list[Scene], prompts: list[str], classes: tuple[str, ...],
             gold: list[str]) -> float:
    """Accuracy of the argmax over `classes` of log P(class word | image, prompt), strict ties."""
    refs = [scene_ref(s) for s in scenes]
    k = len(classes)
    rows = engine.continuation_logprobs([r for r in refs for _ in classes], [None] * (len(refs) * k),
                                        [p for p in prompts for _ in classes], list(classes) * len(refs))
    return select(rows[:, 0].reshape(len(refs), k), np.asarray([classes.index(g) for g in gold])).accuracy


def evaluate_generative(model, n: int = 500, seed: int = HELDOUT_SEED, pool: int = 100) -> dict[str, float]:
    """Held-out quality of a generative scenes model (the built-in generative model's bar).

    - answers (single-object scenes): argmax over the class words after "What shape is this?",
      "What colour is the {shape}?" and "What is the background?" (the training prompts);
    - caption-likelihood retrieval: log P(canonical caption | image, caption prompt) in pools of
      `pool` two-object scenes, image->text and text->image R@1;
    - relation swap and binding swaps as for the dual encoder, by caption likelihood (sum) and by
      VQAScore, so the generative numbers sit beside `evaluate_builtin`'s on the same scenes.
    """
    from vlmaudit.scoring.generative import GenerativeScorer, GenerativeSettings

    engine = Engine(model, batch_size=256, cache_dir=None, progress=False)
    singles = generate_scenes(n, seed, start=0, n_objects=1)
    pairs = generate_scenes(n, seed, start=n, n_objects=2)
    objects = [s.objects[0] for s in singles]
    shape_q, background_q = ["What shape is this?"] * n, ["What is the background?"] * n
    out = {
        "shape_answer": _answers(engine, singles, shape_q, SHAPES, [o.shape for o in objects]),
        "colour_answer": _answers(engine, singles, [f"What colour is the {o.shape}?" for o in objects],
                                  COLOURS, [o.colour for o in objects]),
        "context_answer": _answers(engine, singles, background_q, CONTEXTS, [s.context for s in singles]),
    }
    likelihood = GenerativeScorer(engine)
    vqa = GenerativeScorer(engine, GenerativeSettings(method="vqa"))
    refs = [scene_ref(s) for s in pairs]
    captions = [describe(s).text for s in pairs]
    i2t, t2i = [], []
    for start in range(0, len(pairs) - pool + 1, pool):
        block, names = refs[start : start + pool], np.asarray(captions[start : start + pool])
        table = likelihood.image_options(block, [list(names)] * len(block))  # [image, caption]
        i2t.append(float((names[table.argmax(axis=1)] == names).mean()))
        t2i.append(float((names[table.argmax(axis=0)] == names).mean()))
    out |= {"i2t_r1": float(np.mean(i2t)), "t2i_r1": float(np.mean(t2i))}
    swaps = generate_scenes(n, seed, start=2 * n, n_objects=2, differ=("colour", "shape"))
    for name, scorer in (("likelihood", likelihood), ("vqa", vqa)):
        out[f"relation_swap_{name}"] = relation_swap(scorer.pairs, pairs)
        out |= {f"{key}_{name}": value for key, value in binding_swap(scorer.pairs, swaps).items()}
    out["n"], out["seed"] = n, seed
    return out

