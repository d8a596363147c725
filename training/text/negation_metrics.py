"""Metrics on word-level negation labels (0 affirmed, 1 negation cue, 2 negated; -100 ignored).

All functions are pure and take sequences of per-prompt label lists, gold first, prediction second.

- `word_label_scores`: precision / recall / F1 per label over all words whose gold label is not -100
  (`sklearn.metrics.precision_recall_fscore_support`), with macro F1 and accuracy.
- `prompt_exact_match`: the fraction of prompts whose positive string, negated string, and both, equal
  the gold ones exactly (the strings are the words of each label joined by single spaces).
- `content_word_placement`: the fraction of prompts whose content words (not `NON_CONTENT_WORDS`) are all
  predicted negated exactly where gold says so, whatever happens to function words.
- `negbench_placement`: on partially labelled captions (gold 0 on the affirmed object's words, 2 on the
  negated object's, -100 elsewhere), the fraction of captions with a negated object where every one of
  its words is predicted negated (so none lands in the positive prompt), the same for affirmed objects
  predicted affirmed, and the fraction of captions where every gold-labelled word is placed right.
- `cdsco_scores`: *SEM 2012 CD-SCO style token scores. Cue F1 is precision/recall/F1 of label 1 over
  words, scope-token F1 that of label 2, both counted over every word of the test set except
  punctuation tokens (the official scorer ignores punctuation). This is token-level: unlike
  `eval.cd-sco.pl` it neither requires a whole multiword cue to match nor counts a word twice when it
  lies in two scopes (our labels are the union of the sentence's negations, a cue taking precedence),
  so it is close to, not the same as, the official "scope tokens" measure and not the official
  cue-level measure.
"""

from __future__ import annotations

import re
from typing import Sequence

from sklearn.metrics import precision_recall_fscore_support

from modeling_negclip.configuration_negclip import IGNORE_INDEX, NEGATION_LABELS
from modeling_negclip.configuration_negclip import AFFIRMED_ID as AFFIRMED, NEGATED_ID as NEGATED, NEGATION_CUE_ID as CUE

from .negation_vocab import NON_CONTENT_WORDS, word_core

LABEL_NAMES = NEGATION_LABELS
_PUNCTUATION = re.compile(r"^[^\w]+$")


def _flatten(gold: Sequence[Sequence[int]], pred: Sequence[Sequence[int]], keep=None) -> tuple[list[int], list[int]]:
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sequences but {len(pred)} predicted ones")
    flat_gold, flat_pred = [], []
    for index, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sequence {index}: {len(g)} gold labels but {len(p)} predicted")
        for position, (gl, pl) in enumerate(zip(g, p)):
            if gl == IGNORE_INDEX or (keep is not None and not keep(index, position)):
                continue
            flat_gold.append(int(gl))
            flat_pred.append(int(pl))
    return flat_gold, flat_pred


def word_label_scores(gold: Sequence[Sequence[int]], pred: Sequence[Sequence[int]]) -> dict[str, float]:
    """Per-label precision/recall/F1/support (keys like "negated_f1"), "macro_f1" and "accuracy"."""
    flat_gold, flat_pred = _flatten(gold, pred)
    precision, recall, f1, support = precision_recall_fscore_support(
        flat_gold, flat_pred, labels=[AFFIRMED, CUE, NEGATED], average=None, zero_division=0
    )
    scores: dict[str, float] = {}
    for k, name in enumerate(LABEL_NAMES):
        scores[f"{name}_precision"] = float(precision[k])
        scores[f"{name}_recall"] = float(recall[k])
        scores[f"{name}_f1"] = float(f1[k])
        scores[f"{name}_support"] = int(support[k])
    scores["macro_f1"] = float(f1.mean())
    scores["accuracy"] = sum(g == p for g, p in zip(flat_gold, flat_pred)) / max(len(flat_gold), 1)
    return scores


def split_strings(words: Sequence[str], labels: Sequence[int]) -> tuple[str, str]:
    """(positive, negated): the words labelled 0, and those labelled 2, each joined by single spaces."""
    positive = " ".join(w for w, label in zip(words, labels) if label == AFFIRMED)
    negated = " ".join(w for w, label in zip(words, labels) if label == NEGATED)
    return positive, negated


def prompt_exact_match(
    words: Sequence[Sequence[str]], gold: Sequence[Sequence[int]], pred: Sequence[Sequence[int]]
) -> dict[str, float]:
    """Fractions of prompts with the exact positive string, negated string, and both."""
    if not (len(words) == len(gold) == len(pred)):
        raise ValueError("words, gold and pred must have one entry per prompt")
    positive = negated = both = 0
    for w, g, p in zip(words, gold, pred):
        gold_pos, gold_neg = split_strings(w, g)
        pred_pos, pred_neg = split_strings(w, p)
        positive += gold_pos == pred_pos
        negated += gold_neg == pred_neg
        both += gold_pos == pred_pos and gold_neg == pred_neg
    n = max(len(words), 1)
    return {"positive_exact_match": positive / n, "negated_exact_match": negated / n, "exact_match": both / n}


