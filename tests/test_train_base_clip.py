"""Two-step smoke run of `training.train_base_clip` on a tiny CLIP, its argument checks and its collator."""

import json
import random
import re

import pytest
import torch
from transformers import AutoProcessor, CLIPModel, HfArgumentParser, set_seed

from training.world.caption_truth import affirmative_truth
from training.text.clip_tokenizer import load_clip_tokenizer
from training.world.shapes_world import build_world_dataset, sample_scenes
from training.train_base_clip import (
    ClipTrainingArguments,
    DataArguments,
    ModelArguments,
    build_clip_config,
    main,
    parse_args,
)
from training.world.world_data import CLIP_PROMPT_TEMPLATES, WorldCaptionCollator, build_clip_processor

TINY_ARGS = [
    "--num_train_scenes", "32", "--image_size", "32", "--patch_size", "8", "--projection_dim", "16",
    "--text_hidden_size", "32", "--text_num_layers", "2", "--text_num_heads", "2",
    "--vision_hidden_size", "32", "--vision_num_layers", "2", "--vision_num_heads", "2",
    "--per_device_train_batch_size", "8", "--max_steps", "2", "--learning_rate", "1e-3", "--warmup_steps", "0",
    "--num_eval_scenes", "8", "--num_zero_shot_images", "8", "--seed", "0", "--disable_tqdm", "true",
]  # fmt: skip


def test_two_step_run_saves_a_standard_clip(tmp_path):
    output_dir = tmp_path / "base_clip"
    metrics = main([*TINY_ARGS, "--output_dir", str(output_dir)])

    assert (output_dir / "model.safetensors").is_file()
    model = CLIPModel.from_pretrained(output_dir)
    processor = AutoProcessor.from_pretrained(output_dir)
    assert model.config.text_config.vocab_size == 49408
    assert (model.config.text_config.bos_token_id, model.config.text_config.eos_token_id) == (49406, 49407)
    assert processor.tokenizer("a red circle").input_ids == [49406, 320, 736, 7117, 49407]
    assert processor.image_processor.crop_size["height"] == 32

    # Same seed, same config: the initial weights; two optimiser steps must have moved them.
    model_args, _, _ = parse_args([*TINY_ARGS, "--output_dir", str(tmp_path / "unused")])
    set_seed(0)
    initial = CLIPModel(build_clip_config(model_args, processor.tokenizer)).state_dict()
    trained = model.state_dict()
    assert trained.keys() == initial.keys()
    for key in ("text_model.embeddings.token_embedding.weight", "vision_model.embeddings.patch_embedding.weight"):
        assert not torch.equal(trained[key], initial[key]), key

    assert metrics["epoch"] > 0 and 0 <= metrics["zero_shot_accuracy"] <= 1
    assert set(json.loads((output_dir / "eval_results.json").read_text())) >= {"text_to_image_r1", "zero_shot_accuracy"}


def test_arguments_load_from_json(tmp_path):
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"output_dir": str(tmp_path / "out"), "text_num_layers": 3, "learning_rate": 5e-4}))
    model_args, data_args, training_args = parse_args([str(path)])
    assert model_args.text_num_layers == 3 and model_args.text_intermediate_size == 4 * model_args.text_hidden_size
    assert training_args.learning_rate == 5e-4 and not training_args.remove_unused_columns
    assert training_args.use_cpu or torch.cuda.is_available()


@pytest.mark.parametrize(
    "bad",
    [
        ["--patch_size", "7"],  # does not divide 48
        ["--image_size", "16"],
        ["--text_hidden_size", "30", "--text_num_heads", "4"],
        ["--caption_mode", "sometimes"],
        ["--num_train_scenes", "0"],
        ["--remove_unused_columns", "true"],
        ["--partial_caption_prob", "1.5"],
        ["--caption_mode", "fixed", "--partial_caption_prob", "0"],  # a fixed caption's mentions are unknown
        ["--prompt_template_prob", "-0.1"],
    ],
)
def test_parser_rejects_bad_values(tmp_path, bad):
    parser = HfArgumentParser((ModelArguments, DataArguments, ClipTrainingArguments))
    with pytest.raises(ValueError):
        parser.parse_args_into_dataclasses(args=[*bad, "--output_dir", str(tmp_path)])


