"""Real-text sources of the negation head: composed captions, NegBench's MSR-VTT / synthetic captions, SFU Review, the
hand-written long prompts, and the split measure they are scored with.

Tests on hand-made inputs always run; those on the shared files skip when `../shared/data` is absent.
"""

import random

import pytest

from modeling_negclip.configuration_negclip import IGNORE_INDEX
from training.text.caption_bodies import caption_split_of, has_negation_cue, mine_noun_phrases, read_caption_bodies
from training.text.natural_prompts import labels_from_split, parse_annotated, read_long_prompts
from training.text.negation_composer import ComposerVocabulary, compose_record
from training.text.negation_metrics import content_split
from training.text.negation_real_data import default_data_dir
from training.text.negbench_captions import label_caption, negbench_set_split_of, read_msrvtt_captions, read_synthetic_captions
from training.text.sfu_review import read_sfu, read_sfu_file

BODIES = [
    "A man in a blue shirt is riding a bike down the street .".split(),
    "Two dogs play with a red ball on the grass".split(),
    "A woman holding an umbrella waits at the bus stop.".split(),
    "The kitchen has a large window and a wooden table".split(),
]


def _shared(name):
    root = default_data_dir()
    if not (root / name).is_dir():
        pytest.skip(f"shared data {name} not found at {root}")
    return root


# --- composed captions ---------------------------------------------------------------------------
def test_composed_records_keep_the_caption_affirmed_and_negate_only_mined_phrases():
    phrases = mine_noun_phrases(BODIES)
    assert ["a", "red", "ball"] in phrases and ["the", "grass"] in phrases
    vocabulary = ComposerVocabulary(BODIES, phrases)
    phrase_words = {w.lower().strip(".,;") for p in phrases for w in p} | {"any"}
    rng = random.Random(0)
    for _ in range(300):
        record = compose_record(vocabulary, rng)
        words, labels = record["words"], record["labels"]
        assert len(words) == len(labels) and 2 in labels and 1 in labels
        for word, label in zip(words, labels):
            if label == 2:
                assert word.lower().strip(".,;") in phrase_words, (word, words)
        affirmed = [w.lower().strip(".,;") for w, label in zip(words, labels) if label == 0]
        body_words = {w.lower().strip(".,;") for body in BODIES for w in body} | {"as", "while", "and", "here", "so"}
        assert set(affirmed) <= body_words, words


def test_compose_is_seeded():
    vocabulary = ComposerVocabulary(BODIES, mine_noun_phrases(BODIES))
    first = [compose_record(vocabulary, random.Random(3)) for _ in range(5)]
    assert first == [compose_record(vocabulary, random.Random(3)) for _ in range(5)]


def test_captions_with_a_cue_are_not_bodies():
    assert has_negation_cue("a man who isn't smiling".split())
    assert has_negation_cue("a dog without a collar".split())
    assert has_negation_cue("a dog isn’t barking".split())
    assert not has_negation_cue("a free concert in the park".split())
    assert not has_negation_cue("two knots on a rope".split())


def test_caption_parts_are_fixed_by_the_text():
    assert caption_split_of("A dog runs.") == caption_split_of("  a dog runs.  ")
    split = [caption_split_of(f"caption number {i}") for i in range(2000)]
    assert 0.15 < split.count("heldout") / len(split) < 0.25


def test_caption_bodies_parts_are_disjoint():
    root = _shared("captions")
    train, heldout = read_caption_bodies("train", root), read_caption_bodies("heldout", root)
    assert len(train) > 100_000 and len(heldout) > 20_000
    assert not {" ".join(w).lower() for w in train[:20000]} & {" ".join(w).lower() for w in heldout}
    assert not any(has_negation_cue(words) for words in train[:5000])


# --- NegBench captions ---------------------------------------------------------------------------
def test_label_caption_finds_concepts_by_stem_and_affirms_the_human_caption_words():
    words = "A cartoon clip shows Pokémon dancing, with no hiking scenes present.".split()
    labels, located = label_caption(words, ["dancing", "pokemon"], ["hiking"], "a cartoon clip of pokemon dancing")
    assert located
    by_word = dict(zip(words, labels))
    assert by_word["hiking"] == 2 and by_word["Pokémon"] == 0 and by_word["dancing,"] == 0
    assert by_word["cartoon"] == 0 and by_word["clip"] == 0
    assert by_word["with"] == IGNORE_INDEX and by_word["present."] == IGNORE_INDEX


def test_a_negated_concept_inside_a_hyphenated_word_is_unlocated():
    _, located = label_caption("This video is dance-free.".split(), [], ["dancing"])
    assert not located


def test_negbench_set_parts_are_fixed():
    assert negbench_set_split_of("video9838") == negbench_set_split_of("video9838")
    parts = [negbench_set_split_of(f"video{i}") for i in range(4000)]
    assert 0.2 < parts.count("eval") / len(parts) < 0.3


