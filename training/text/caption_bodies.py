"""Affirmative captions written by people (`../shared/data/captions/`): the bodies negations are composed into.

Flickr30k (Multi30k's English captions), one COCO caption per image and Conceptual Captions' validation part,
read as whitespace-split words. A caption holding a negation cue word (`modeling_negclip.negation_cues`, whole
words or an "n't" contraction) is left out: its labels would be unknown. A fixed fifth of the captions, by a
hash of the caption's text (`caption_split_of`), is the held-out part that is never trained on.

Noun phrases for the negated slots are mined from the same captions (`mine_noun_phrases`): a determiner or
number, then up to three words before the next function word or punctuation ("a pink dress", "two dogs",
"the wooden bench"). Crude, but real vocabulary in real order, and only the training part's phrases train.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import os
import re
from functools import lru_cache
from pathlib import Path

from modeling_negclip.negation_cues import DEFAULT_NEGATION_CUE_WORDS

from .negation_real_data import _root
from .negation_vocab import NON_CONTENT_WORDS, word_core

CAPTIONS_DIR = "captions"
CAPTION_HELDOUT_FRACTION = 0.2
CAPTION_SOURCES = ("flickr30k", "coco", "conceptual")
# Cue words that are also everyday caption words and hold no negation there.
_HARMLESS_CUES = frozenset({"rather", "free", "won", "don", "minus", "instead"})
_CUE_CORES = frozenset(DEFAULT_NEGATION_CUE_WORDS) - _HARMLESS_CUES
DETERMINERS = frozenset("a an the two three four several some many his her their its".split())
_WORDLIKE = re.compile(r"^[a-z][a-z'-]*$")


def has_negation_cue(words: list[str]) -> bool:
    """True if a word is a negation cue word or an "n't" contraction (curly apostrophes included)."""
    cores = [word_core(word) for word in words]
    return any(core in _CUE_CORES or core.endswith("n't") for core in cores)


def caption_split_of(text: str, heldout_fraction: float = CAPTION_HELDOUT_FRACTION) -> str:
    """"heldout" for a fixed fraction of captions (md5 of the lower-cased text), else "train"."""
    digest = hashlib.md5(text.strip().lower().encode("utf-8")).digest()
    return "heldout" if int.from_bytes(digest[:4], "big") / 2**32 < heldout_fraction else "train"


def _read_source(folder: Path, source: str) -> list[str]:
    if source == "flickr30k":
        lines = []
        for path in sorted((folder / "flickr30k").glob("train.*.en.gz")):
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                lines.extend(handle.read().splitlines())
        return lines
    if source == "coco":
        with (folder / "coco_captions_26k.csv").open(newline="", encoding="utf-8") as handle:
            return [row["caption"] for row in csv.DictReader(handle)]
    if source == "conceptual":
        return (folder / "conceptual_captions_val.txt").read_text(encoding="utf-8").splitlines()
    raise ValueError(f"caption source must be one of {CAPTION_SOURCES}, got {source!r}")


@lru_cache(maxsize=8)
def _read_bodies(folder: str, min_words: int, max_words: int) -> tuple[tuple[str, tuple[str, ...]], ...]:
    bodies = []
    for source in CAPTION_SOURCES:
        for line in _read_source(Path(folder), source):
            words = line.split()
            if min_words <= len(words) <= max_words and not has_negation_cue(words):
                bodies.append((source, tuple(words)))
    return tuple(bodies)


def read_caption_bodies(
    split: str, root: str | os.PathLike | None = None, min_words: int = 4, max_words: int = 30
) -> list[list[str]]:
    """Word lists of the cue-free human captions of one part ("train" or "heldout"), in file order."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    folder = _root(root) / CAPTIONS_DIR
    if not folder.is_dir():
        raise FileNotFoundError(f"caption folder not found: {folder}")
    return [list(words) for _, words in _read_bodies(str(folder), min_words, max_words)
            if caption_split_of(" ".join(words)) == split]


def _drop_verb_tail(phrase: list[str]) -> list[str]:
    """Cut a verb the phrase ran into: "a policeman stands", "the street carrying", "a glass cage filled"."""
    while len(phrase) > 2 and (
        phrase[-1].endswith(("ing", "ed")) or (phrase[0] in ("a", "an") and re.search(r"[^s]s$", phrase[-1]))
    ):
        phrase = phrase[:-1]
    return phrase


def mine_noun_phrases(bodies: list[list[str]], max_words: int = 3) -> list[list[str]]:
    """Distinct noun phrases: a determiner, then 1 to `max_words` plain lower-case words up to a function word or
    punctuation; the phrase must end in a content word. Order of first appearance."""
    seen, phrases = set(), []
    for words in bodies:
        for start, word in enumerate(words):
            if word.lower() not in DETERMINERS:
                continue
            phrase = [word.lower()]
            for nxt in words[start + 1 : start + 1 + max_words]:
                core = nxt.lower()
                if core in NON_CONTENT_WORDS or not _WORDLIKE.match(core):
                    clean = word_core(nxt)
                    if clean and clean not in NON_CONTENT_WORDS and _WORDLIKE.match(clean) and nxt[-1] in ".,;":
                        phrase.append(clean)  # "the yard." -> "the yard"
                    break
                phrase.append(core)
            phrase = _drop_verb_tail(phrase)
            if len(phrase) > 1 and phrase[-1] not in NON_CONTENT_WORDS and tuple(phrase) not in seen:
                seen.add(tuple(phrase))
                phrases.append(phrase)
    return phrases


__all__ = ["CAPTION_SOURCES", "caption_split_of", "has_negation_cue", "mine_noun_phrases", "read_caption_bodies"]
