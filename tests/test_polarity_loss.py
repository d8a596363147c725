"""The polarity fit's loss and the truth matrix it reads: true captions of other images are never negatives."""

import pytest
import torch

from training.clip_tokenizer import load_clip_tokenizer
from training.shapes_world import build_world_dataset
from training.train_polarity_weight import truth_aware_loss
from training.world_data import HardNegativeCollator, build_clip_processor


def test_caption_truth_matches_each_scene():
    processor = build_clip_processor(load_clip_tokenizer(), 32)
    dataset = build_world_dataset(12, seed=3, image_size=32)
    rows = [{**row, "image": image} for row, image in zip(dataset.to_list(), dataset["image"])]
    collator = HardNegativeCollator(processor, affirmative_prob=0.3, false_affirmative_prob=0.5, seed=0, with_truth=True)
    truth = collator(rows)["caption_truth"]
    assert truth.shape == (12, 24) and truth.dtype == torch.bool
    assert truth[:, :12].diagonal().all() and not truth[:, 12:].diagonal().any()  # own positive, own hard negative
    assert truth[:, :12].sum() > 12  # some captions ("no blue square") hold for other images too
    assert "caption_truth" not in HardNegativeCollator(processor, seed=0)(rows)


def test_true_captions_of_other_images_are_neither_pushed_nor_pulled():
    truth = torch.tensor([[True, True, False], [False, True, False]])  # caption 1 is true for both images
    logits = torch.tensor([[2.0, 0.0, 1.0], [0.0, 3.0, 0.0]], requires_grad=True)
    loss = truth_aware_loss(logits, truth)
    loss.backward()
    assert logits.grad[0, 1] == 0  # image 0 vs image 1's true caption: no gradient
    assert logits.grad[0, 0] < 0 and logits.grad[0, 2] > 0  # own caption up, false caption down
    # Raising an excluded score changes nothing; raising a false one raises the loss.
    assert torch.isclose(truth_aware_loss(logits.detach() + torch.tensor([[0, 5.0, 0], [0, 0, 0]]), truth), loss)
    assert truth_aware_loss(logits.detach() + torch.tensor([[0, 0, 5.0], [0, 0, 0]]), truth) > loss


def test_truth_aware_loss_rejects_bad_inputs():
    with pytest.raises(ValueError, match="diagonal"):
        truth_aware_loss(torch.zeros(2, 4), torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="C >= n"):
        truth_aware_loss(torch.zeros(3, 2), torch.ones(3, 2, dtype=torch.bool))
