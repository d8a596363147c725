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
A split counts as right only if both strings match exactly (words joined by single spaces).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

from .negation_metrics import split_strings

NATURAL_PROMPTS_FILE = Path(__file__).with_name("natural_prompts.tsv")


def read_natural_prompts(path: str | Path = NATURAL_PROMPTS_FILE) -> list[dict]:
    """Records with `set`, `prompt`, `words` (whitespace split), `positive` and `negated`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"natural prompts file not found: {path}")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    records = []
    for line, row in enumerate(rows, start=2):
        if None in row or any(row.get(k) is None for k in ("set", "prompt", "positive", "negated")):
            raise ValueError(f"{path}:{line}: expected 4 tab-separated columns (set, prompt, positive, negated)")
        if not row["prompt"].strip():
            raise ValueError(f"{path}:{line}: empty prompt")
        records.append({**row, "words": row["prompt"].split()})
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
    return scores


__all__ = ["NATURAL_PROMPTS_FILE", "natural_prompt_scores", "read_natural_prompts"]
