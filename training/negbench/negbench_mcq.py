"""NegBench's PASCAL VOC 2007 multiple-choice test on real photos: the benchmark's real-data path.

NegBench (Alhamoud et al., CVPR 2025) asks, per VOC 2007 image, which of four captions is true; the
question's type is that of its true caption: affirmation ("This image includes X"), negation ("This
image does not include X") or hybrid ("This image includes X but not Y"), in the LLM-rephrased wording
by default. The captions come from `../shared/data/negbench_voc2007` (`negation_real_data`); the
photos are not shipped: `images_root` is a VOC 2007 folder (VOCdevkit, the VOC2007 folder in it, or
its JPEGImages). Every image the questions need must be there, or nothing is scored.

Any CLIP or NegCLIP is scored through `world_benchmark.TextImageScorer`, with the shapes world's rule:
the caption with the strictly highest score is the answer, a tie counts as wrong.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from transformers import BatchFeature, CLIPProcessor

from ..text.negation_real_data import read_negbench_voc2007
from ..world.world_benchmark import TIE, TextImageScorer, choice_predictions
from ..world.world_data import encode_images_and_texts
from ..world.world_report import format_table

# NegBench's name of a question's type (its true caption's template) -> the world benchmark's name.
NEGBENCH_QUESTION_TYPES = {"positive": "affirmation", "negative": "negation", "hybrid": "hybrid"}
NEGBENCH_SPLITS = ("eval", "train", "all")
_IMAGE_FOLDERS = (("VOC2007", "JPEGImages"), ("JPEGImages",), ())


def resolve_image_file(images_root: str | os.PathLike, image_path: str) -> Path:
    """Where `image_path` ("VOC2007/JPEGImages/000001.jpg") lies under `images_root`: the first of
    root/VOC2007/JPEGImages/<name>, root/JPEGImages/<name>, root/<name> that exists (else the first)."""
    name = image_path.rsplit("/", 1)[-1]
    candidates = [Path(images_root, *folders, name) for folders in _IMAGE_FOLDERS]
    return next((path for path in candidates if path.is_file()), candidates[0])


def read_negbench_questions(
    images_root: str | os.PathLike,
    split: str = "eval",
    source: str = "rephrased",
    data_dir: str | os.PathLike | None = None,
    num_questions: int | None = None,
) -> list[dict]:
    """NegBench's questions with the image file of each: dicts of image_file, captions (4), correct_index,
    type ("affirmation" | "negation" | "hybrid"). `split` "eval" is the part the negation head never trains
    on (`negation_real_data.negbench_split_of`), "train" the rest, "all" both; `num_questions` keeps the first.
    """
    if split not in NEGBENCH_SPLITS:
        raise ValueError(f"split must be one of {NEGBENCH_SPLITS}, got {split!r}")
    if not Path(images_root).is_dir():
        raise FileNotFoundError(f"images_root '{images_root}' is not a folder (VOC 2007 images, e.g. VOCdevkit)")
    records = read_negbench_voc2007(data_dir, source=source)
    questions = []
    for start in range(0, len(records), 4):
        row = records[start : start + 4]
        if split != "all" and row[0]["split"] != split:
            continue
        correct = [record["caption_index"] for record in row if record["is_correct"]]
        if len(correct) != 1:
            raise ValueError(f"NegBench row {row[0]['id']} has {len(correct)} true captions, not one")
        questions.append(
            {
                "image_file": resolve_image_file(images_root, row[0]["image_path"]),
                "captions": [record["caption"] for record in row],
                "correct_index": correct[0],
                "type": NEGBENCH_QUESTION_TYPES[row[correct[0]]["template"]],
            }
        )
    questions = questions[:num_questions] if num_questions is not None else questions
    missing = sorted({str(q["image_file"]) for q in questions if not q["image_file"].is_file()})
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} NegBench images are not under '{images_root}' (looked in VOC2007/JPEGImages/, "
            f"JPEGImages/ and the folder itself), e.g. {missing[:3]}"
        )
    if not questions:
        raise ValueError(f"No NegBench questions in split {split!r}")
    return questions


def load_rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


class NegBenchChoiceCollator:
    """Questions -> `pixel_values` `(n, 3, S, S)`, `input_ids` / `attention_mask` `(4n, T)` (question `i`'s captions
    in rows `4i..4i+3`) and one choice per image, the `choice_*` keys of `train_polarity_weight.choice_loss`:
    choice_image `(n,)`, choice_options `(n, 4n)` (its own four captions), choice_target `(n,)`.

    No `caption_truth`: whether a caption holds for another photo is not known, so there is no contrast
    across images, only the questions themselves."""

    def __init__(self, processor: CLIPProcessor):
        self.processor = processor

    def __call__(self, questions: Sequence[dict]) -> BatchFeature:
        n = len(questions)
        cached = "image_embeds" in questions[0]  # embedded once by a frozen CLIP (train_polarity_weight)
        batch = encode_images_and_texts(
            self.processor,
            images=None if cached else [load_rgb(q["image_file"]) for q in questions],
            texts=[caption for q in questions for caption in q["captions"]],
        )
        if cached:
            batch["image_embeds"] = torch.tensor([q["image_embeds"] for q in questions])
        batch["choice_image"] = torch.arange(n)
        batch["choice_options"] = torch.arange(4 * n)[None, :] // 4 == torch.arange(n)[:, None]
        batch["choice_target"] = torch.tensor([4 * i + q["correct_index"] for i, q in enumerate(questions)])
        return batch


def evaluate_negbench(scorer, questions: Sequence[dict], image_chunk_size: int = 256) -> dict:
    """Accuracy per question type and overall, `num_items` and `num_items_by_type`, of `scorer` on `questions`.

    Images are opened and encoded `image_chunk_size` at a time, so memory stays bounded.
    """
    if not questions:
        raise ValueError("evaluate_negbench needs at least one question")
    predictions = []
    for start in range(0, len(questions), image_chunk_size):
        chunk = questions[start : start + image_chunk_size]
        files = sorted({question["image_file"] for question in chunk})
        column = {path: k for k, path in enumerate(files)}
        image_embeds = scorer.encode_images([load_rgb(path) for path in files])
        items = [{"image_index": column[q["image_file"]], "captions": q["captions"]} for q in chunk]
        predictions.extend(choice_predictions(scorer, image_embeds, items))
    correct = [p != TIE and p == q["correct_index"] for q, p in zip(questions, predictions)]
    results: dict = {}
    counts: dict[str, int] = {}
    for question_type in NEGBENCH_QUESTION_TYPES.values():
        hits = [hit for q, hit in zip(questions, correct) if q["type"] == question_type]
        results[question_type] = sum(hits) / len(hits) if hits else None
        counts[question_type] = len(hits)
    results["overall"] = sum(correct) / len(correct)
    results["num_items"] = len(questions)
    results["num_items_by_type"] = counts
    return results


def evaluate_negbench_models(models: dict, processor, questions: Sequence[dict]) -> dict[str, dict]:
    """`evaluate_negbench` of each model (CLIP or NegCLIP) with one processor: {name: results}."""
    return {name: evaluate_negbench(TextImageScorer(model, processor), questions) for name, model in models.items()}


def format_negbench_table(results: dict[str, dict]) -> str:
    """Markdown table: one column per model, one row per question type and overall."""
    return format_table(results, [*NEGBENCH_QUESTION_TYPES.values(), "overall"], title="NegBench VOC2007 MCQ")
