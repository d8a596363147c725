"""Hand-written natural prompts with their gold split: the head and the regex on language nobody generated.

`natural_prompts.tsv` (columns `set`, `prompt`, `positive`, `negated`) holds 184 short prompts of the kind
people type into an image search ("a man riding a horse without a saddle", "a cat, not a dog, on the
sofa", "a plate with nothing but crumbs"), each with the positive and negated strings the prompt
convention of `negation_data` gives (cue words in neither; an empty `negated` for prompts without
negation). They were written by hand in one sitting, before any head was run on them:
- sets `a` (87) and `c` (47) were never used to change data, templates or recipes;
- set `b` (50) was, once: its errors showed a transformer head letting a negated phrase run on into the
  affirmed phrase after it ("a skateboarder without a helmet doing a trick"). Train templates of that shape
  helped set `b` alone and were not kept; the LSTM head was then chosen on all three sets and the synthetic and
  real sets together. Read set `b`'s figures as a development set's.
A split counts as right only if both strings match exactly (words joined by single spaces); `split_right` counts
it right when every content word is on its side (`negation_metrics.content_split`, gold labels by aligning the
prompt's words with the two strings).

`long_prompts.tsv` (columns `set`, `annotated`) holds 85 long, multi-clause captions (`long_caption`) and queries
with negated lists (`list_query`), each word labelled in the template notation of `negation_data` ("A man [without]
<a hat, glasses,> [or] <tie> is standing ..."). They were written in one sitting, before any head was trained on
composed or real-caption data, and are never tuned on: a report, not a training set.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import re

from modeling_negclip.configuration_negclip import AFFIRMED_ID as AFFIRMED, NEGATED_ID as NEGATED, NEGATION_CUE_ID as CUE

from .negation_metrics import content_split, split_strings

NATURAL_PROMPTS_FILE = Path(__file__).with_name("natural_prompts.tsv")
LONG_PROMPTS_FILE = Path(__file__).with_name("long_prompts.tsv")
_ANNOTATED_PART = re.compile(r"\[([^\]]+)\]|<([^>]+)>|([^\s\[<]+)")


def labels_from_split(words: Sequence[str], positive: str, negated: str) -> list[int]:
    """Word labels whose positive and negated strings are the given ones (other words cues); the first such labelling
    in the order affirmed, negated, cue. Raises `ValueError` if there is none."""
    positive_words, negated_words = positive.split(), negated.split()

    def search(i: int, p: int, n: int) -> list[int] | None:
        if i == len(words):
            return [] if p == len(positive_words) and n == len(negated_words) else None
        for label, ok in ((AFFIRMED, p < len(positive_words) and words[i] == positive_words[p]),
                          (NEGATED, n < len(negated_words) and words[i] == negated_words[n]), (CUE, True)):
            if ok:
                rest = search(i + 1, p + (label == AFFIRMED), n + (label == NEGATED))
                if rest is not None:
                    return [label, *rest]
        return None

    labels = search(0, 0, 0)
    if labels is None:
        raise ValueError(f"{' '.join(words)!r} cannot give positive {positive!r} and negated {negated!r}")
    return labels


def parse_annotated(text: str) -> tuple[list[str], list[int]]:
    """Words and labels of a prompt in the template notation: `[cue words]`, `<negated words>`, other words affirmed."""
    words, labels = [], []
    for cue, negated, affirmed in _ANNOTATED_PART.findall(text):
        for part, label in ((cue, CUE), (negated, NEGATED), (affirmed, AFFIRMED)):
            for word in part.split():
                words.append(word)
                labels.append(label)
    return words, labels


def _read_tsv(path: str | Path, what: str) -> tuple[Path, list[dict]]:
    """(path, rows) of a tab-separated file with a header line; `FileNotFoundError` naming `what` if it is absent."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    with path.open(encoding="utf-8", newline="") as handle:
        return path, list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def read_long_prompts(path: str | Path = LONG_PROMPTS_FILE) -> list[dict]:
    """Records with `set`, `prompt`, `words`, `labels` (every word), `positive` and `negated`."""
    path, rows = _read_tsv(path, "long prompts")
    records = []
    for line, row in enumerate(rows, start=2):
        if None in row or not row.get("annotated", "").strip():
            raise ValueError(f"{path}:{line}: expected 2 tab-separated columns (set, annotated)")
        words, labels = parse_annotated(row["annotated"])
        positive, negated = split_strings(words, labels)
        records.append({"set": row["set"], "prompt": " ".join(words), "words": words, "labels": labels,
                        "positive": positive, "negated": negated})
    return records


def long_prompt_scores(records: Sequence[dict], pred: Sequence[Sequence[int]]) -> dict[str, float]:
    """`natural_prompt_scores` (with `split_right`, every record being labelled) and `split_right` per set."""
    scores = natural_prompt_scores(records, pred)
    for name in sorted({r["set"] for r in records}):
        chosen = [k for k, r in enumerate(records) if r["set"] == name]
        part = content_split([records[k]["words"] for k in chosen], [records[k]["labels"] for k in chosen],
                             [pred[k] for k in chosen])
        scores[f"set_{name}_split_right"] = part["split_right"]
    return scores


def read_natural_prompts(path: str | Path = NATURAL_PROMPTS_FILE) -> list[dict]:
    """Records with `set`, `prompt`, `words` (whitespace split), `labels` (from the two strings), `positive` and
    `negated`."""
    path, rows = _read_tsv(path, "natural prompts")
    records = []
    for line, row in enumerate(rows, start=2):
        if None in row or any(row.get(k) is None for k in ("set", "prompt", "positive", "negated")):
            raise ValueError(f"{path}:{line}: expected 4 tab-separated columns (set, prompt, positive, negated)")
        if not row["prompt"].strip():
            raise ValueError(f"{path}:{line}: empty prompt")
        words = row["prompt"].split()
        records.append({**row, "words": words, "labels": labels_from_split(words, row["positive"], row["negated"])})
    return records


def natural_prompt_scores(records: Sequence[dict], pred: Sequence[Sequence[int]]) -> dict[str, float]:
    """Exact match of both split strings: over all prompts, those with a negation, those without, and per set."""
    if len(records) != len(pred):
        raise ValueError(f"{len(records)} prompts but {len(pred)} predicted label lists")
    counts = {"all": [0, 0], "negated": [0, 0], "affirmative": [0, 0]}  # [right, total]
    for record, labels in zip(records, pred):
        right = split_strings(record["words"], labels) == (record["positive"], record["negated"])
        kind = "negated" if record["negated"] else "affirmative"
        for key in ("all", kind, f"set_{record['set']}"):
            counts.setdefault(key, [0, 0])
            counts[key][0] += right
            counts[key][1] += 1
    scores: dict[str, float] = {}
    for key, (right, total) in counts.items():
        name = "exact_match" if key == "all" else f"{key}_exact_match"
        scores[name] = right / total if total else 0.0
        scores[f"num_{key}"] = total
    if all("labels" in r for r in records):
        scores.update(content_split([r["words"] for r in records], [r["labels"] for r in records], pred))
    return scores


__all__ = [
    "LONG_PROMPTS_FILE", "NATURAL_PROMPTS_FILE", "labels_from_split", "long_prompt_scores", "natural_prompt_scores",
    "parse_annotated", "read_long_prompts", "read_natural_prompts",
]
