"""The negation head beside the regex baseline, on the same held-out data.

    python -m training.evaluate_negation_head --model outputs/quickstart/negclip [--no-cue-gate]
    python -m training.evaluate_negation_head --regex-only          # the regex baseline alone

- synthetic held-out split (templates and nouns never trained on): word-label F1, prompt-level
  exact match of the positive and negated strings, and content-word placement (function words aside);
- NegBench VOC2007 evaluation part (LLM-rephrased captions, never trained on): does the negated
  object land in the negated part, the affirmed object in the positive part;
- *SEM 2012 CD-SCO test (hand-annotated fiction): cue F1 and scope-token F1;
- hand-written natural prompts (`natural_prompts`, shipped with the code): exact match of both split strings;
- hand-written long captions and list queries (`long_prompts.tsv`, shipped with the code);
- NegBench MSR-VTT and synthetic evaluation parts (`negbench_captions`), SFU Review's test part (`sfu_review`);
- composed captions on the held-out human captions (`negation_composer`): a report, shaped like training data.
On every set with word labels, `split_right` (`negation_metrics.content_split`): every gold negated content word
in the negated part and none in the positive part, and the reverse for affirmed content words.
The real sets are read from the shared data folder and skipped, with a note, when it is absent.
"""

from __future__ import annotations

import argparse
import json

import torch

from .sharing.model_paths import check_model_path
from .text.negation_composer import composed_rows
from .text.negation_data import generate_records
from .text.negation_metrics import (
    cdsco_scores,
    content_split,
    content_word_placement,
    negbench_placement,
    prompt_exact_match,
    word_label_scores,
)
from .text.natural_prompts import long_prompt_scores, natural_prompt_scores, read_long_prompts, read_natural_prompts
from .text.negbench_captions import read_msrvtt_captions, read_synthetic_captions
from .text.negation_real_data import read_cdsco, read_negbench_voc2007
from .text.sfu_review import read_sfu
from .text.regex_baseline import regex_labels_batch
from .text.token_labels import tokenize_and_align, word_labels_from_tokens


@torch.no_grad()
def predict_word_labels(model, tokenizer, words_batch: list[list[str]], batch_size: int = 256) -> list[list[int]]:
    """The head's word labels: each word takes its first BPE token's tag."""
    model.eval()
    device = next(model.parameters()).device
    predictions = []
    for start in range(0, len(words_batch), batch_size):
        chunk = words_batch[start : start + batch_size]
        encoded = tokenize_and_align(tokenizer, chunk, padding="longest", return_offsets=True)
        input_ids = torch.tensor(encoded["input_ids"], device=device)
        attention_mask = torch.tensor(encoded["attention_mask"], device=device)
        token_logits, _ = model.get_token_logits(input_ids, attention_mask)
        tags = model.tag_tokens(token_logits, input_ids, attention_mask).tolist()
        for row, words in enumerate(chunk):
            predictions.append(word_labels_from_tokens(tags[row], encoded["offset_mapping"][row], words))
    return predictions


def _heldout_scores(records: list[dict], pred) -> dict:
    words, gold = [r["words"] for r in records], [r["labels"] for r in records]
    return {**prompt_exact_match(words, gold, pred), **content_word_placement(words, gold, pred),
            **content_split(words, gold, pred), **word_label_scores(gold, pred)}


def _labelled_scores(scores):
    """A scorer of records with gold word `labels` from a metric of (words, gold labels, predicted labels)."""
    return lambda records, pred: scores([r["words"] for r in records], [r["labels"] for r in records], pred)


# Each set's scorer: (records, predicted word labels) -> scores. Natural prompts are scored on their gold strings.
SCORERS = {
    "synthetic_heldout": _heldout_scores,
    "composed_heldout": _heldout_scores,
    "natural_prompts": natural_prompt_scores,
    "long_prompts": long_prompt_scores,
    "negbench_eval": _labelled_scores(lambda words, gold, pred: {**negbench_placement(gold, pred), **content_split(words, gold, pred)}),
    "msrvtt_eval": _labelled_scores(content_split),
    "synthetic_eval": _labelled_scores(content_split),
    "cdsco_test": _labelled_scores(cdsco_scores),
    "sfu_test": _labelled_scores(cdsco_scores),
}
# The real sets: name -> reader of its evaluation part (FileNotFoundError when the shared data is absent).
REAL_SETS = {
    "negbench_eval": lambda d: [r for r in read_negbench_voc2007(d) if r["split"] == "eval" and not r["unlocated_objects"]],
    "msrvtt_eval": lambda d: [r for r in read_msrvtt_captions(d) if r["split"] == "eval" and r["located"]],
    "synthetic_eval": lambda d: [r for r in read_synthetic_captions(d) if r["split"] == "eval" and r["located"]],
    "cdsco_test": lambda d: read_cdsco("test", d),
    "sfu_test": lambda d: read_sfu("test", d),
    "composed_heldout": lambda d: composed_rows(2000, 0, "heldout", d),
}