def test_msrvtt_and_synthetic_captions():
    root = _shared("negbench_msrvtt")
    _shared("negbench_synthetic")
    msrvtt = read_msrvtt_captions(root)
    assert len(msrvtt) == 1000 and sum(r["located"] for r in msrvtt) > 900
    synthetic = read_synthetic_captions(root)
    assert sum(r["located"] for r in synthetic) > 35_000
    for records in (msrvtt, synthetic):
        parts = {r["key"]: r["split"] for r in records}
        assert all(parts[r["key"]] == r["split"] for r in records)  # a video / image is in one part only
        for r in records:
            if r["located"] and r["negated_objects"]:
                assert 2 in r["labels"]
    neither = next(r for r in synthetic if r["caption"].startswith("Neither a European green lizard nor a chameleon"))
    assert neither["negated_objects"] == ["a European green lizard", "a chameleon"]


# --- SFU Review ------------------------------------------------------------------------------------
SFU_XML = """<?xml version="1.0" encoding="UTF-8"?>
<DOCUMENT><P><SENTENCE><W>There</W><W>is</W><cue ID="0" type="negation"><W>no</W></cue><xcope ID="1"><ref ID="2" SRC="0"></ref>
<W>mystery</W><W>here</W></xcope><W>.</W></SENTENCE>
<SENTENCE><W>I</W><cue ID="15" type="speculation"><W>would</W></cue><xcope ID="16"><ref ID="17" SRC="15"></ref><W>maybe</W>
<cue ID="11" type="negation"><W>not</W></cue><xcope ID="12"><ref ID="13" SRC="11"></ref><W>recommend</W><W>it</W></xcope></xcope></SENTENCE>
<SENTENCE><W>Fine</W><W>.</W></SENTENCE></P></DOCUMENT>"""


def test_sfu_reader_labels_negation_cues_and_scopes_only(tmp_path):
    path = tmp_path / "review.xml"
    path.write_text(SFU_XML, encoding="utf-8")
    first, second, third = read_sfu_file(path)
    assert first["words"] == ["There", "is", "no", "mystery", "here", "."]
    assert first["labels"] == [0, 0, 1, 2, 2, 0]
    assert second["labels"] == [0, 0, 0, 1, 2, 2]  # the speculation scope ("maybe") is not a negation's
    assert third["labels"] == [0, 0] and third["negations"] == []


def test_sfu_parts():
    root = _shared("sfu_review_negation")
    train, test = read_sfu("train", root), read_sfu("test", root)
    assert not {s["id"].split("-")[0] for s in train} & {s["id"].split("-")[0] for s in test}
    assert sum(bool(s["negations"]) for s in test) > 300


# --- the hand-written long prompts and the split measure --------------------------------------------
def test_parse_annotated_and_labels_from_split_agree():
    words, labels = parse_annotated("A man [without] <a hat, glasses,> [or] <tie> is standing.")
    assert words == ["A", "man", "without", "a", "hat,", "glasses,", "or", "tie", "is", "standing."]
    assert labels == [0, 0, 1, 2, 2, 2, 1, 2, 0, 0]
    assert labels_from_split(words, "A man is standing.", "a hat, glasses, tie") == labels
    with pytest.raises(ValueError, match="cannot give"):
        labels_from_split(words, "A woman", "")


def test_long_prompts_are_many_long_and_all_negated():
    records = read_long_prompts()
    assert len(records) >= 60
    assert all(2 in r["labels"] for r in records)
    captions = [r for r in records if r["set"] == "long_caption"]
    assert len(captions) >= 40 and sum(len(r["words"]) for r in captions) / len(captions) > 14


def test_content_split_counts_content_words_only():
    words = [["a", "dog", "without", "a", "collar"], ["a", "dog", "without", "a", "collar"]]
    gold = [[0, 0, 1, 2, 2], [0, 0, 1, 2, 2]]
    pred = [[0, 0, 1, 0, 2], [0, 2, 1, 2, 2]]  # the article misplaced (right); "dog" negated (wrong)
    assert content_split(words, gold, pred) == {"split_right": 0.5, "num_prompts": 2}


def test_cue_gate_passes_every_hand_written_long_prompt(tokenizer):
    import torch

    from modeling_negclip.negation_cues import DEFAULT_NEGATION_CUE_WORDS, cue_rows, negation_cue_token_ids

    cue_ids = torch.tensor(negation_cue_token_ids(tokenizer, DEFAULT_NEGATION_CUE_WORDS))
    prompts = [r["prompt"] for r in read_long_prompts()]
    encoded = tokenizer(prompts, padding=True, return_tensors="pt")
    passed = cue_rows(encoded["input_ids"], encoded["attention_mask"], cue_ids)
    assert passed.all(), [p for p, ok in zip(prompts, passed) if not ok]
