import random
import time

import numpy as np
import pytest

from training.world.shapes_world import (
    COLOURS,
    GRID_CELLS,
    SHAPES,
    Mention,
    Scene,
    ShapeObject,
    affirmative_caption,
    build_world_dataset,
    caption_words,
    mentions_hold,
    render_scene,
    sample_scene,
    sample_scenes,
    scenes_from_dataset,
)


def test_world_is_large_enough():
    assert len(SHAPES) >= 5 and len(COLOURS) >= 6
    rgb = np.array(list(COLOURS.values()), dtype=float)
    distances = np.linalg.norm(rgb[:, None] - rgb[None], axis=-1)
    assert distances[~np.eye(len(rgb), dtype=bool)].min() > 80  # well separated colours


def test_scenes_are_deterministic_and_prefix_stable():
    assert sample_scenes(20, seed=3) == sample_scenes(20, seed=3)
    assert sample_scenes(5, seed=3) == sample_scenes(20, seed=3)[:5]
    assert sample_scenes(20, seed=3) != sample_scenes(20, seed=4)


def test_scenes_have_distinct_visible_objects():
    scenes = sample_scenes(200, seed=0)
    assert {len(s.objects) for s in scenes} == {1, 2, 3}
    for scene in scenes:
        pairs = [(o.shape, o.colour) for o in scene.objects]
        assert len(set(pairs)) == len(pairs)
        for i, a in enumerate(scene.objects):
            h = a.half_extent
            assert h <= a.x <= 1 - h and h <= a.y <= 1 - h
            # Bounding boxes lie on the grid of cells: their edges are cell boundaries.
            for edge in (a.x - h, a.x + h, a.y - h, a.y + h):
                assert abs(edge * GRID_CELLS - round(edge * GRID_CELLS)) < 1e-9, (a, edge)
            for b in scene.objects[i + 1 :]:  # at least one free cell between two bounding boxes
                gap = a.half_extent + b.half_extent + 1 / GRID_CELLS - 1e-9
                assert abs(a.x - b.x) >= gap or abs(a.y - b.y) >= gap


@pytest.mark.parametrize("image_size", [32, 48, 64])
def test_render_size_mode_and_colours(image_size):
    for scene in sample_scenes(10, seed=1):
        image = render_scene(scene, image_size)
        assert image.mode == "RGB" and image.size == (image_size, image_size)
        pixels = np.asarray(image).astype(int)
        for obj in scene.objects:  # every shape covers its centre: the object is visible there
            centre = pixels[int(obj.y * image_size), int(obj.x * image_size)]
            assert np.abs(centre - COLOURS[obj.colour]).max() < 30, (obj, centre)


def test_render_is_deterministic_and_checks_size():
    scene = sample_scenes(1, seed=2)[0]
    assert render_scene(scene).tobytes() == render_scene(scene).tobytes()
    with pytest.raises(ValueError):
        render_scene(scene, 16)
    with pytest.raises(ValueError):
        sample_scene(random.Random(0), min_objects=0)


def test_mentions_match_distinct_objects():
    red_circle = ShapeObject("circle", "red", "small", 0.2, 0.2)
    blue_circle = ShapeObject("circle", "blue", "large", 0.7, 0.7)
    one, two = Scene((red_circle,)), Scene((red_circle, blue_circle))
    assert mentions_hold([Mention("circle", "red")], [], one)
    assert not mentions_hold([Mention("circle", "red", "large")], [], one)
    assert not mentions_hold([Mention("circle"), Mention("circle", "red")], [], one)  # needs two circles
    assert mentions_hold([Mention("circle"), Mention("circle", "red")], [], two)
    with pytest.raises(ValueError):
        Mention("hexagon")


def test_affirmative_captions_name_every_object():
    rng = random.Random(0)
    for scene in sample_scenes(50, seed=5):
        caption = affirmative_caption(scene, rng)
        for obj in scene.objects:
            assert obj.shape in caption.replace(",", "").split()
        words, labels = caption_words(caption)
        assert words == caption.split() and labels == [0] * len(words)


def test_build_world_dataset_columns_and_round_trip():
    dataset = build_world_dataset(12, seed=7, image_size=40)
    assert dataset.column_names == ["image", "objects", "caption"]
    assert scenes_from_dataset(dataset) == sample_scenes(12, seed=7)
    row = dataset[0]
    assert row["image"].mode == "RGB" and row["image"].size == (40, 40)
    expected = render_scene(Scene.from_dicts(row["objects"]), 40)
    assert np.array_equal(np.asarray(row["image"]), np.asarray(expected))  # PNG is lossless
    assert set(row["objects"][0]) == {"shape", "colour", "size", "x", "y"}
    assert build_world_dataset(12, seed=7, image_size=40)["caption"] == dataset["caption"]


def test_rendering_is_fast():
    start = time.perf_counter()
    for scene in sample_scenes(200, seed=9):
        render_scene(scene)
    assert time.perf_counter() - start < 2.0  # ~0.4 ms a scene: 20,000 scenes in seconds
