"""Generated scenes with exact scene graphs: the project's built-in world.

Public API (other modules code against these names):
  vocab      SHAPES, COLOURS, SIZES, CONTEXTS, RELATIONS, OPPOSITE_RELATION, VOCABULARY, GENERATOR_VERSION
  graph      SceneObject, Scene (to_json/from_json, mirrored), relation_holds
  generate   SceneConfig, generate_scenes, generate_scene (seed scheme in generate.py)
  render     render, render_array, scene_ref
  grammar    describe, paraphrases, negation_caption
  meaning    Caption, Token, Meaning, ObjectDesc, parse, truth
Also: `.perturb` (caption perturbation hooks, hard triplets), `.pairs` (opposite pairs, Winoground
groups), `.splits` (labels, biased/balanced splits), `.source` (the `scenes` dataset), `.export`.
"""

from vlmaudit.data.scenes.generate import SceneConfig, generate_scene, generate_scenes
from vlmaudit.data.scenes.grammar import describe, negation_caption, paraphrases
from vlmaudit.data.scenes.graph import Scene, SceneObject, relation_holds
from vlmaudit.data.scenes.meaning import Caption, Meaning, ObjectDesc, Token, parse, truth
from vlmaudit.data.scenes.render import render, render_array, scene_ref
from vlmaudit.data.scenes.vocab import (
    COLOURS,
    CONTEXTS,
    GENERATOR_VERSION,
    OPPOSITE_RELATION,
    RELATIONS,
    SHAPES,
    SIZES,
    VOCABULARY,
)

__all__ = [
    "COLOURS",
    "CONTEXTS",
    "GENERATOR_VERSION",
    "OPPOSITE_RELATION",
    "RELATIONS",
    "SHAPES",
    "SIZES",
    "VOCABULARY",
    "Caption",
    "Meaning",
    "ObjectDesc",
    "Scene",
    "SceneConfig",
    "SceneObject",
    "Token",
    "describe",
    "generate_scene",
    "generate_scenes",
    "negation_caption",
    "paraphrases",
    "parse",
    "relation_holds",
    "render",
    "render_array",
    "scene_ref",
    "truth",
]