def evaluation_sets(num_heldout: int = 2000, seed: int = 0, data_dir=None) -> tuple[dict[str, list[dict]], list[str]]:
    """`({set name: records}, skipped)`: every record has `words`; the real sets are skipped, with a note, when
    their files are absent."""
    sets = {"synthetic_heldout": generate_records(num_heldout, seed, "heldout"), "natural_prompts": read_natural_prompts(),
            "long_prompts": read_long_prompts()}
    skipped = []
    for name, read in REAL_SETS.items():
        try:
            sets[name] = read(data_dir)
        except FileNotFoundError as error:
            skipped.append(f"{name}: {error}")
    return sets, skipped


def evaluate_predictors(predictors: dict, num_heldout: int = 2000, seed: int = 0, data_dir=None) -> dict:
    """`{set name: {predictor name: scores}}` plus `skipped`; a predictor maps a list of word lists to word labels."""
    sets, skipped = evaluation_sets(num_heldout, seed, data_dir)
    results: dict = {}
    for name, records in sets.items():
        words = [list(r["words"]) for r in records]
        results[name] = {label: SCORERS[name](records, predict(words)) for label, predict in predictors.items()}
    results["skipped"] = skipped
    return results


def evaluate_head_and_regex(model, tokenizer, num_heldout: int = 2000, seed: int = 0, data_dir=None) -> dict:
    """`{set name: {"head": scores, "regex": scores}}` plus `skipped` for sets whose files are absent."""
    predictors = {
        "head": lambda words: predict_word_labels(model, tokenizer, words),
        "regex": regex_labels_batch,
    }
    return evaluate_predictors(predictors, num_heldout, seed, data_dir)


HEADLINE = {
    "natural_prompts": ("split_right", "exact_match"),
    "long_prompts": ("split_right", "set_long_caption_split_right", "set_list_query_split_right", "exact_match"),
    "negbench_eval": ("split_right",),
    "msrvtt_eval": ("split_right",),
    "synthetic_eval": ("split_right",),
    "cdsco_test": ("cue_f1", "scope_token_f1"),
    "sfu_test": ("cue_f1", "scope_token_f1"),
    "composed_heldout": ("split_right", "exact_match"),
    "synthetic_heldout": ("split_right", "exact_match"),
}


def format_head_table(results: dict, predictors: tuple[str, ...] = ("head", "regex")) -> str:
    """Markdown table: one row per (set, metric), one column per predictor; "-" for a metric that results saved
    by an earlier version of this evaluation lack."""

    def cell(scores: dict, metric: str) -> str:
        return f"{scores[metric]:.4f}" if metric in scores else "-"

    lines = [f"| set | metric | {' | '.join(predictors)} |", "|---|---|" + "---|" * len(predictors)]
    for name, metrics in HEADLINE.items():
        if name in results:
            for metric in metrics:
                cells = " | ".join(cell(results[name][label], metric) for label in predictors)
                lines.append(f"| {name} | {metric} | {cells} |")
    lines += [f"skipped: {note}" for note in results.get("skipped", [])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    from transformers import AutoModel, AutoTokenizer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="NegCLIP checkpoint dir or Hub id (required unless --regex-only)")
    parser.add_argument("--regex-only", action="store_true", help="score the regex baseline alone, no model")
    parser.add_argument("--num-heldout", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-cue-gate", action="store_true",
                        help="turn the checkpoint's cue gate off: the head tags every prompt")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    if args.regex_only:
        results = evaluate_predictors({"regex": regex_labels_batch}, args.num_heldout, args.seed, args.data_dir)
        print(format_head_table(results, predictors=("regex",)))
        return _write(results, args.out)
    if not args.model:
        parser.error("--model is required unless --regex-only")
    try:
        check_model_path(args.model)
    except OSError as error:
        parser.error(str(error))
    model = AutoModel.from_pretrained(args.model, trust_remote_code=True)
    tokenizer = AutoTokenizer.from_pretrained(args.model, trust_remote_code=True)
    if args.no_cue_gate:
        model.set_negation_cue_words(tokenizer, None)
    results = evaluate_head_and_regex(model, tokenizer, args.num_heldout, args.seed, args.data_dir)
    print(format_head_table(results))
    return _write(results, args.out)


def _write(results: dict, path: str | None) -> dict:
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return results


if __name__ == "__main__":
    main()
