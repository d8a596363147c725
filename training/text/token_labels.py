"""Word labels <-> CLIP BPE token labels, through the fast tokenizer's character offsets.

The words are joined with single spaces into the text CLIP sees; each token's `(start, end)`
character span (`return_offsets_mapping=True`) falls inside exactly one word, whose label it takes.
CLIP's pre-tokenizer splits a word into several tokens ("isn't" -> "isn" + "'t", "kitchen." ->
"kitchen" + "."): all of them get the word's label. The start/end tokens and padding get -100 (ignored
by the loss), and so does every token of a word whose label is -100 (a partially labelled caption).
Words cut off by truncation to 77 tokens have no token.

Going back (`word_labels_from_tokens`), a word takes the label of its first token ("first", the
default: the first sub-token is always present, even when a long word is split at the truncation
edge) or the most frequent label over its tokens ("majority", ties to the first token's label).
A word without any token (truncated) gets `missing_label`.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from modeling_negclip.configuration_negclip import IGNORE_INDEX


def word_char_spans(words: Sequence[str]) -> list[tuple[int, int]]:
    """`(start, end)` of each word in `" ".join(words)`."""
    spans, start = [], 0
    for word in words:
        spans.append((start, start + len(word)))
        start += len(word) + 1
    return spans


def token_word_ids(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> list[int | None]:
    """Index of the word holding each token, None for special tokens and padding (empty spans)."""
    word_ids: list[int | None] = []
    word = 0
    for start, end in offsets:
        if end <= start:
            word_ids.append(None)
            continue
        while word < len(spans) and spans[word][1] <= start:  # offsets increase along the sequence
            word += 1
        if word >= len(spans) or start < spans[word][0]:
            word_ids.append(None)
        else:
            word_ids.append(word)
    return word_ids


def tokenize_and_align(
    tokenizer,
    words_batch: Sequence[Sequence[str]],
    labels_batch: Sequence[Sequence[int]] | None = None,
    max_length: int = 77,
    padding: bool | str = False,
    return_offsets: bool = False,
) -> dict[str, list]:
    """Tokenize word lists for CLIP and spread the word labels over their tokens.

    Args:
        tokenizer: a *fast* CLIP tokenizer (`training.text.clip_tokenizer.load_clip_tokenizer()`).
        words_batch: one list of words per prompt; they are joined by single spaces.
        labels_batch: one label per word (0, 1, 2 or -100), or None to tokenize only.
        max_length: truncation length (CLIP's 77, the end token included).
        padding: as for the tokenizer (`False`, `"longest"`, `"max_length"`); `token_labels` are padded with -100.
        return_offsets: also return `offset_mapping` and `word_ids` (for `word_labels_from_tokens`).

    Returns:
        `input_ids`, `attention_mask` and, with labels, `token_labels` (lists, one per prompt).
    """
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("tokenize_and_align needs a fast tokenizer (character offsets)")
    if labels_batch is not None and len(labels_batch) != len(words_batch):
        raise ValueError(f"{len(words_batch)} word lists but {len(labels_batch)} label lists")
    texts = [" ".join(words) for words in words_batch]
    encoding = tokenizer(
        texts, truncation=True, max_length=max_length, padding=padding, return_offsets_mapping=True
    )
    result = {"input_ids": encoding["input_ids"], "attention_mask": encoding["attention_mask"]}
    word_ids_batch = [
        token_word_ids(offsets, word_char_spans(words))
        for offsets, words in zip(encoding["offset_mapping"], words_batch)
    ]
    if labels_batch is not None:
        token_labels = []
        for words, labels, word_ids in zip(words_batch, labels_batch, word_ids_batch):
            if len(labels) != len(words):
                raise ValueError(f"{len(words)} words but {len(labels)} labels: {words!r}")
            token_labels.append([IGNORE_INDEX if w is None else int(labels[w]) for w in word_ids])
        result["token_labels"] = token_labels
    if return_offsets:
        result["offset_mapping"] = encoding["offset_mapping"]
        result["word_ids"] = word_ids_batch
    return result


def word_labels_from_tokens(
    token_predictions: Sequence[int],
    offsets: Sequence[tuple[int, int]],
    words: Sequence[str],
    strategy: str = "first",
    missing_label: int = 0,
) -> list[int]:
    """Word labels from token-level predicted label ids and the tokens' character offsets.

    `strategy="first"` takes each word's first token, `"majority"` the most frequent label over its
    tokens (ties go to the first token). Special tokens and padding (empty offsets) are skipped;
    words with no token (cut by truncation) get `missing_label`.
    """
    if strategy not in ("first", "majority"):
        raise ValueError(f"strategy must be 'first' or 'majority', got {strategy!r}")
    per_word: list[list[int]] = [[] for _ in words]
    for prediction, word in zip(token_predictions, token_word_ids(offsets, word_char_spans(words))):
        if word is not None:
            per_word[word].append(int(prediction))
    labels = []
    for predictions in per_word:
        if not predictions:
            labels.append(missing_label)
        elif strategy == "first":
            labels.append(predictions[0])
        else:
            counts = Counter(predictions)
            best = max(counts.values())
            labels.append(next(p for p in predictions if counts[p] == best))
    return labels


__all__ = ["IGNORE_INDEX", "tokenize_and_align", "token_word_ids", "word_char_spans", "word_labels_from_tokens"]
