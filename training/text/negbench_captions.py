"""NegBench's MSR-VTT and synthetic-image captions (`../shared/data/negbench_msrvtt`, `negbench_synthetic`), labelled
by aligning each LLM-written caption with what is known of it.

- MSR-VTT retrieval: each rephrased caption has `positive_concept1/2`, a `negative_concept` and the video's human
  caption (`msr_vtt_retrieval.csv`); words shared with the human caption are affirmed.
- Synthetic MCQ: four captions of two objects A and B, in a fixed order (A and B; A not B; B not A; neither),
  A and B read off the fourth ("Neither A nor B ...").
- Synthetic retrieval v2: an image's negated caption ("A desert with an armadillo, but no cactus next to it.")
  beside its positive one (`synthetic_retrieval_v1.csv`); B is negated, words shared with the positive caption
  affirmed.
MSR-VTT's MCQ files are not read: the rephrased questions do not line up with the templated ones (other concepts,
other order: "hiking" where the template has "marching"), so no caption there has a known negated concept.
A concept is found in a caption by its Porter stem (nltk), accents folded ("Pokémon" is "pokemon"); a concept
inside a hyphenated word ("dance-free") is not a word of its own and leaves the caption unlocated. Every located
word gets its label, every other word -100 (its role is not known). A fixed quarter of the videos and images, by
a hash of the video id or image number (`negbench_set_split_of`), is the evaluation part, never trained on.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

from nltk.stem import PorterStemmer

from modeling_negclip.configuration_negclip import IGNORE_INDEX
from modeling_negclip.configuration_negclip import AFFIRMED_ID as AFFIRMED, NEGATED_ID as NEGATED

from .negation_real_data import _read_csv, _root
from .negation_vocab import NON_CONTENT_WORDS

MSRVTT_DIR, SYNTHETIC_DIR = "negbench_msrvtt", "negbench_synthetic"
NEGBENCH_SET_EVAL_FRACTION = 0.25
_PREDICATE_WORDS = frozenset("is are was were can could appear appears seem seems in present included shown visible found to".split())
_NEITHER = re.compile(r"\b[Nn]either (.+?) nor (.+)")
_STEMMER = PorterStemmer()
_NON_WORD = re.compile(r"^[^\w]+|[^\w]+$")


def negbench_set_split_of(key: str, eval_fraction: float = NEGBENCH_SET_EVAL_FRACTION) -> str:
    """"eval" for a fixed fraction of videos / images (md5 of the id), else "train"."""
    digest = hashlib.md5(key.encode("utf-8")).digest()
    return "eval" if int.from_bytes(digest[:4], "big") / 2**32 < eval_fraction else "train"


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Lower-cased, accents folded, punctuation around it stripped, Porter-stemmed; "" for punctuation."""
    folded = unicodedata.normalize("NFKD", word.lower()).encode("ascii", "ignore").decode()
    core = _NON_WORD.sub("", folded)
    return _STEMMER.stem(core) if core else ""


def _concept_stems(concept: str) -> list[str]:
    return [stem(w) for w in concept.split() if stem(w) and w.lower() not in NON_CONTENT_WORDS]


def _concept_span(stems: list[str], cores: list[str], concept: list[str], taken: set[int]) -> list[int]:
    """Positions of the first occurrence of a concept's content stems, in order, as one phrase (function words may
    sit between them: "a cup of coffee"), none of them already taken; [] if there is none."""
    for start, s in enumerate(stems):
        if s != concept[0] or start in taken:
            continue
        span, k, i = [start], 1, start + 1
        while k < len(concept) and i < len(stems) and i - span[-1] <= 2:
            if stems[i] == concept[k] and i not in taken:
                span.append(i)
                k += 1
            elif cores[i] not in NON_CONTENT_WORDS:
                break
            i += 1
        if k == len(concept):
            return span
    return []


def label_caption(words: list[str], affirmed: list[str], negated: list[str], affirmed_context: str = "") -> tuple[list[int], bool]:
    """(labels, located: every negated concept found and some word affirmed where the caption affirms something):
    each occurrence of a negated concept's words 2, of an affirmed concept's words 0 (a concept is found as a phrase,
    `_concept_span`, so "a vegetable stand" beside "a fish stand" negates only its own "stand"), other content words
    found in `affirmed_context` (a caption of the same image without the negation) 0, the rest -100."""
    stems = [stem(w) for w in words]
    cores = [_NON_WORD.sub("", w.lower()) for w in words]
    labels = [IGNORE_INDEX] * len(words)
    located = True
    taken: set[int] = set()
    for concepts, label in ((affirmed, AFFIRMED), (negated, NEGATED)):
        for concept in concepts:
            wanted = _concept_stems(concept)
            found = False
            while wanted:
                span = _concept_span(stems, cores, wanted, taken)
                if not span:
                    break
                found = True
                taken.update(span)
                for i in span:
                    labels[i] = label
            if label == NEGATED:
                located &= found
    concept_stems = {s for c in (*affirmed, *negated) for s in _concept_stems(c)}
    context = {stem(w) for w in affirmed_context.split()} - concept_stems
    for i, (core, s) in enumerate(zip(cores, stems)):
        if labels[i] == IGNORE_INDEX and s in context and core not in NON_CONTENT_WORDS:
            labels[i] = AFFIRMED
    located &= AFFIRMED in labels or not (affirmed or affirmed_context)
    return labels, located


