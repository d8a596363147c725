"""A keyword-and-boundary negation splitter: the rival the negation head must beat.

What a careful engineer would write in an afternoon: a cue lexicon matched on whole words (so
"knot", "notebook", "Nottingham", "never-ending" and "no-parking" are left alone), multiword cues
("but not", "rather than", "instead of", "free of", "except for"), any "...n't" contraction, the
function words of the project's label convention just before a cue ("there is no", "with no",
"that is not") and support verbs just after one ("doesn't have"), and post-nominal absence ("the cat
is not present", "with the cat missing") that negates the noun phrase before it. The negated scope
runs forward from the cue to a boundary: a conjunction or preposition, a relative pronoun, another
cue, or a word carrying punctuation (included) / a punctuation token (excluded).

It knows no idioms: "nothing but soup", "not only X but also Y" and "no. 5" get a cue ("not only a
cat" even a negated "only a cat"), where the gold labels are all affirmed.

`python -m training.evaluate_negation_head --regex-only` prints its scores on every set the head is measured on.
"""

from __future__ import annotations

from modeling_negclip.configuration_negclip import AFFIRMED_ID as AFFIRMED, NEGATED_ID as NEGATED, NEGATION_CUE_ID as CUE

from .negation_vocab import word_core


CUE_WORDS = frozenset(
    "no not never none nobody nothing nowhere neither nor without except lacking lacks lack absent missing cannot".split()
)
MULTIWORD_CUES = (("but", "not"), ("rather", "than"), ("instead", "of"), ("free", "of"), ("except", "for"))
# Words just before a cue that only carry it ("there is no", "with no", "that is not", "and no").
LEAD_WORDS = frozenset("there is are was were that which who where with and but it".split())
SUPPORT_VERBS = frozenset("have has had contain contains include includes show shows feature features".split())
ABSENCE_TAILS = (("is", "not", "present"), ("are", "not", "present"), ("is", "absent"), ("are", "absent"),
                 ("is", "missing"), ("are", "missing"), ("is", "nowhere", "to", "be", "seen"), ("absent",), ("missing",))
BOUNDARY_WORDS = frozenset(
    "and but or with in on at from near under behind beside while that which who where whose because is are was were".split()
)


def _is_cue(core: str) -> bool:
    return core in CUE_WORDS or core.endswith("n't")


def regex_word_labels(words: list[str]) -> list[int]:
    """Word labels (0 affirmed, 1 cue, 2 negated) for a list of words."""
    cores = [word_core(word) for word in words]
    labels = [AFFIRMED] * len(words)
    i = 0
    while i < len(words):
        tail = next((t for t in ABSENCE_TAILS if tuple(cores[i : i + len(t)]) == t), None)
        end = i + len(tail) if tail else i
        ends_clause = tail is not None and (end == len(words) or words[end - 1][-1] in ",.;" or cores[end] in BOUNDARY_WORDS)
        if tail and ends_clause and i > 0:  # "(where) the cat is not present": the phrase before is negated
            labels[i : i + len(tail)] = [CUE] * len(tail)
            j = i - 1
            while j >= 0 and cores[j] not in BOUNDARY_WORDS and cores[j] and not (j < i - 1 and words[j][-1] in ",.;"):
                labels[j] = NEGATED
                j -= 1
            if j >= 0 and cores[j] in ("where", "with"):
                labels[j] = CUE
            i += len(tail)
            continue
        width = next((len(m) for m in MULTIWORD_CUES if tuple(cores[i : i + len(m)]) == m), 1 if _is_cue(cores[i]) else 0)
        if not width:
            i += 1
            continue
        labels[i : i + width] = [CUE] * width
        j = i - 1
        while j >= 0 and i - j <= 3 and cores[j] in LEAD_WORDS and labels[j] == AFFIRMED and words[j][-1] not in ",.;":
            labels[j] = CUE
            j -= 1
        i += width
        while i < len(words) and cores[i] in SUPPORT_VERBS:
            labels[i] = CUE
            i += 1
        if words[i - 1][-1] in ",.;":
            continue
        while i < len(words) and cores[i] and cores[i] not in BOUNDARY_WORDS and not _is_cue(cores[i]):
            if any(cores[i : i + len(m)] == list(m) for m in MULTIWORD_CUES):
                break
            labels[i] = NEGATED
            i += 1
            if words[i - 1][-1] in ",.;:":
                break
    return labels


def regex_labels_batch(words_batch: list[list[str]]) -> list[list[int]]:
    """`regex_word_labels` of each word list: the baseline as an evaluation predictor."""
    return [regex_word_labels(words) for words in words_batch]


def split_prompt(prompt: str) -> tuple[str, str, list[str]]:
    """(positive prompt, negated words, cue words) of a prompt, by `regex_word_labels`."""
    words = prompt.split()
    labels = regex_word_labels(words)
    positive = " ".join(w for w, label in zip(words, labels) if label == AFFIRMED)
    negated = " ".join(w for w, label in zip(words, labels) if label == NEGATED)
    return positive, negated, [w for w, label in zip(words, labels) if label == CUE]


__all__ = ["regex_labels_batch", "regex_word_labels", "split_prompt"]
