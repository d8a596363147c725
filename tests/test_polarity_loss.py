"""The polarity fit's losses and the batches they read: true captions of other images are never negatives, and
every choice has exactly one true caption."""

import pytest
import torch

from training.text.clip_tokenizer import load_clip_tokenizer
from training.world.negation_benchmark_items import MCQ_PHRASINGS
from training.world.shapes_world import Scene, build_world_dataset
from training.train_polarity_weight import choice_loss, truth_aware_loss
from training.world.world_data import QuestionCollator, all_phrasings, build_clip_processor


def world_rows(n, seed=3):
    dataset = build_world_dataset(n, seed=seed, image_size=32)
    return [{**row, "image": image} for row, image in zip(dataset.to_list(), dataset["image"])]


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


def test_question_batches_hold_three_choices_per_image_each_with_one_true_caption():
    processor = build_clip_processor(load_clip_tokenizer(), 32)
    batch = QuestionCollator(processor, seed=0)(world_rows(10))
    truth, options, images, target = (batch[k] for k in ("caption_truth", "choice_options", "choice_image", "choice_target"))
    assert batch["input_ids"].shape[0] == truth.shape[1] == options.shape[1] == 80  # 4 + 2 + 2 captions per image
    assert images.tolist() == [i for i in range(10) for _ in range(3)]
    assert options.sum(dim=1).tolist() == [4, 2, 2] * 10
    true_options = truth[images] & options  # the scenes' truth, computed apart from the collator's own labels
    assert (true_options.sum(dim=1) == 1).all() and torch.equal(true_options.float().argmax(dim=1), target)
    assert truth[:, :10].diagonal().all()  # the questions' true captions come first: truth_aware_loss's layout
    assert truth[:, :10].sum() > 10  # some captions ("no blue square") hold for other images too
    prompts = processor.tokenizer.batch_decode(batch["input_ids"], skip_special_tokens=True)
    assert len({p.split()[0] for p in prompts}) >= 4
    # Templates from the whole world, not only the benchmark's four phrasings.
    choices = QuestionCollator(processor, seed=0).choices([Scene.from_dicts(row["objects"]) for row in world_rows(10)])
    templates = {record["template"] for per_scene in choices for choice in per_scene for record, _ in choice}
    assert templates - {name for phrasing in MCQ_PHRASINGS for name in phrasing}
    assert len(all_phrasings()) > 100


def test_choice_loss_is_cross_entropy_over_each_choices_own_options():
    logits = torch.tensor([[2.0, 0.0, 1.0, 9.0], [0.0, 3.0, 0.5, 0.0]], requires_grad=True)
    options = torch.tensor([[True, False, True, False], [False, True, True, True]])
    loss = choice_loss(logits, torch.tensor([0, 1]), options, torch.tensor([0, 1]))
    expected = (torch.log1p(torch.exp(torch.tensor(-1.0))) + torch.log(1 + torch.exp(torch.tensor(-2.5)) + torch.exp(torch.tensor(-3.0)))) / 2
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert logits.grad[0, 3] == 0 and logits.grad[0, 1] == 0  # not among image 0's options
    with pytest.raises(ValueError, match="among its options"):
        choice_loss(logits, torch.tensor([0, 1]), options, torch.tensor([1, 1]))
    with pytest.raises(ValueError, match=r"need \(n, C\)"):
        choice_loss(logits, torch.tensor([0]), options, torch.tensor([0, 1]))


def test_text_to_image_only_drops_the_image_side():
    truth = torch.tensor([[True, False, False], [False, True, True]])
    logits = torch.tensor([[2.0, 0.0, 1.0], [0.0, 3.0, 0.0]])
    text_to_image = torch.nn.functional.cross_entropy(logits[:, :2].t(), torch.arange(2))
    torch.testing.assert_close(truth_aware_loss(logits, truth, image_to_text=False), text_to_image)
    assert truth_aware_loss(logits + torch.tensor([[0, 0, 5.0], [0, 0, 0]]), truth, image_to_text=False) == text_to_image