def _first_caption(cell: str) -> str:
    value = ast.literal_eval(cell)
    return value[0] if isinstance(value, list) else str(value)


def _record(source: str, key: str, caption: str, affirmed, negated, context: str = "") -> dict:
    words = caption.split()
    labels, located = label_caption(words, list(affirmed), list(negated), context)
    return {"source": source, "key": key, "caption": caption, "words": words, "labels": labels,
            "affirmed_objects": list(affirmed), "negated_objects": list(negated), "located": located,
            "split": negbench_set_split_of(key)}


def read_msrvtt_captions(root: str | os.PathLike | None = None) -> list[dict]:
    """MSR-VTT retrieval captions: the rephrased negated caption of each video, its concepts and human caption."""
    folder = _root(root) / MSRVTT_DIR
    records = []
    human = {row["image_id"]: _first_caption(row["captions"]) for row in _read_csv(folder / "msr_vtt_retrieval.csv")}
    for row in _read_csv(folder / "msr_vtt_retrieval_rephrased_llama.csv"):
        affirmed = [row["positive_concept1"], row["positive_concept2"]]
        records.append(_record("msrvtt_retrieval", row["image_id"], _first_caption(row["captions"]).strip(),
                               affirmed, [row["negative_concept"]], human.get(row["image_id"], "")))
    return records


def _image_number(path: str) -> str:
    return Path(path).stem.split("_")[0]


def _neither_objects(caption: str, others: list[str]) -> tuple[str, str] | None:
    """A and B of "Neither A nor B <predicate>": B is the longest start of the tail that the other captions hold."""
    match = _NEITHER.search(caption)
    if not match:
        return None
    a, tail = match.group(1), match.group(2).split()
    held = [{stem(w) for w in other.split()} for other in others]
    width = 0
    while width < len(tail) and (tail[width].lower() in NON_CONTENT_WORDS or all(stem(tail[width]) in h for h in held)):
        if width and tail[width].lower() in _PREDICATE_WORDS:  # "a lemon | is included in this image"
            break
        width += 1
        if tail[width - 1][-1:] in ".,;":
            break
    b = " ".join(tail[:width]).rstrip(".,;")
    while b and b.split()[-1].lower() in NON_CONTENT_WORDS:  # "a chameleon can" -> "a chameleon"
        b = " ".join(b.split()[:-1])
    if not _concept_stems(b) or not _concept_stems(a):
        return None
    return a, b


def read_synthetic_captions(root: str | os.PathLike | None = None) -> list[dict]:
    """NegBench synthetic MCQ captions (A / B roles from the fixed caption order) and retrieval v2 negated captions."""
    folder = _root(root) / SYNTHETIC_DIR
    records, objects = [], {}
    for row in _read_csv(folder / "synthetic_mcq_llama3.1_rephrased.csv"):
        captions = [row[f"caption_{k}"].strip() for k in range(4)]
        pair = _neither_objects(captions[3], captions[:3])
        if pair is None:
            continue
        a, b = pair
        key = _image_number(row["image_path"])
        objects[key] = pair
        for caption, affirmed, negated in zip(captions, ([a, b], [a], [b], []), ([], [b], [a], [a, b])):
            records.append(_record("synthetic_mcq", key, caption, affirmed, negated))
    positive = {}
    rows = _read_csv(folder / "synthetic_retrieval_v2.csv")
    for row in rows:
        if "/positive/" in row["filepath"]:
            positive[_image_number(row["filepath"])] = _first_caption(row["captions"])
    for row in rows:
        key = _image_number(row["filepath"])
        if "/negative/" in row["filepath"] and key in objects:
            a, b = objects[key]
            records.append(_record("synthetic_retrieval", key, _first_caption(row["captions"]).strip(), [a], [b],
                                   positive.get(key, "")))
    return records


__all__ = ["label_caption", "negbench_set_split_of", "read_msrvtt_captions",
           "read_synthetic_captions", "stem"]
