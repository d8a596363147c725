"""`training.world.caption_truth`: which captions hold for which images, on tensors, against `mentions_hold`."""

import random

import pytest
import torch

from training.world.caption_truth import ANY, PAD, affirmative_truth, caption_truth, mention_codes, object_codes
from training.world.negation_captions import caption_is_true, sample_negated_caption
from training.world.shapes_world import (
    MAX_OBJECTS,
    Mention,
    Scene,
    ShapeObject,
    affirmative_mentions,
    mentions_hold,
    sample_scenes,
)


def test_truth_matches_mentions_hold_on_whole_and_partial_captions():
    scenes = sample_scenes(120, seed=11)
    rng = random.Random(0)
    captions = []
    for scene in scenes:
        named = affirmative_mentions(scene, rng, size_prob=0.5, shape_only_prob=0.3)
        if len(named) > 1 and rng.random() < 0.5:
            named = rng.sample(named, rng.randint(1, len(named) - 1))
        captions.append(named)
    truth = affirmative_truth(mention_codes(captions), object_codes(scenes))
    expected = torch.tensor([[mentions_hold(named, [], scene) for named in captions] for scene in scenes])
    assert torch.equal(truth, expected)
    assert truth.diagonal().all()
    assert 0 < truth.float().mean() < 0.5  # some captions hold for other images, most do not


def test_each_mention_needs_its_own_object():
    one_circle = Scene((ShapeObject("circle", "red", "small", 0.25, 0.25),))
    two_circles = Scene((*one_circle.objects, ShapeObject("circle", "blue", "large", 0.66, 0.66)))
    twice = [Mention("circle"), Mention("circle")]
    truth = affirmative_truth(mention_codes([twice, [Mention("circle", "blue")]]), object_codes([one_circle, two_circles]))
    assert truth.tolist() == [[False, False], [True, True]]


def test_codes_are_padded_and_checked():
    codes = object_codes([Scene((ShapeObject("star", "green", "large", 0.5, 0.5),))])
    assert codes.shape == (1, MAX_OBJECTS, 3) and (codes[0, 1:] == PAD).all()
    assert mention_codes([[Mention("star")]])[0, 0].tolist() == [ANY, 3, ANY]
    with pytest.raises(ValueError, match="do not fit"):
        mention_codes([[Mention("star")] * (MAX_OBJECTS + 1)])
    with pytest.raises(ValueError, match="mention rows"):
        affirmative_truth(mention_codes([[Mention("star")]], 4), codes)
    with pytest.raises(ValueError, match="need"):
        affirmative_truth(codes[0], codes)


def test_caption_truth_matches_caption_is_true_on_negated_captions():
    scenes = sample_scenes(80, seed=12)
    rng = random.Random(1)
    records = [sample_negated_caption(scene, rng, truth=rng.random() < 0.5) for scene in scenes]
    affirmed = mention_codes([[Mention.from_dict(m) for m in r["affirmed"]] for r in records])
    negated = mention_codes([[Mention.from_dict(m) for m in r["negated"]] for r in records])
    truth = caption_truth(affirmed, negated, object_codes(scenes))
    expected = torch.tensor([[caption_is_true(record, scene) for record in records] for scene in scenes])
    assert torch.equal(truth, expected)
    assert truth.float().mean() > 0.3  # a negated caption holds for many images
    with pytest.raises(ValueError, match="negated"):
        caption_truth(affirmed, negated[:3], object_codes(scenes))
