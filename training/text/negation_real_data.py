"""Readers for the real negation data under `../shared/data/` (never committed, never shipped).

The folder defaults to `<repo>/../shared/data` and can be moved with `NEGCLIP_DATA_DIR`.

NegBench VOC2007 (`negbench_voc2007/`): every multiple-choice row has four templated captions with a
gold split ("This image includes X but not Y": X affirmed, Y negated; "This image does not include
X": X negated; "This image includes X [and Y]": affirmed) and, row for row and caption for caption,
an LLM rephrasing ("This image shows a person, but no motorbike is included."). A record per caption
carries the gold objects and *partial* word labels: the words naming an affirmed object get 0, those
naming a negated object 2, every other word -100 (ignored: the rephrasing's cue and function words
are unknown). Objects are found by their surface forms (`VOC_ALIASES`: "diningtable" is written
"dining table", "tvmonitor" "TV", ...), plural included; a few rephrasings are LLM noise ("?",
"(your turn!)") and leave objects unlocated (`unlocated_objects`). A fixed quarter of the images,
chosen by a hash of the image file name, is the evaluation part (`split == "eval"`), never to be
trained on; the rest is `"train"`.

*SEM 2012 CD-SCO (`starsem2012_cd_sco/`): CoNLL columns chapter, sentence, token, word, lemma, POS,
parse, then (cue, scope, event) per negation or `***`. Our word labels: a word holding a cue, whole
or affix ("un" of "unhappy"), is 1; a word in the scope of any negation is 2; the rest 0; a cue
takes precedence over a scope (so "infrequent", cue "in" + scope "frequent", is 1). Test uses the
`test-gold` files.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from functools import lru_cache
from pathlib import Path

from modeling_negclip.configuration_negclip import IGNORE_INDEX
from modeling_negclip.configuration_negclip import AFFIRMED_ID as AFFIRMED, NEGATED_ID as NEGATED, NEGATION_CUE_ID as CUE

NEGBENCH_DIR = "negbench_voc2007"
NEGBENCH_TEMPLATED = "VOC2007_mcq.csv"
NEGBENCH_REPHRASED = "VOC2007_mcq_llama3.1_rephrased.csv"
NEGBENCH_EVAL_FRACTION = 0.25

CDSCO_DIR = "starsem2012_cd_sco"
CDSCO_FILES = {
    "train": ("training/SEM-2012-SharedTask-CD-SCO-training-09032012.txt",),
    "dev": ("dev/SEM-2012-SharedTask-CD-SCO-dev-09032012.txt",),
    "test": (
        "test-gold/SEM-2012-SharedTask-CD-SCO-test-cardboard-GOLD.txt",
        "test-gold/SEM-2012-SharedTask-CD-SCO-test-circle-GOLD.txt",
    ),
}

# VOC class -> readable name and the surface forms a rephrasing may use (longest match wins).
VOC_ALIASES: dict[str, tuple[str, ...]] = {
    "aeroplane": ("aeroplane", "airplane", "plane"),
    "bicycle": ("bicycle", "bike"),
    "diningtable": ("dining table", "diningtable", "table"),
    "motorbike": ("motorbike", "motorcycle", "motor bike"),
    "person": ("person", "people", "persons"),
    "pottedplant": ("potted plant", "pottedplant", "plant"),
    "tvmonitor": ("tv monitor", "tvmonitor", "television", "tv", "monitor"),
}
VOC_READABLE = {"diningtable": "dining table", "pottedplant": "potted plant", "tvmonitor": "tv monitor"}

_TEMPLATES = (
    ("hybrid", re.compile(r"This image includes (.+) but not (.+)")),
    ("negative", re.compile(r"This image does not include (.+)")),
    ("positive", re.compile(r"This image includes (.+)")),
)
_STRIP = re.compile(r"^[^\w]+|[^\w]+$")


def default_data_dir() -> Path:
    """`$NEGCLIP_DATA_DIR`, else `<repo>/../shared/data`."""
    env = os.environ.get("NEGCLIP_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"


def _root(root: str | os.PathLike | None) -> Path:
    return Path(root) if root is not None else default_data_dir()


# ---------------------------------------------------------------------------------------------
# NegBench VOC2007
# ---------------------------------------------------------------------------------------------
def parse_negbench_template(caption: str) -> tuple[str, list[str], list[str]]:
    """(template, affirmed VOC classes, negated VOC classes) of a templated NegBench caption."""
    for name, pattern in _TEMPLATES:
        match = pattern.fullmatch(caption.strip())
        if match:
            groups = [group.split(" and ") for group in match.groups()]
            if name == "hybrid":
                return name, groups[0], groups[1]
            if name == "negative":
                return name, [], groups[0]
            return name, groups[0], []
    raise ValueError(f"Not a NegBench VOC2007 template: {caption!r}")


def negbench_split_of(image_path: str, eval_fraction: float = NEGBENCH_EVAL_FRACTION) -> str:
    """"eval" for a fixed fraction of images (hash of the file name), else "train"."""
    digest = hashlib.md5(image_path.rsplit("/", 1)[-1].encode("utf-8")).digest()
    return "eval" if int.from_bytes(digest[:4], "big") / 2**32 < eval_fraction else "train"


@lru_cache(maxsize=None)
def _alias_patterns(voc_class: str) -> tuple[tuple[tuple[str, ...], frozenset[str]], ...]:
    """(leading words, accepted last words incl. plurals) per alias, longest alias first."""
    patterns = []
    for alias in sorted(VOC_ALIASES.get(voc_class, (voc_class,)), key=lambda a: -len(a.split())):
        *head, last = alias.split()
        patterns.append((tuple(head), frozenset((last, last + "s", last + "es"))))
    return tuple(patterns)


def _cores(words: list[str]) -> list[str]:
    return [_STRIP.sub("", word.lower()) for word in words]


def locate_object(
    words: list[str], voc_class: str, taken: set[int] | None = None, cores: list[str] | None = None
) -> list[int]:
    """Indices of the words naming a VOC class (every occurrence; plural allowed; longest alias first).

    Indices in `taken` are skipped, and the found ones are added to it.
    """
    cores = _cores(words) if cores is None else cores
    taken = set() if taken is None else taken
    found: list[int] = []
    for head, lasts in _alias_patterns(voc_class):
        width = len(head) + 1
        for start in range(len(cores) - width + 1):
            span = range(start, start + width)
            if cores[start + width - 1] in lasts and tuple(cores[start : start + width - 1]) == head and not taken.intersection(span):
                found.extend(span)
                taken.update(span)
    return sorted(found)


def negbench_partial_labels(
    words: list[str], affirmed: list[str], negated: list[str]
) -> tuple[list[int], list[str]]:
    """Partial labels (0 affirmed object words, 2 negated object words, -100 else) and unlocated classes."""
    labels = [IGNORE_INDEX] * len(words)
    taken: set[int] = set()
    cores = _cores(words)
    unlocated = []
    for classes, label in ((negated, NEGATED), (affirmed, AFFIRMED)):
        for voc_class in classes:
            indices = locate_object(words, voc_class, taken, cores)
            if not indices:
                unlocated.append(voc_class)
            for i in indices:
                labels[i] = label
    return labels, unlocated


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_negbench_voc2007(root: str | os.PathLike | None = None, source: str = "rephrased") -> list[dict]:
    """One record per NegBench VOC2007 caption (4 per row), rephrased (default) or templated text.

    Record: `id`, `image_path` (from "VOC2007/"), `caption_index`, `is_correct`, `template`
    ("positive" | "negative" | "hybrid", of this caption), `caption`, `templated_caption`,
    `affirmed_objects`, `negated_objects` (readable names), `words`, `labels` (partial),
    `unlocated_objects`, `split` ("train" | "eval").
    """
    if source not in ("rephrased", "templated"):
        raise ValueError(f"source must be 'rephrased' or 'templated', got {source!r}")
    folder = _root(root) / NEGBENCH_DIR
    templated = _read_csv(folder / NEGBENCH_TEMPLATED)
    rephrased = _read_csv(folder / NEGBENCH_REPHRASED)
    if len(templated) != len(rephrased):
        raise ValueError(f"{NEGBENCH_TEMPLATED} has {len(templated)} rows, {NEGBENCH_REPHRASED} {len(rephrased)}")
    records = []
    for row_index, (row, row_rephrased) in enumerate(zip(templated, rephrased)):
        if row["image_path"].rsplit("/", 1)[-1] != row_rephrased["image_path"].rsplit("/", 1)[-1]:
            raise ValueError(f"row {row_index}: image paths differ between the two files")
        image_path = row["image_path"][row["image_path"].find("VOC2007/") :]
        split = negbench_split_of(image_path)
        for k in range(4):
            gold_caption = row[f"caption_{k}"]
            template, affirmed, negated = parse_negbench_template(gold_caption)
            caption = (row_rephrased[f"caption_{k}"] if source == "rephrased" else gold_caption).strip()
            words = caption.split()
            labels, unlocated = negbench_partial_labels(words, affirmed, negated)
            records.append(
                {
                    "id": f"voc2007-{row_index:04d}-{k}",
                    "image_path": image_path,
                    "caption_index": k,
                    "is_correct": int(row["correct_answer"]) == k,
                    "template": template,
                    "caption": caption,
                    "templated_caption": gold_caption,
                    "affirmed_objects": [VOC_READABLE.get(c, c) for c in affirmed],
                    "negated_objects": [VOC_READABLE.get(c, c) for c in negated],
                    "words": words,
                    "labels": labels,
                    "unlocated_objects": [VOC_READABLE.get(c, c) for c in unlocated],
                    "split": split,
                }
            )
    return records


def negbench_records_to_dataset(records: list[dict], located_only: bool = True):
    """`DatasetDict(train=..., eval=...)` of NegBench records; `located_only` drops captions with unlocated objects."""
    from datasets import Dataset, DatasetDict, Features, Sequence, Value

    features = Features(
        {
            "id": Value("string"),
            "image_path": Value("string"),
            "caption_index": Value("int32"),
            "is_correct": Value("bool"),
            "template": Value("string"),
            "caption": Value("string"),
            "templated_caption": Value("string"),
            "affirmed_objects": Sequence(Value("string")),
            "negated_objects": Sequence(Value("string")),
            "words": Sequence(Value("string")),
            "labels": Sequence(Value("int64")),
            "unlocated_objects": Sequence(Value("string")),
            "split": Value("string"),
        }
    )
    records = [r for r in records if not (located_only and r["unlocated_objects"])]
    return DatasetDict(
        {
            split: Dataset.from_dict(
                {name: [r[name] for r in records if r["split"] == split] for name in features}, features=features
            )
            for split in ("train", "eval")
        }
    )


def negbench_dataset(root: str | os.PathLike | None = None, source: str = "rephrased", located_only: bool = True):
    """`DatasetDict(train=..., eval=...)` of the NegBench captions (see `negbench_records_to_dataset`)."""
    return negbench_records_to_dataset(read_negbench_voc2007(root, source), located_only)


# ---------------------------------------------------------------------------------------------
# *SEM 2012 CD-SCO
# ---------------------------------------------------------------------------------------------
def cdsco_word_labels(num_words: int, negations: list[dict[str, list[str]]]) -> list[int]:
    """Union over negations: cue (whole word or affix) -> 1, scope -> 2, else 0; cue wins."""
    labels = [AFFIRMED] * num_words
    for negation in negations:
        for i, part in enumerate(negation["scope"]):
            if part and labels[i] != CUE:
                labels[i] = NEGATED
    for negation in negations:
        for i, part in enumerate(negation["cue"]):
            if part:
                labels[i] = CUE
    return labels


def _cdsco_sentence(rows: list[list[str]]) -> dict:
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        raise ValueError(f"Ragged CD-SCO sentence at {rows[0][:3]}")
    width = widths.pop()
    if width == 8 and rows[0][7] == "***":
        num_negations = 0
    elif width >= 10 and (width - 7) % 3 == 0:
        num_negations = (width - 7) // 3
    else:
        raise ValueError(f"Unexpected CD-SCO row width {width} at {rows[0][:3]}")
    negations = [
        {
            key: [("" if row[7 + 3 * n + offset] == "_" else row[7 + 3 * n + offset]) for row in rows]
            for offset, key in enumerate(("cue", "scope", "event"))
        }
        for n in range(num_negations)
    ]
    words = [row[3] for row in rows]
    return {
        "id": f"{rows[0][0]}-{rows[0][1]}",
        "chapter": rows[0][0],
        "sentence": int(rows[0][1]),
        "words": words,
        "lemmas": [row[4] for row in rows],
        "pos": [row[5] for row in rows],
        "negations": negations,
        "labels": cdsco_word_labels(len(words), negations),
    }


def read_cdsco_file(path: str | os.PathLike) -> list[dict]:
    """Sentences of one CD-SCO CoNLL file: `id`, `chapter`, `sentence`, `words`, `lemmas`, `pos`,
    `negations` (per negation, per word: the `cue` / `scope` / `event` part of the word, "" if none)
    and `labels` (our word labels)."""
    sentences, rows = [], []
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if line.strip():
                rows.append(line.split("\t"))
            elif rows:
                sentences.append(_cdsco_sentence(rows))
                rows = []
    if rows:
        sentences.append(_cdsco_sentence(rows))
    return sentences


def read_cdsco(split: str, root: str | os.PathLike | None = None) -> list[dict]:
    """CD-SCO "train", "dev" or "test" (gold) sentences, files in their standard order."""
    if split not in CDSCO_FILES:
        raise ValueError(f"split must be one of {sorted(CDSCO_FILES)}, got {split!r}")
    folder = _root(root) / CDSCO_DIR
    return [sentence for name in CDSCO_FILES[split] for sentence in read_cdsco_file(folder / name)]


__all__ = [
    "CDSCO_FILES",
    "VOC_ALIASES",
    "cdsco_word_labels",
    "default_data_dir",
    "locate_object",
    "negbench_dataset",
    "negbench_partial_labels",
    "negbench_records_to_dataset",
    "negbench_split_of",
    "parse_negbench_template",
    "read_cdsco",
    "read_cdsco_file",
    "read_negbench_voc2007",
]
