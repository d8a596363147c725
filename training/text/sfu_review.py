"""The SFU Review corpus annotated for negation (`../shared/data/sfu_review_negation/`, Konstantinova et al., 2012).

400 reviews of 8 domains as XML: `<W>` words inside `<SENTENCE>`s, `<cue type="negation">` around cue words and
`<xcope>` elements around scopes, each scope pointing at its cue through a `<ref SRC="cue id">`. Speculation cues and
their scopes are left out. Word labels as CD-SCO's (`negation_real_data.cdsco_word_labels`): a negation cue word 1, a
word in a negation scope 2, the rest 0, a cue winning over a scope; each sentence also carries its negations (cue and
scope per word) so `cdsco_partial_labels` maps it to the prompt convention for training. A fixed fifth of the
reviews, by a hash of the file's path below the corpus folder (`sfu_split_of`), is the test part, never trained on.
"""

from __future__ import annotations

import hashlib
import os
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from .negation_real_data import _root, cdsco_word_labels

SFU_DIR = "sfu_review_negation"
SFU_TEST_FRACTION = 0.2


def sfu_split_of(relative_path: str, test_fraction: float = SFU_TEST_FRACTION) -> str:
    """"test" for a fixed fraction of reviews (md5 of "DOMAIN/file.xml"), else "train"."""
    digest = hashlib.md5(relative_path.encode("utf-8")).digest()
    return "test" if int.from_bytes(digest[:4], "big") / 2**32 < test_fraction else "train"


def _sentence(element: ElementTree.Element, negation_cues: set[str]) -> dict:
    words: list[str] = []
    cue_of: list[set[str]] = []  # per word: ids of the negation cues it belongs to
    scope_of: list[set[str]] = []  # per word: ids of the negation cues whose scope holds it

    def walk(node: ElementTree.Element, cues: frozenset, scopes: frozenset) -> None:
        if node.tag == "cue" and node.get("type") == "negation":
            cues = cues | {node.get("ID")}
        if node.tag == "xcope":
            ref = node.find("ref")
            if ref is not None and ref.get("SRC") in negation_cues:
                scopes = scopes | {ref.get("SRC")}
        if node.tag == "W":
            words.append("".join(node.itertext()).strip())
            cue_of.append(set(cues))
            scope_of.append(set(scopes))
        for child in node:
            walk(child, cues, scopes)

    walk(element, frozenset(), frozenset())
    ids = sorted({i for s in cue_of for i in s})
    negations = [
        {"cue": [w if i in c else "" for w, c in zip(words, cue_of)],
         "scope": [w if i in s and i not in c else "" for w, c, s in zip(words, cue_of, scope_of)]}
        for i in ids
    ]
    return {"words": words, "negations": negations, "labels": cdsco_word_labels(len(words), negations)}


def read_sfu_file(path: str | os.PathLike) -> list[dict]:
    """Sentences of one review: `words`, `negations` (per negation cue: its `cue` and `scope` part of each word,
    "" if none) and `labels`."""
    root = ElementTree.parse(path).getroot()
    negation_cues = {cue.get("ID") for cue in root.iter("cue") if cue.get("type") == "negation"}
    sentences = [_sentence(element, negation_cues) for element in root.iter("SENTENCE")]
    return [s for s in sentences if s["words"]]


def read_sfu(split: str, root: str | os.PathLike | None = None) -> list[dict]:
    """SFU sentences of the "train" or "test" part, reviews in sorted path order."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = _root(root) / SFU_DIR
    if not folder.is_dir():
        raise FileNotFoundError(f"SFU Review folder not found: {folder}")
    sentences = []
    for path in sorted(folder.glob("*/*.xml")):
        relative = path.relative_to(folder).as_posix()
        if sfu_split_of(relative) == split:
            sentences.extend({**s, "id": f"{relative}-{k}"} for k, s in enumerate(read_sfu_file(path)))
    return sentences


__all__ = ["read_sfu", "read_sfu_file", "sfu_split_of"]
