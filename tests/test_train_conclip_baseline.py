"""Two-step smoke run of `training.train_conclip_baseline` from a tiny base CLIP, its loss and its collator."""

import json
import math
import random

import pytest
import torch
from torch.nn import functional as F
from transformers import AutoProcessor, CLIPConfig, CLIPModel, HfArgumentParser, set_seed

from training import train_conclip_baseline
from training.text.clip_tokenizer import load_clip_tokenizer
from training.contrastive import clip_contrastive_loss
from training.world.negation_captions import caption_is_true
from training.world.shapes_world import Mention, Scene, ShapeObject, build_world_dataset, render_scene, sample_scenes
from training.train_base_clip import ModelArguments, build_clip_config
from training.train_conclip_baseline import (
    COST_FILE_NAME,
    ConclipDataArguments,
    ConclipModelArguments,
    ConclipTrainingArguments,
    conclip_loss,
    main,
)
from training.world.world_data import HardNegativeCollator, build_clip_processor, false_affirmative_caption

NEGATION_WORDS = {"no", "not", "without", "neither", "nor", "isn't"}


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    """A tiny untrained base CLIP saved the way train_base_clip saves it."""
    tokenizer = load_clip_tokenizer()
    model_args = ModelArguments(
        text_hidden_size=32, text_num_layers=2, text_num_heads=2, vision_hidden_size=32, vision_num_layers=2,
        vision_num_heads=2, image_size=32, patch_size=8, projection_dim=16,
    )  # fmt: skip
    set_seed(0)
    path = tmp_path_factory.mktemp("base_clip")
    CLIPModel(build_clip_config(model_args, tokenizer)).save_pretrained(path)
    build_clip_processor(tokenizer, 32).save_pretrained(path)
    return path


def test_two_step_run_trains_only_the_text_encoder(tmp_path, base_dir):
    output_dir = tmp_path / "conclip"
    metrics = main([
        "--base_model_dir", str(base_dir), "--output_dir", str(output_dir), "--num_train_scenes", "32",
        "--per_device_train_batch_size", "8", "--max_steps", "2", "--learning_rate", "1e-3", "--warmup_steps", "0",
        "--num_eval_scenes", "8", "--num_zero_shot_images", "8", "--seed", "0", "--disable_tqdm", "true",
    ])  # fmt: skip

    base = CLIPModel.from_pretrained(base_dir).state_dict()
    tuned = CLIPModel.from_pretrained(output_dir).state_dict()
    processor = AutoProcessor.from_pretrained(output_dir)
    assert processor.image_processor.crop_size["height"] == 32 and len(processor.tokenizer) == 49408
    assert tuned.keys() == base.keys()
    frozen = [k for k in base if k.startswith(("vision_model.", "visual_projection.")) or k == "logit_scale"]
    assert frozen and all(torch.equal(tuned[k], base[k]) for k in frozen)
    for key in ("text_model.embeddings.token_embedding.weight", "text_projection.weight"):
        assert not torch.equal(tuned[key], base[key]), key

    cost = json.loads((output_dir / COST_FILE_NAME).read_text())
    text_params = sum(v.numel() for k, v in base.items() if k.startswith(("text_model.", "text_projection.")))
    assert cost["trainable_parameters"] == text_params and cost["steps"] == 2 and cost["seconds"] > 0
    assert {"base_zero_shot_accuracy", "zero_shot_accuracy", "negation_pair_accuracy"} <= set(metrics)


def test_runs_on_a_clip_that_reads_larger_images_than_the_world_draws(tmp_path):
    """A real CLIP reads 224 px; the world draws 32..64 px scenes and the CLIP's processor resizes them."""
    tokenizer = load_clip_tokenizer()
    tiny = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    config = CLIPConfig(text_config=dict(tiny, vocab_size=len(tokenizer)), projection_dim=16,
                        vision_config=dict(tiny, image_size=80, patch_size=40))
    CLIPModel(config).save_pretrained(tmp_path / "big")
    build_clip_processor(tokenizer, 80).save_pretrained(tmp_path / "big")
    metrics = main([
        "--base_model_dir", str(tmp_path / "big"), "--output_dir", str(tmp_path / "conclip"), "--num_train_scenes", "8",
        "--per_device_train_batch_size", "8", "--max_steps", "1", "--num_eval_scenes", "4", "--num_zero_shot_images",
        "4", "--seed", "0", "--disable_tqdm", "true",
    ])  # fmt: skip
    assert "zero_shot_accuracy" in metrics and "base_zero_shot_accuracy" in metrics


def test_parser_rejects_bad_values(tmp_path, base_dir):
    parser = HfArgumentParser((ConclipModelArguments, ConclipDataArguments, ConclipTrainingArguments))
    with pytest.raises(ValueError):
        parser.parse_args_into_dataclasses(args=["--base_model_dir", str(base_dir), "--affirmative_prob", "1.5"])
    with pytest.raises(ValueError):
        parser.parse_args_into_dataclasses(args=["--base_model_dir", str(tmp_path / "missing")])


