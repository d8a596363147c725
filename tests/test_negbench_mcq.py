"""NegBench's VOC 2007 questions on photos: reading them with their images, scoring, the command line.

The photos are not here, so a small fake VOC folder stands in: shapes-world images under VOC file names,
and NegBench-format CSVs whose captions are what NegBench's templates and rephrasings look like.
"""

import csv
import json

import pytest
import torch

from modeling_negclip import NegCLIPModel
from tests.conftest import save_fresh_negclip
from training import evaluate_negbench
from training.text.negation_real_data import negbench_split_of
from training.negbench.negbench_mcq import evaluate_negbench as score_questions
from training.negbench.negbench_mcq import read_negbench_questions
from training.world.shapes_world import build_world_dataset

COLUMNS = ["image_path", "correct_answer", "caption_0", "caption_1", "caption_2", "caption_3", "correct_answer_template"]
# (templated captions, rephrased captions, index of the true one, its template)
QUESTIONS = [
    (["This image does not include dog", "This image includes person but not dog", "This image includes dog",
      "This image does not include person"], ["There is no dog here.", "A person, but no dog, is in this photo.",
      "A dog is present.", "This photo does not feature a person."], 0, "negative"),
    (["This image includes cat but not person", "This image includes person but not cat", "This image includes person",
      "This image does not include cat"], ["A cat but no person.", "This image shows a person, but no cat is included.",
      "There is a person in this image.", "No cat can be seen."], 0, "hybrid"),
    (["This image includes car", "This image does not include car", "This image includes bus but not car",
      "This image includes car but not bus"], ["A car is in this picture.", "No car.", "A bus, but not a car, appears.",
      "There is a car in this photo but no bus."], 0, "positive"),
    (["This image includes person but not horse", "This image includes horse", "This image includes horse but not person",
      "This image does not include person"], ["A person without a horse.", "A horse is shown in this image.",
      "A horse and no person.", "Nobody, no person at all, appears here."], 3, "negative"),
]


@pytest.fixture()
def fake_voc(tmp_path):
    """(images_root, data_dir): 8 questions over 8 images, two of each kind above."""
    images = build_world_dataset(8, 3, image_size=32)["image"]
    jpegs = tmp_path / "VOCdevkit" / "VOC2007" / "JPEGImages"
    jpegs.mkdir(parents=True)
    templated, rephrased = [], []
    for k, image in enumerate(images):
        name = f"{k + 1:06d}.jpg"
        image.save(jpegs / name)
        gold, fluent, correct, template = QUESTIONS[k % len(QUESTIONS)]
        templated.append([f"/elsewhere/VOCdevkit/VOC2007/JPEGImages/{name}", correct, *gold, template])
        rephrased.append([f"data/voc2007/VOCdevkit/VOC2007/JPEGImages/{name}", correct, *fluent, template])
    folder = tmp_path / "data" / "negbench_voc2007"
    folder.mkdir(parents=True)
    for file_name, rows in (("VOC2007_mcq.csv", templated), ("VOC2007_mcq_llama3.1_rephrased.csv", rephrased)):
        with (folder / file_name).open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            writer.writerows(rows)
    return tmp_path / "VOCdevkit", tmp_path / "data"


class LongestCaptionScorer:
    """Scores a caption by its length, whatever the image: its answers are known without a model."""

    def encode_images(self, images):
        return torch.zeros(len(images), 1)

    def score(self, image_embeds, texts):
        return torch.tensor([[float(len(text))] * image_embeds.shape[0] for text in texts])


def test_reads_questions_with_their_images_and_splits(fake_voc):
    images_root, data_dir = fake_voc
    questions = read_negbench_questions(images_root, "all", data_dir=data_dir)
    assert [q["image_file"].name for q in questions] == [f"{k:06d}.jpg" for k in range(1, 9)]
    assert all(q["image_file"].is_file() for q in questions)
    assert [q["type"] for q in questions[:4]] == ["negation", "hybrid", "affirmation", "negation"]
    assert questions[3]["correct_index"] == 3 and questions[0]["captions"][0] == "There is no dog here."
    assert read_negbench_questions(images_root / "VOC2007", "all", "templated", data_dir)[0]["captions"][0] == (
        "This image does not include dog"
    )
    eval_names = [q["image_file"].name for q in read_negbench_questions(images_root, "eval", data_dir=data_dir)]
    train_names = [q["image_file"].name for q in read_negbench_questions(images_root, "train", data_dir=data_dir)]
    assert sorted(eval_names + train_names) == [q["image_file"].name for q in questions]
    assert all(negbench_split_of(name) == "eval" for name in eval_names)


def test_accuracy_per_type_is_the_strict_argmax(fake_voc):
    images_root, data_dir = fake_voc
    questions = read_negbench_questions(images_root, "all", data_dir=data_dir)
    results = score_questions(LongestCaptionScorer(), questions, image_chunk_size=3)
    longest = [max(range(4), key=lambda k: len(q["captions"][k])) for q in questions]
    hits = [p == q["correct_index"] for q, p in zip(questions, longest)]
    assert 0 < sum(hits) < len(hits)  # the check can fail either way
    for question_type in ("affirmation", "negation", "hybrid"):
        own = [hit for q, hit in zip(questions, hits) if q["type"] == question_type]
        assert results[question_type] == pytest.approx(sum(own) / len(own))
        assert results["num_items_by_type"][question_type] == len(own)
    assert results["overall"] == pytest.approx(sum(hits) / len(hits)) and results["num_items"] == 8
    with pytest.raises(ValueError, match="at least one question"):
        score_questions(LongestCaptionScorer(), [])


