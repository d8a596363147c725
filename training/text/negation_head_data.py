"""Training data for the negation head: word-labelled prompts from every source, one collator.

Sources (all as `words` + `labels` columns, -100 for words the loss ignores):
- the synthetic generator (`negation_data`), train split only;
- NegBench VOC2007's train part with partial labels (only the gold object words), when the shared
  data folder is present; its evaluation part is never trained on;
- *SEM 2012 CD-SCO's training split (fiction) with partial labels mapped to the prompt convention
  (`cdsco_partial_labels`), when the shared data folder is present; its test split is never trained on;
- negations composed into human captions (`negation_composer`, the captions' training part), every word labelled;
- NegBench's MSR-VTT and synthetic captions (`negbench_captions`), their training parts, labelled where known;
- SFU Review's training part (`sfu_review`), mapped to the prompt convention as CD-SCO is;
- optional shapes-world negated captions, so a head on a shapes-world CLIP knows that world's words.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from datasets import Dataset, Features, Sequence, Value, concatenate_datasets

from modeling_negclip.configuration_negclip import IGNORE_INDEX
from modeling_negclip.configuration_negclip import AFFIRMED_ID as AFFIRMED, NEGATED_ID as NEGATED, NEGATION_CUE_ID as CUE

from ..world.negation_captions import sample_negated_caption
from .negation_composer import composed_rows
from .negation_data import generate_records
from .negbench_captions import read_msrvtt_captions, read_synthetic_captions
from .negation_real_data import read_cdsco, read_negbench_voc2007
from .sfu_review import read_sfu
from ..world.shapes_world import affirmative_caption, caption_words, sample_scenes
from .token_labels import tokenize_and_align

WORD_COLUMNS = ("words", "labels")
CDSCO_SCOPE_MODES = ("first_phrase", "after_cue", "ignore")
# Words that open a new constituent after a negated phrase ("no footprints | on the path", "not sure | whether ...").
# CD-SCO's and SFU's scopes run on through them (a linguistic scope is the whole negated proposition); the prompt
# convention negates the concept and affirms what follows, so `first_phrase` leaves the rest of such a scope unlabelled.
PHRASE_BOUNDARY_WORDS = frozenset(
    "in on at by for with from into onto over under beneath below above beside between behind near despite during "
    "through across along around after before because since while as when where who whom whose which that until "
    "unless than like about against among upon within throughout toward towards whether if".split()
)


def as_word_dataset(rows: list[dict]) -> Dataset:
    """A `words` + `labels` dataset (labels may hold -100 for ignored words)."""
    features = Features({"words": Sequence(Value("string")), "labels": Sequence(Value("int64"))})
    return Dataset.from_dict({k: [r[k] for r in rows] for k in WORD_COLUMNS}, features=features)


def synthetic_rows(n: int, seed: int, split: str, open_vocabulary_rate: float = 0.0) -> list[dict]:
    return [{"words": r["words"], "labels": r["labels"]} for r in generate_records(n, seed, split, open_vocabulary_rate)]


def negbench_rows(split: str, data_dir: str | None = None) -> list[dict]:
    """NegBench captions of one part ("train" or "eval") whose gold objects were all located."""
    records = read_negbench_voc2007(data_dir)
    return [r for r in records if r["split"] == split and not r["unlocated_objects"]]


def cdsco_partial_labels(sentence: dict, scope: str = "first_phrase") -> list[int]:
    """CD-SCO annotations as labels of the prompt convention, where the two conventions agree.

    - a word that is a whole negation cue ("not", "n't", "no", "never", "without") -> 1; a word
      holding an affix cue ("un" of "unhappy") -> -100: a prompt's "an unhappy man" stays affirmed;
    - a scope word after its negation's cue -> 2 with `scope="after_cue"` ("could not [think of
      Beecher]", "There is no [indication]"); scope words before the cue (the subject, the
      auxiliary: "[I] [could] not") -> -100, as the prompt convention affirms the subject ("a man
      who is not smiling") or makes the auxiliary part of the cue; `scope="ignore"` -> -100 for all;
    - with `scope="first_phrase"` (the default of training), only the scope words after the cue up to the first
      `PHRASE_BOUNDARY_WORDS` word or punctuation -> 2, the rest of the scope -> -100 ("There were no
      [footprints] ?on ?the ?path"): the phrase the cue negates, not what a caption would affirm after it;
    - every other word, and every word of a sentence without negation -> 0.
    The scope of a negation whose cues are all affixes is ignored (-100). A word with two readings keeps the safest:
    a cue, else ignored, else negated.
    """
    if scope not in CDSCO_SCOPE_MODES:
        raise ValueError(f"scope must be one of {CDSCO_SCOPE_MODES}, got {scope!r}")
    words = sentence["words"]
    cue, ignored, negated = set(), set(), set()
    for negation in sentence["negations"]:
        cue_positions = [i for i, part in enumerate(negation["cue"]) if part]
        whole_cues = {i for i in cue_positions if negation["cue"][i].lower() == words[i].lower()}
        cue |= whole_cues
        ignored |= set(cue_positions) - whole_cues
        # Affix cues only ("the unhappy [maiden]"): the convention affirms it all, so no scope word comes after a cue.
        first_cue = min(cue_positions) if whole_cues else len(words)
        open_phrase, phrase_words = True, 0  # first_phrase: still inside the phrase right after the cue
        for i, part in enumerate(negation["scope"]):
            if i > first_cue and scope == "first_phrase" and open_phrase:
                boundary = words[i].lower() in PHRASE_BOUNDARY_WORDS or not any(c.isalnum() for c in words[i])
                open_phrase = bool(part) and not (boundary and phrase_words)
                phrase_words += open_phrase
            if part:
                after = i > first_cue and (scope == "after_cue" or (scope == "first_phrase" and open_phrase))
                (negated if after else ignored).add(i)
    return [
        CUE if i in cue else IGNORE_INDEX if i in ignored else NEGATED if i in negated else AFFIRMED
        for i in range(len(words))
    ]


def cdsco_rows(split: str = "train", scope: str = "first_phrase", data_dir: str | None = None) -> list[dict]:
    """CD-SCO sentences of one split ("train" or "dev"; never "test") with `cdsco_partial_labels`."""
    if split == "test":
        raise ValueError("CD-SCO test is the yardstick: never train on it")
    return [{"words": s["words"], "labels": cdsco_partial_labels(s, scope)} for s in read_cdsco(split, data_dir)]


def sfu_rows(scope: str = "first_phrase", data_dir: str | None = None, num_affirmative: int = 2000, seed: int = 0) -> list[dict]:
    """SFU Review's training part with `cdsco_partial_labels` (its test part is never trained on): every sentence with
    a negation and a seeded sample of `num_affirmative` of the others (about 11,500, long and alike)."""
    sentences = read_sfu("train", data_dir)
    negated = [s for s in sentences if s["negations"]]
    others = [s for s in sentences if not s["negations"]]
    others = random.Random(f"negclip-sfu-{seed}").sample(others, min(num_affirmative, len(others)))
    return [{"words": s["words"], "labels": cdsco_partial_labels(s, scope)} for s in negated + others]


def negbench_caption_rows(num_synthetic: int | None, seed: int, data_dir: str | None = None) -> list[dict]:
    """NegBench MSR-VTT and synthetic captions of their training parts whose negated concepts were located; the
    synthetic ones (about 28,000, very alike) a seeded sample of `num_synthetic` (None: all)."""
    msrvtt = [r for r in read_msrvtt_captions(data_dir) if r["split"] == "train" and r["located"]]
    synthetic = [r for r in read_synthetic_captions(data_dir) if r["split"] == "train" and r["located"]]
    if num_synthetic is not None and num_synthetic < len(synthetic):
        synthetic = random.Random(f"negclip-negbench-captions-{seed}").sample(synthetic, num_synthetic)
    return [{"words": r["words"], "labels": r["labels"]} for r in msrvtt + synthetic]


def _optional(read) -> list[dict]:
    """A source's rows, or none where its files are absent."""
    try:
        return read()
    except FileNotFoundError:
        return []


def world_caption_rows(n: int, seed: int) -> list[dict]:
    """Shapes-world negated and affirmative captions with gold labels (true and false captions alike)."""
    rng = random.Random(f"negclip-world-captions-{seed}")
    rows = []
    for scene in sample_scenes(n, seed):
        if rng.random() < 0.25:
            words, labels = caption_words(affirmative_caption(scene, rng))
        else:
            record = sample_negated_caption(scene, rng, truth=rng.random() < 0.5)
            words, labels = record["words"], record["labels"]
        rows.append({"words": words, "labels": labels})
    return rows


def build_head_training_set(
    num_synthetic: int,
    seed: int,
    use_negbench: bool = True,
    num_world_captions: int = 0,
    data_dir: str | None = None,
    open_vocabulary_rate: float = 0.0,
    num_negbench: int | None = None,
    cdsco_scope: str | None = None,
    num_composed: int = 0,
    num_negbench_synthetic: int | None = 0,
    use_sfu: bool = False,
) -> tuple[Dataset, dict[str, int]]:
    """The shuffled union of the sources and how many rows each gave.

    `num_negbench` caps the NegBench rows (a seeded sample; None keeps all); `cdsco_scope` adds
    CD-SCO's training split with that scope mode (None leaves it out), and SFU's training part with `use_sfu`;
    `num_composed` composed captions; `num_negbench_synthetic` caps NegBench's synthetic captions (0 leaves them and
    MSR-VTT's out). Sources whose files are absent give no rows."""
    parts = {"synthetic": synthetic_rows(num_synthetic, seed, "train", open_vocabulary_rate)}
    if use_negbench:
        rows = _optional(lambda: [{"words": r["words"], "labels": r["labels"]} for r in negbench_rows("train", data_dir)])
        if num_negbench is not None and num_negbench < len(rows):
            rows = random.Random(f"negclip-negbench-{seed}").sample(rows, num_negbench)
        parts["negbench_train"] = rows
    if cdsco_scope is not None:
        parts["cdsco_train"] = _optional(lambda: cdsco_rows("train", cdsco_scope, data_dir))
    if num_composed:
        parts["composed"] = _optional(lambda: composed_rows(num_composed, seed, "train", data_dir))
    if num_negbench_synthetic != 0:
        parts["negbench_captions"] = _optional(lambda: negbench_caption_rows(num_negbench_synthetic, seed, data_dir))
    if use_sfu and cdsco_scope is not None:
        parts["sfu_train"] = _optional(lambda: sfu_rows(cdsco_scope, data_dir, seed=seed))
    if num_world_captions:
        parts["world_captions"] = world_caption_rows(num_world_captions, seed)
    counts = {name: len(rows) for name, rows in parts.items()}
    dataset = concatenate_datasets([as_word_dataset(rows) for rows in parts.values() if rows]).shuffle(seed=seed)
    return dataset, counts


@dataclass
class NegationHeadCollator:
    """Tokenise word lists with the fast CLIP tokenizer and spread word labels over BPE tokens."""

    tokenizer: object
    max_length: int = 77

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        encoded = tokenize_and_align(
            self.tokenizer, [r["words"] for r in rows], [r["labels"] for r in rows], self.max_length, padding="longest"
        )
        batch = {key: torch.tensor(value) for key, value in encoded.items()}
        return {**batch, "encode_split": False}  # the token loss needs no positive/negated encoding
