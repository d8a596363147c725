import random

import pytest

from training.world.negation_benchmark_items import (
    MCQ_TYPES,
    build_affirmative_retrieval_items,
    build_mcq_items,
    build_negated_retrieval_items,
    build_presence_absence_items,
    build_zero_shot_items,
)
from training.world.negation_captions import (
    CUE_WORDS,
    TEMPLATES,
    caption_is_true,
    make_caption,
    negated_prompt_parts,
    sample_negated_caption,
    template_kind,
)
from training.world.shapes_world import Mention, Scene, ShapeObject, sample_scenes

SCENES = sample_scenes(60, seed=11)


def _scene(*pairs):
    return Scene(tuple(ShapeObject(s, c, "small", 0.2 + 0.3 * i, 0.5) for i, (c, s) in enumerate(pairs)))


def _assert_labels_consistent(record):
    words, labels = record["words"], record["labels"]
    assert words == record["prompt"].split() and len(labels) == len(words)
    assert {w.rstrip(",") for w, label in zip(words, labels) if label == 1} <= CUE_WORDS
    negated_words = [w.rstrip(",") for w, label in zip(words, labels) if label == 2 and w not in ("a", "an", "the")]
    assert negated_words == [w for m in record["negated"] for w in Mention.from_dict(m).words()]


def test_make_caption_words_and_labels():
    record = make_caption("hyb_but_not", [Mention("circle", "red")], [Mention("square", "blue")])
    assert record["prompt"] == "a red circle but not a blue square"
    assert record["labels"] == [0, 0, 0, 1, 1, 2, 2, 2]
    assert record["kind"] == "hybrid"
    assert negated_prompt_parts(record) == ("a red circle", "a blue square")
    record = make_caption("hyb_not_present", [Mention("circle", "orange")], [Mention("square")])
    assert record["prompt"] == "an orange circle, the square is not present"
    assert record["labels"] == [0, 0, 0, 2, 2, 1, 1, 1]
    with pytest.raises(ValueError):
        make_caption("neg_no", [Mention("circle")], [Mention("square")])


def test_truth_semantics():
    red_square = _scene(("red", "square"))
    blue_square = _scene(("blue", "square"), ("red", "circle"))
    no_blue_square = make_caption("neg_no", negated=[Mention("square", "blue")])
    no_square = make_caption("neg_no", negated=[Mention("square")])
    assert caption_is_true(no_blue_square, red_square)
    assert not caption_is_true(no_blue_square, blue_square)
    assert not caption_is_true(no_square, red_square)
    circle_no_red_square = make_caption("hyb_scene_but_no", [Mention("circle")], [Mention("square", "red")])
    assert caption_is_true(circle_no_red_square, blue_square)
    assert not caption_is_true(circle_no_red_square, red_square)  # no circle


@pytest.mark.parametrize("truth", [True, False])
def test_sampled_negated_captions(truth):
    rng = random.Random(0)
    for scene in SCENES:
        record = sample_negated_caption(scene, rng, truth=truth)
        assert caption_is_true(record, scene) is truth
        assert record["kind"] in ("negation", "hybrid") and record["negated"]
        _assert_labels_consistent(record)


def test_every_template_gives_consistent_records():
    rng = random.Random(1)
    two_objects = _scene(("red", "circle"), ("blue", "star"))
    for template in TEMPLATES:
        if template_kind(template) == "affirmation":
            record = make_caption(template, [Mention("circle", "red")])
        else:
            record = sample_negated_caption(two_objects, rng, truth=True, template=template)
        _assert_labels_consistent(record)
        assert (1 in record["labels"]) == (template_kind(template) != "affirmation")


def test_mcq_items():
    items = build_mcq_items(SCENES, seed=0)
    assert items == build_mcq_items(SCENES, seed=0)
    assert len(items) == len(SCENES) and {item["type"] for item in items} == set(MCQ_TYPES)
    for item in items:
        scene = SCENES[item["image_index"]]
        truths = [caption_is_true(record, scene) for record in item["records"]]
        assert truths == [i == item["correct_index"] for i in range(4)]
        assert item["option_kinds"][item["correct_index"]] == "correct"
        assert sorted(item["option_kinds"]) == ["affirm_absent", "correct", "negate_present", "swap"]
        assert item["captions"] == [record["prompt"] for record in item["records"]]
        assert len(set(item["captions"])) == 4


def test_negated_retrieval_items():
    items = build_negated_retrieval_items(SCENES, seed=0, num_queries=30)
    assert items == build_negated_retrieval_items(SCENES, seed=0, num_queries=30)
    assert len({item["query"] for item in items}) == len(items) > 10
    for item in items:
        record = item["record"]
        assert record["negated"] and item["query"] == record["prompt"]
        assert item["relevant"] == [i for i, s in enumerate(SCENES) if caption_is_true(record, s)]
        assert item["source_index"] in item["relevant"]
        assert item["hard_negatives"] and not set(item["hard_negatives"]) & set(item["relevant"])
        for i in item["hard_negatives"]:
            assert caption_is_true({"affirmed": record["affirmed"], "negated": []}, SCENES[i])


def test_presence_absence_items():
    items = build_presence_absence_items(SCENES, seed=0)
    assert len(items) == 2 * len(SCENES)
    for item in items:
        scene = SCENES[item["image_index"]]
        negated, contrast = item["records"]
        negated_object = Mention.from_dict(negated["negated"][0])
        present = any(negated_object.matches(o) for o in scene.objects)
        assert present == (item["kind"] == "presence")
        assert caption_is_true(negated, scene) is not present and caption_is_true(contrast, scene) is present
        assert item["correct_index"] == (1 if present else 0)


def test_affirmative_retrieval_and_zero_shot_items():
    items = build_affirmative_retrieval_items(SCENES, seed=0)
    for item in items:
        assert item["source_index"] in item["relevant"]
        assert item["relevant"] == [i for i, s in enumerate(SCENES) if caption_is_true(item["record"], s)]
    zero_shot = build_zero_shot_items(SCENES)
    assert len(zero_shot["prompts"]) == 36 and zero_shot["items"]
    for item in zero_shot["items"]:
        (obj,) = SCENES[item["image_index"]].objects
        assert zero_shot["class_names"][item["label"]] == f"{obj.colour} {obj.shape}"
    shapes = build_zero_shot_items(SCENES, attribute="shape")
    assert shapes["prompts"][0] == "a photo of a circle"
