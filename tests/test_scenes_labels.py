"""Scene-world classification labels: each attribute labels exactly the scenes where the pixels
determine it, with the label read from the scene graph."""

from __future__ import annotations

import pytest

from vlmaudit.data.scenes.generate import SceneConfig, generate_scenes
from vlmaudit.data.scenes.graph import Scene, SceneObject, relation_holds
from vlmaudit.data.scenes.labels import labelled_images
from vlmaudit.data.scenes.render import scene_key
from vlmaudit.data.scenes.splits import biased_split
from vlmaudit.errors import DataError, SpecError


def obj(shape: str, colour: str, box: tuple[int, int, int, int]) -> SceneObject:
    return SceneObject(shape, colour, "small", box)


LEFT = (4, 26, 16, 38)
RIGHT = (40, 26, 52, 38)


@pytest.fixture(scope="module")
def mixed() -> list[Scene]:
    return generate_scenes(60, 7, SceneConfig(min_objects=1, max_objects=3))


def test_shape_labels_one_object_scenes_only_by_default(mixed):
    """Catches: a multi-object scene labelled by object 0 (both "circle" and "square" true in it)."""
    out = labelled_images(mixed, "shape")
    singles = [s for s in mixed if len(s.objects) == 1]
    assert len(out.items) == len(singles) and out.skipped == len(mixed) - len(singles)
    assert [i.label for i in out.items] == [s.objects[0].shape for s in singles]
    assert [i.image.key for i in out.items] == [scene_key(s) for s in singles]
    assert set(out.classes) == {s.objects[0].shape for s in singles}
    assert list(out.classes) == sorted(out.classes, key=("circle", "square", "triangle", "star", "cross",
                                                         "diamond").index)  # vocabulary order


def test_multi_first_skips_scenes_where_another_object_shares_the_value():
    """Catches: multi="first" labelling a scene with two circles as if object 0 were the only one."""
    shared = Scene.build((obj("circle", "red", LEFT), obj("circle", "blue", RIGHT)), "grass")
    distinct = Scene.build((obj("circle", "red", LEFT), obj("square", "red", RIGHT)), "sand")
    out = labelled_images([shared, distinct], "shape", multi="first")
    assert [i.label for i in out.items] == ["circle"] and out.skipped == 1
    colours = labelled_images([shared, distinct], "colour", multi="first")
    assert [i.label for i in colours.items] == ["red"]  # `distinct` has two red objects: skipped


def test_biased_split_with_two_objects_is_labelled_by_object_0():
    """Catches: the splits.py convention (label = object 0) not followed for multi-object splits."""
    split = biased_split(12, 3, n_objects=2)
    out = labelled_images(split.scenes, "shape", multi="first")
    assert [i.label for i in out.items] == [s.objects[0].shape for s in split.scenes]
    assert out.classes == ("circle", "square")
    assert [i.attributes["context"] for i in out.items] == [s.context for s in split.scenes]


def test_relation_is_the_strict_relation_of_object_0_to_1(mixed):
    """Catches: the relation read in the wrong direction (1 to 0), or a pair with no strict relation
    labelled anyway."""
    out = labelled_images(mixed, "relation")
    expected = [s for s in mixed if len(s.objects) == 2 and s.relation(0, 1) is not None]
    assert len(out.items) == len(expected) > 0
    for item, scene in zip(out.items, expected, strict=True):
        assert relation_holds(scene.objects[0], scene.objects[1], item.label, scene.image_size)
        assert item.attributes["subject"].endswith(scene.objects[0].shape)
    left = Scene.build((obj("circle", "red", LEFT), obj("square", "blue", RIGHT)), "grass")
    assert labelled_images([left], "relation").items[0].label == "left of"
    assert labelled_images([left.mirrored()], "relation").items[0].label == "right of"


def test_context_and_count_label_every_scene(mixed):
    """Catches: count labels that are bare digits (unusable in prompts) or miscounted."""
    counts = labelled_images(mixed, "count")
    assert counts.skipped == 0
    names = {1: "one object", 2: "two objects", 3: "three objects"}
    assert [i.label for i in counts.items] == [names[len(s.objects)] for s in mixed]
    assert [i.label for i in labelled_images(mixed, "context").items] == [s.context for s in mixed]


def test_unknown_attribute_and_nothing_to_label():
    """Catches: a typo'd attribute returning an empty dataset instead of failing."""
    with pytest.raises(SpecError, match="unknown label attribute 'shapes'"):
        labelled_images([], "shapes")
    one = generate_scenes(3, 0, SceneConfig(min_objects=1, max_objects=1))
    with pytest.raises(DataError, match="no scene of 3 can be labelled by relation"):
        labelled_images(one, "relation")


def test_scenes_source_yields_labelled_images_by_the_label_option():
    """Catches: the scenes source without LabelledImage items, the `label` option ignored (always
    shape), or left out of the fingerprint (a cached colour result reused for shape labels)."""
    from vlmaudit.data.items import LabelledImage
    from vlmaudit.data.source import open_data

    default, colour = open_data("scenes?n=40&seed=3"), open_data("scenes?n=40&seed=3&label=colour")

    def rows(items):
        return [(i.image.key, i.label, dict(i.attributes), i.item_id) for i in items]

    assert LabelledImage in default.item_types and list(default.items_of(LabelledImage)) == ["scenes/shape"]
    assert rows(default.items_of(LabelledImage)["scenes/shape"]) == rows(
        labelled_images(default.scenes, "shape").items)
    got = colour.items_of(LabelledImage)["scenes/colour"]
    assert rows(got) == rows(labelled_images(default.scenes, "colour").items)
    assert default.fingerprint() != colour.fingerprint()
    assert default.fingerprint() == open_data("scenes?n=40&seed=3").fingerprint()
    with pytest.raises(SpecError, match=r"scenes: data option label='texture' must be 'shape', 'colour'"):
        open_data("scenes?n=4&label=texture")
