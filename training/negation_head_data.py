"""Training data for the negation head: word-labelled prompts from every source, one collator.

Sources (all as `words` + `labels` columns, -100 for words the loss ignores):
- the synthetic generator (`negation_data`), train split only;
- NegBench VOC2007's train part with partial labels (only the gold object words), when the shared
  data folder is present; its evaluation part is never trained on;
- optional shapes-world negated captions, so a head on a shapes-world CLIP knows that world's words.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from datasets import Dataset, Features, Sequence, Value, concatenate_datasets

from .negation_captions import sample_negated_caption
from .negation_data import generate_records
from .negation_real_data import read_negbench_voc2007
from .shapes_world import affirmative_caption, caption_words, sample_scenes
from .token_labels import tokenize_and_align

WORD_COLUMNS = ("words", "labels")


def as_word_dataset(rows: list[dict]) -> Dataset:
    """A `words` + `labels` dataset (labels may hold -100 for ignored words)."""
    features = Features({"words": Sequence(Value("string")), "labels": Sequence(Value("int64"))})
    return Dataset.from_dict({k: [r[k] for r in rows] for k in WORD_COLUMNS}, features=features)


def synthetic_rows(n: int, seed: int, split: str) -> list[dict]:
    return [{"words": r["words"], "labels": r["labels"]} for r in generate_records(n, seed, split)]


def negbench_rows(split: str, data_dir: str | None = None) -> list[dict]:
    """NegBench captions of one part ("train" or "eval") whose gold objects were all located."""
    records = read_negbench_voc2007(data_dir)
    return [r for r in records if r["split"] == split and not r["unlocated_objects"]]


def world_caption_rows(n: int, seed: int) -> list[dict]:
    """Shapes-world negated and affirmative captions with gold labels (true and false captions alike)."""
    rng = random.Random(f"negclip-world-captions-{seed}")
    rows = []
    for scene in sample_scenes(n, seed):
        if rng.random() < 0.25:
            words, labels = caption_words(affirmative_caption(scene, rng))
        else:
            record = sample_negated_caption(scene, rng, truth=rng.random() < 0.5)
            words, labels = record["words"], record["labels"]
        rows.append({"words": words, "labels": labels})
    return rows


def build_head_training_set(
    num_synthetic: int, seed: int, use_negbench: bool = True, num_world_captions: int = 0, data_dir: str | None = None
) -> tuple[Dataset, dict[str, int]]:
    """The shuffled union of the sources and how many rows each gave."""
    parts = {"synthetic": synthetic_rows(num_synthetic, seed, "train")}
    if use_negbench:
        try:
            parts["negbench_train"] = [{"words": r["words"], "labels": r["labels"]} for r in negbench_rows("train", data_dir)]
        except FileNotFoundError:
            parts["negbench_train"] = []
    if num_world_captions:
        parts["world_captions"] = world_caption_rows(num_world_captions, seed)
    counts = {name: len(rows) for name, rows in parts.items()}
    dataset = concatenate_datasets([as_word_dataset(rows) for rows in parts.values() if rows]).shuffle(seed=seed)
    return dataset, counts


@dataclass
class NegationHeadCollator:
    """Tokenise word lists with the fast CLIP tokenizer and spread word labels over BPE tokens."""

    tokenizer: object
    max_length: int = 77

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        encoded = tokenize_and_align(
            self.tokenizer, [r["words"] for r in rows], [r["labels"] for r in rows], self.max_length, padding="longest"
        )
        batch = {key: torch.tensor(value) for key, value in encoded.items()}
        return {**batch, "encode_split": False}  # the token loss needs no positive/negated encoding