def content_word_placement(
    words: Sequence[Sequence[str]], gold: Sequence[Sequence[int]], pred: Sequence[Sequence[int]]
) -> dict[str, float]:
    """The fraction of prompts whose every content word lands on the right side: in the negated part or not.

    Content words are those outside `negation_vocab.NON_CONTENT_WORDS` (determiners, prepositions, auxiliaries,
    negation words...), so this ignores where the cue's function words go ("[can be seen]", "[and has] no") and
    asks what decides CLIP's two encodings: which nouns, attributes and actions are negated."""
    if not (len(words) == len(gold) == len(pred)):
        raise ValueError("words, gold and pred must have one entry per prompt")
    right = 0
    for w, g, p in zip(words, gold, pred):
        right += all(
            (gl == NEGATED) == (pl == NEGATED)
            for word, gl, pl in zip(w, g, p)
            if gl != IGNORE_INDEX and word_core(word) not in NON_CONTENT_WORDS
        )
    return {"content_placement": right / max(len(words), 1)}


def content_split(
    words: Sequence[Sequence[str]], gold: Sequence[Sequence[int]], pred: Sequence[Sequence[int]]
) -> dict[str, float]:
    """`split_right`: the fraction of prompts whose every gold-negated content word is predicted negated (so it is in
    the negated part and not the positive one) and every gold-affirmed content word predicted affirmed (in the
    positive part, not the negated one). Content words are those outside `NON_CONTENT_WORDS`; words labelled -100
    or as cues are not counted. This is the measure of a split on real text: it asks what decides CLIP's two
    encodings, whatever happens to the cue's function words."""
    if not (len(words) == len(gold) == len(pred)):
        raise ValueError("words, gold and pred must have one entry per prompt")
    right = 0
    for w, g, p in zip(words, gold, pred):
        right += all(
            pl == gl
            for word, gl, pl in zip(w, g, p)
            if gl in (AFFIRMED, NEGATED) and word_core(word) not in NON_CONTENT_WORDS
        )
    return {"split_right": right / max(len(words), 1), "num_prompts": len(words)}


def negbench_placement(gold: Sequence[Sequence[int]], pred: Sequence[Sequence[int]]) -> dict[str, float]:
    """Object placement on partially labelled NegBench captions.

    Returns `negated_placement` (over captions with a negated gold object: every word of every negated
    object predicted 2), `affirmed_placement` (over captions with an affirmed object: every word of
    every affirmed object predicted 0), `all_placement` (over all captions with a gold object: both),
    and the numbers of captions behind each.
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sequences but {len(pred)} predicted ones")
    counts = {"negated": [0, 0], "affirmed": [0, 0], "all": [0, 0]}  # [correct, total]
    for g, p in zip(gold, pred):
        if len(g) != len(p):
            raise ValueError("gold and predicted label sequences differ in length")
        negated_ok = all(pl == NEGATED for gl, pl in zip(g, p) if gl == NEGATED)
        affirmed_ok = all(pl == AFFIRMED for gl, pl in zip(g, p) if gl == AFFIRMED)
        has_negated, has_affirmed = NEGATED in g, AFFIRMED in g
        for key, present, ok in (
            ("negated", has_negated, negated_ok),
            ("affirmed", has_affirmed, affirmed_ok),
            ("all", has_negated or has_affirmed, negated_ok and affirmed_ok),
        ):
            if present:
                counts[key][0] += ok
                counts[key][1] += 1
    result: dict[str, float] = {}
    for key, (correct, total) in counts.items():
        result[f"{key}_placement"] = correct / total if total else 0.0
        result[f"num_{key}"] = total
    return result


def _prf(gold: list[int], pred: list[int], label: int) -> tuple[float, float, float]:
    precision, recall, f1, _ = precision_recall_fscore_support(
        gold, pred, labels=[label], average=None, zero_division=0
    )
    return float(precision[0]), float(recall[0]), float(f1[0])


def cdsco_scores(
    words: Sequence[Sequence[str]],
    gold: Sequence[Sequence[int]],
    pred: Sequence[Sequence[int]],
    ignore_punctuation: bool = True,
) -> dict[str, float]:
    """Token-level cue P/R/F1 (label 1) and scope-token P/R/F1 (label 2), punctuation excluded."""
    keep = None
    if ignore_punctuation:
        keep = lambda i, j: not _PUNCTUATION.match(words[i][j])  # noqa: E731
    flat_gold, flat_pred = _flatten(gold, pred, keep)
    cue = _prf(flat_gold, flat_pred, CUE)
    scope = _prf(flat_gold, flat_pred, NEGATED)
    return {
        "cue_precision": cue[0], "cue_recall": cue[1], "cue_f1": cue[2],
        "scope_token_precision": scope[0], "scope_token_recall": scope[1], "scope_token_f1": scope[2],
        "num_tokens": len(flat_gold),
    }


__all__ = ["cdsco_scores", "content_split", "content_word_placement", "negbench_placement", "prompt_exact_match", "split_strings", "word_label_scores"]