def test_command_line_scores_a_fresh_negclip_as_its_clip(fake_voc, tiny_clip_dir, tmp_path, capsys):
    images_root, data_dir = fake_voc
    negclip_dir = tmp_path / "negclip"
    save_fresh_negclip(tiny_clip_dir, negclip_dir)
    out = tmp_path / "negbench.json"
    results = evaluate_negbench.main(["--models", str(negclip_dir), str(tiny_clip_dir), "--images_root", str(images_root),
                                      "--data_dir", str(data_dir), "--split", "all", "--out", str(out)])
    assert results[str(negclip_dir)] == results[str(tiny_clip_dir)]  # a fresh head splits nothing
    assert json.loads(out.read_text())[str(tiny_clip_dir)]["num_items"] == 8
    assert "| negation |" in capsys.readouterr().out


def test_refuses_missing_images_and_folders(fake_voc, tmp_path):
    images_root, data_dir = fake_voc
    (images_root / "VOC2007" / "JPEGImages" / "000005.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="1 NegBench images.*000005.jpg"):
        read_negbench_questions(images_root, "all", data_dir=data_dir)
    assert len(read_negbench_questions(images_root, "all", data_dir=data_dir, num_questions=4)) == 4
    with pytest.raises(FileNotFoundError, match="not a folder"):
        read_negbench_questions(tmp_path / "nowhere", data_dir=data_dir)
    with pytest.raises(ValueError, match="split"):
        read_negbench_questions(images_root, "test", data_dir=data_dir)


def test_models_share_the_questions(fake_voc, tiny_clip, tiny_clip_dir):
    from transformers import AutoProcessor

    from training.negbench.negbench_mcq import evaluate_negbench_models

    images_root, data_dir = fake_voc
    questions = read_negbench_questions(images_root, "all", data_dir=data_dir)
    processor = AutoProcessor.from_pretrained(tiny_clip_dir)
    results = evaluate_negbench_models({"CLIP": tiny_clip, "NegCLIP": NegCLIPModel.from_clip(tiny_clip)}, processor, questions)
    assert results["CLIP"] == results["NegCLIP"] and results["CLIP"]["num_items"] == 8


def test_choice_collator_gives_each_photo_its_own_four_captions(fake_voc, tiny_clip_dir):
    from transformers import AutoProcessor

    from training.negbench.negbench_mcq import NegBenchChoiceCollator

    images_root, data_dir = fake_voc
    questions = read_negbench_questions(images_root, "all", data_dir=data_dir)[:3]
    processor = AutoProcessor.from_pretrained(tiny_clip_dir)
    batch = NegBenchChoiceCollator(processor)(questions)
    assert batch["pixel_values"].shape == (3, 3, 32, 32) and batch["input_ids"].shape[0] == 12
    assert batch["choice_image"].tolist() == [0, 1, 2]
    assert batch["choice_options"].tolist() == [[k // 4 == i for k in range(12)] for i in range(3)]
    for i, question in enumerate(questions):
        row = batch["input_ids"][batch["choice_target"][i]]
        ids = processor.tokenizer(question["captions"][question["correct_index"]])["input_ids"]
        assert row[: len(ids)].tolist() == ids


def test_polarity_fit_on_photos_moves_only_the_polarity_parameters(fake_voc, tiny_clip_dir, tokenizer, tmp_path, monkeypatch):
    from tests.conftest import rule_tagger
    from training import train_polarity_weight

    images_root, data_dir = fake_voc
    monkeypatch.setenv("NEGCLIP_DATA_DIR", str(data_dir))
    rule = rule_tagger(tokenizer)  # "no" / "not" / "without" and the word after: every negated caption splits
    monkeypatch.setattr(NegCLIPModel, "tag_tokens", lambda self, *args, **kwargs: rule(*args, **kwargs))
    head = tmp_path / "head"
    save_fresh_negclip(tiny_clip_dir, head)
    args = ["--negclip_model", str(head), "--output_dir", str(tmp_path / "negclip"), "--num_images", "0",
            "--per_device_train_batch_size", "4", "--max_steps", "3", "--use_cpu", "--report_to", "none"]
    with pytest.raises(ValueError, match="exactly one"):
        train_polarity_weight.main(args)
    with pytest.raises(ValueError, match="choice_loss_weight"):
        train_polarity_weight.main([*args, "--negbench_images", str(images_root), "--choice_loss_weight", "0"])
    train_polarity_weight.main([*args, "--negbench_images", str(images_root)])
    fitted, before = NegCLIPModel.from_pretrained(tmp_path / "negclip"), NegCLIPModel.from_pretrained(head)
    moved = {name for name, value in before.state_dict().items() if not torch.equal(value, fitted.state_dict()[name])}
    assert moved and moved <= {name for name, p in fitted.named_parameters() if any(p is q for q in fitted.polarity_parameters())}