def test_collator_batches_are_forward_arguments():
    processor = build_clip_processor(load_clip_tokenizer(), 32)
    dataset = build_world_dataset(4, seed=5, image_size=32)
    rows = [{**row, "image": image} for row, image in zip(dataset.to_list(), dataset["image"])]  # decoded images
    fresh = WorldCaptionCollator(processor, caption_mode="fresh", seed=0)
    batch = fresh(rows)
    assert set(batch) == {"pixel_values", "input_ids", "attention_mask", "return_loss"}
    assert batch["pixel_values"].shape == (4, 3, 32, 32) and batch["input_ids"].shape[0] == 4
    # Every caption ends with exactly one EOS before padding (CLIP pools the first EOS).
    eos = processor.tokenizer.eos_token_id
    lengths = batch["attention_mask"].sum(1)
    assert all(batch["input_ids"][i, lengths[i] - 1] == eos for i in range(4))
    assert all((batch["input_ids"][i, : lengths[i] - 1] != eos).all() for i in range(4))
    # Fresh captions are seeded and change from one batch to the next; fixed ones are the dataset's.
    same_seed = WorldCaptionCollator(processor, seed=0), WorldCaptionCollator(processor, seed=0)
    assert same_seed[0].captions(rows) == same_seed[1].captions(rows)
    assert any(fresh.captions(rows) != fresh.captions(rows) for _ in range(3))
    assert WorldCaptionCollator(processor, caption_mode="fixed").captions(rows) == [row["caption"] for row in rows]
    # Images rendered at the crop size skip the resize: same pixels as the full processor.
    full = processor(images=[row["image"] for row in rows], return_tensors="pt")["pixel_values"]
    assert torch.equal(batch["pixel_values"], full)


def test_partial_captions_name_a_proper_part_of_multi_object_scenes():
    processor = build_clip_processor(load_clip_tokenizer(), 32)
    collator = WorldCaptionCollator(processor, partial_caption_prob=1.0, seed=0)
    rng = random.Random(0)
    sizes = set()
    for scene in sample_scenes(200, seed=3):
        part = collator.captioned_scene(scene, rng)
        assert set(part.objects) <= set(scene.objects) and part.objects
        if len(scene.objects) == 1:
            assert part == scene  # nothing to leave out
        else:
            assert len(part.objects) < len(scene.objects)
            sizes.add((len(scene.objects), len(part.objects)))
    assert sizes == {(2, 1), (3, 1), (3, 2)}
    whole = WorldCaptionCollator(processor, partial_caption_prob=0.0, seed=0)
    assert all(whole.captioned_scene(scene, rng) == scene for scene in sample_scenes(50, seed=3))
    with pytest.raises(ValueError, match="partial_caption_prob"):
        WorldCaptionCollator(processor, partial_caption_prob=2.0)
    with pytest.raises(ValueError, match="fresh"):
        WorldCaptionCollator(processor, caption_mode="fixed", partial_caption_prob=0.5)


def test_prompt_frames_wrap_a_share_of_fresh_captions_and_keep_what_they_name():
    processor = build_clip_processor(load_clip_tokenizer(), 32)
    dataset = build_world_dataset(64, seed=5, image_size=32)
    rows = [{**row, "image": image} for row, image in zip(dataset.to_list(), dataset["image"])]
    framed = WorldCaptionCollator(processor, seed=0, prompt_template_prob=1.0).captions(rows)
    frames = [re.compile(re.escape(t).replace(re.escape("{}"), "(.+)")) for t in CLIP_PROMPT_TEMPLATES]
    assert all(any(f.fullmatch(caption) for f in frames) for caption in framed)
    some = WorldCaptionCollator(processor, seed=0, prompt_template_prob=0.25).captions(rows)
    assert 0 < sum(c.endswith(".") for c in some) < len(some)
    with pytest.raises(ValueError, match="fresh"):
        WorldCaptionCollator(processor, caption_mode="fixed", prompt_template_prob=0.5)


def test_collator_codes_give_each_caption_its_truth():
    processor = build_clip_processor(load_clip_tokenizer(), 32)
    dataset = build_world_dataset(64, seed=5, image_size=32)
    rows = [{**row, "image": image} for row, image in zip(dataset.to_list(), dataset["image"])]
    collator = WorldCaptionCollator(processor, partial_caption_prob=1.0, seed=0, with_codes=True)
    batch = collator(rows)
    truth = affirmative_truth(batch["mention_codes"], batch["object_codes"])  # (images, captions)
    assert truth.shape == (64, 64) and truth.diagonal().all()
    assert (truth.sum(dim=0) > 1).any()  # a partial caption that also holds for another image
    # The same seed draws the same captions with or without codes.
    plain = WorldCaptionCollator(processor, partial_caption_prob=1.0, seed=0)(rows)
    assert torch.equal(plain["input_ids"], batch["input_ids"])
    with pytest.raises(ValueError, match="fresh"):
        WorldCaptionCollator(processor, caption_mode="fixed", with_codes=True)