def test_conclip_loss_on_hand_made_embeddings():
    generator = torch.Generator().manual_seed(0)
    images, texts, negatives = (F.normalize(torch.randn(4, 8, generator=generator), dim=-1) for _ in range(3))
    # Without hard negatives it is CLIP's loss.
    expected = clip_contrastive_loss(10.0 * texts @ images.T)
    torch.testing.assert_close(conclip_loss(images, texts, negatives[:0], 10.0), expected)
    # With them, image->text also ranks against the negatives: the loss only grows.
    assert conclip_loss(images, texts, negatives, 10.0) > expected
    # A hard negative equal to its image's positive costs exactly log(2) more on that row's i2t term
    # when the positive already wins everything else by far.
    eye = torch.eye(4, 8)
    perfect = conclip_loss(eye, eye, eye[:0], 100.0)
    duplicated = conclip_loss(eye, eye, eye, 100.0)
    torch.testing.assert_close(duplicated - perfect, torch.tensor(0.5 * math.log(2.0)), atol=1e-4, rtol=0)


def test_hard_negative_batches_pair_positives_and_false_captions():
    processor = build_clip_processor(load_clip_tokenizer(), 32)
    dataset = build_world_dataset(6, seed=7, image_size=32)
    rows = [{**row, "image": image} for row, image in zip(dataset.to_list(), dataset["image"])]
    batch = HardNegativeCollator(processor, affirmative_prob=0.5, seed=0)(rows)
    assert set(batch) == {"pixel_values", "input_ids", "attention_mask", "return_loss"}
    assert batch["pixel_values"].shape[0] == 6 and batch["input_ids"].shape[0] == 12
    positives, negatives = HardNegativeCollator(processor, seed=0).captions(rows)
    expected = processor.tokenizer(positives + negatives, padding=True, return_tensors="pt")["input_ids"]
    assert torch.equal(batch["input_ids"], expected)  # positives first, then the hard negatives

    # One red circle: every hard negative negates it (sample_negated_caption checks the truth of each).
    circle = Scene((ShapeObject("circle", "red", "large", 0.5, 0.5),))
    row = {"image": render_scene(circle, 32), "objects": circle.to_dicts(), "caption": "a red circle"}
    collator = HardNegativeCollator(processor, affirmative_prob=0.5, seed=1)
    positives, negatives = collator.captions([row] * 40)
    assert all("circle" in negative and set(negative.split()) & NEGATION_WORDS for negative in negatives)
    assert any(set(positive.split()) & NEGATION_WORDS for positive in positives)  # the mix has true negations
    affirmative_only, _ = HardNegativeCollator(processor, affirmative_prob=1.0).captions([row] * 10)
    assert not any(set(positive.split()) & NEGATION_WORDS for positive in affirmative_only)


def test_false_affirmative_hard_negatives_name_an_absent_look_alike():
    rng = random.Random(0)
    for scene in sample_scenes(100, seed=4):
        record = false_affirmative_caption(scene, rng)
        assert not caption_is_true(record, scene) and not record["negated"]
        absent = [m for m in map(Mention.from_dict, record["affirmed"]) if not any(m.matches(o) for o in scene.objects)]
        assert len(absent) == 1  # false only because of the look-alike
        assert any(absent[0].shape == o.shape or absent[0].colour == o.colour for o in scene.objects)
    processor = build_clip_processor(load_clip_tokenizer(), 32)
    rows = build_world_dataset(8, seed=5, image_size=32).to_list()
    _, negatives = HardNegativeCollator(processor, false_affirmative_prob=1.0).captions(rows)
    assert not any(set(negative.split()) & NEGATION_WORDS for negative in negatives)
    with pytest.raises(ValueError, match="false_affirmative_prob"):
        HardNegativeCollator(processor, false_affirmative_prob=-0.1)


def test_false_affirmative_prob_flag_reaches_the_collator(tmp_path, base_dir, monkeypatch):
    seen = {}

    class RecordingCollator(HardNegativeCollator):
        def __init__(self, *args, **kwargs):
            seen.update(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(train_conclip_baseline, "HardNegativeCollator", RecordingCollator)
    main([
        "--base_model_dir", str(base_dir), "--output_dir", str(tmp_path / "conclip"), "--num_train_scenes", "16",
        "--per_device_train_batch_size", "8", "--max_steps", "1", "--num_eval_scenes", "0", "--num_zero_shot_images", "0",
        "--evaluate_base", "false", "--false_affirmative_prob", "1.0", "--report_to", "none", "--disable_tqdm", "true",
    ])  # fmt: skip
    assert seen["false_affirmative_prob"] == 1.0
    with pytest.raises(ValueError, match="false_affirmative_prob"):
        ConclipDataArguments(false_affirmative_prob=1.5)
