"""Instruction data for the built-in generative model, generated per step from the scenes world.

Each row is (image, prompt, answer). Three tasks, mixed per row by the step's rng:
- caption (40 %): "describe the image" -> a random true caption (`describe`, as the dual encoder sees);
- yes/no (40 %): the VQAScore question 'Does this figure show "{caption}"? Please answer yes or
  no.' -> "yes" for a true caption, "no" for a verified-false edit of one (all ten perturbation
  hooks, relation swaps and flips among them; the truth of every edit is checked against the
  scene graph) or, when no edit applies, another scene's caption that is false here;
- attribute questions (20 %): "what shape is this" / "what colour is the {shape}" (when the shape
  is unique in the scene) / "what is the background" -> one grammar word.
Rows are a function of (seed, step) only, like the dual encoder's batches, so a resumed run sees the
batches an uninterrupted one would. The held-out stream (1234) is refused by the recipe.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from vlmaudit.data.scenes import Scene, describe, generate_scenes, truth
from vlmaudit.data.scenes.meaning import Caption
from vlmaudit.train.hard_negatives import NEGATIVE_KINDS, HardNegatives
from vlmaudit.train.scenes_data import TRAIN_SCENES, scene_pixels, step_random

CAPTION_PROMPT = "Describe the image."
VQA_TEMPLATE = 'Does this figure show "{caption}"? Please answer yes or no.'
SHAPE_QUESTION = "What shape is this?"
COLOUR_QUESTION = "What colour is the {shape}?"
BACKGROUND_QUESTION = "What is the background?"
TASK_WEIGHTS = {"caption": 0.4, "yesno": 0.4, "question": 0.2}
_FALSE_EDITS = HardNegatives(tuple(NEGATIVE_KINDS), per_row=1)


@dataclass
class InstructionBatch:
    pixels: torch.Tensor  # [B, 3, S, S] in [0, 1]
    prompts: list[str]
    answers: list[str]
    tasks: list[str]


def question(scene: Scene, rng: random.Random) -> tuple[str, str]:
    """One attribute question about `scene` and its one-word answer."""
    shapes = [obj.shape for obj in scene.objects]
    unique = [obj for obj in scene.objects if shapes.count(obj.shape) == 1]
    options = ["background"] + (["shape"] if len(scene.objects) == 1 else []) + (["colour"] if unique else [])
    kind = rng.choice(options)
    if kind == "background":
        return BACKGROUND_QUESTION, scene.context
    if kind == "shape":
        return SHAPE_QUESTION, scene.objects[0].shape
    obj = rng.choice(unique)
    return COLOUR_QUESTION.format(shape=obj.shape), obj.colour


def yes_no(scene: Scene, others: list[Scene], rng: random.Random) -> tuple[str, str]:
    caption = describe(scene, rng)
    if rng.random() < 0.5:
        return VQA_TEMPLATE.format(caption=caption.text), "yes"
    false = _FALSE_EDITS(scene, caption, rng)
    if not false:  # no edit of this caption applies: another scene's caption that is false here
        for other in rng.sample(others, len(others)):
            text = describe(other, rng).text
            if not truth(Caption.from_text(text).meaning, scene):
                false = [text]
                break
    if not false:
        return VQA_TEMPLATE.format(caption=caption.text), "yes"
    return VQA_TEMPLATE.format(caption=false[0]), "no"


@dataclass(frozen=True)
class InstructionBatches:
    """Callable `step -> InstructionBatch`, deterministic in (seed, step)."""

    seed: int
    batch_size: int

    def __call__(self, step: int) -> InstructionBatch:
        scenes = generate_scenes(self.batch_size, self.seed, TRAIN_SCENES, start=step * self.batch_size)
        rng = step_random(self.seed, step)
        prompts, answers, tasks = [], [], []
        names, weights = list(TASK_WEIGHTS), list(TASK_WEIGHTS.values())
        for i, scene in enumerate(scenes):
            task = rng.choices(names, weights)[0]
            if task == "caption":
                prompt, answer = CAPTION_PROMPT, describe(scene, rng).text
            elif task == "yesno":
                prompt, answer = yes_no(scene, scenes[:i] + scenes[i + 1:], rng)
            else:
                prompt, answer = question(scene, rng)
            prompts.append(prompt)
            answers.append(answer)
            tasks.append(task)
        return InstructionBatch(scene_pixels(scenes), prompts, answers, tasks)
