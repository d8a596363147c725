"""Synthetic negation prompts (`training.text.negation_data`) and word -> BPE label alignment (`training.text.token_labels`)."""

import csv
import random
import re
import time

import pytest

from training.text.negation_data import (
    AFFIRMATIVE_TEMPLATES,
    CSV_COLUMNS,
    NEGATION_TEMPLATES,
    TRAP_TEMPLATES,
    build_dataset,
    export_csv,
    generate_records,
    main,
    render_template,
    templates_for,
)
from training.text.negation_vocab import get_vocabulary, phrase_pattern
from training.text.token_labels import IGNORE_INDEX, tokenize_and_align, word_labels_from_tokens


@pytest.fixture(scope="module")
def timed_train_records():
    start = time.perf_counter()
    records = generate_records(20000, seed=0, split="train")
    return records, time.perf_counter() - start


@pytest.fixture(scope="module")
def train_records(timed_train_records):
    return timed_train_records[0]


@pytest.fixture(scope="module")
def heldout_records():
    return generate_records(2000, seed=0, split="heldout")


def test_generation_is_deterministic_and_seeded():
    assert generate_records(300, seed=3, split="heldout") == generate_records(300, seed=3, split="heldout")
    assert generate_records(300, seed=3) != generate_records(300, seed=4)
    with pytest.raises(ValueError):
        generate_records(10, split="test")


def test_twenty_thousand_records_in_a_few_seconds(timed_train_records):
    records, seconds = timed_train_records
    assert len(records) == 20000 and len({r["id"] for r in records}) == 20000
    assert seconds < 10  # ~1.5 s on an idle core; the machine is shared


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_records_are_consistent_with_their_labels(split, train_records, heldout_records):
    records = train_records if split == "train" else heldout_records
    for r in records:
        words, labels = r["words"], r["labels"]
        assert len(words) == len(labels) and all(label in (0, 1, 2) for label in labels)
        assert r["prompt"] == " ".join(words) and r["prompt"].split() == words
        assert r["positive"] == " ".join(w for w, label in zip(words, labels) if label == 0)
        assert r["negative"] == " ".join(w for w, label in zip(words, labels) if label == 2)
        if r["construction"] in ("affirmative", "trap"):
            assert set(labels) == {0} and r["negative"] == ""
        else:  # a negation has a cue and something negated
            assert 1 in labels and 2 in labels, r["prompt"]


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_at_least_thirty_percent_without_negation_and_every_construction(split, train_records, heldout_records):
    records = train_records if split == "train" else heldout_records
    assert sum(r["negative"] == "" for r in records) / len(records) >= 0.30
    assert {r["construction"] for r in records} == set(templates_for(split))


def test_cue_vocabulary_is_covered(train_records):
    cues = {w.lower().strip(",.") for r in train_records for w, label in zip(r["words"], r["labels"]) if label == 1}
    for cue in ["no", "not", "without", "but", "rather", "than", "instead", "of", "neither", "nor", "none", "never",
                "isn't", "aren't", "doesn't", "don't", "lacking", "free", "missing", "absent", "except", "there", "present"]:
        assert cue in cues, cue


def test_heldout_templates_differ_from_train():
    train, heldout = templates_for("train"), templates_for("heldout")
    all_train = {t for ts in train.values() for t in ts}
    all_heldout = {t for ts in heldout.values() for t in ts}
    assert not all_train & all_heldout
    assert all(train[name] and heldout[name] for name in train)  # every construction has both
    assert set(NEGATION_TEMPLATES) | {"affirmative", "trap"} == set(train)
    assert len(AFFIRMATIVE_TEMPLATES) == len(TRAP_TEMPLATES) == 2


def test_heldout_nouns_never_appear_in_train_records(train_records, heldout_records):
    train_vocab, heldout_vocab = get_vocabulary("train"), get_vocabulary("heldout")
    heldout_forms = {form for noun in heldout_vocab.nouns for form in noun.forms}
    assert len(heldout_forms) > 50
    assert not heldout_forms & {form for noun in train_vocab.nouns for form in noun.forms}
    pattern = phrase_pattern(heldout_forms)
    leaks = [r["prompt"] for r in train_records if pattern.search(r["prompt"].lower())]
    assert not leaks, leaks[:5]
    # and the held-out split does use them
    assert sum(bool(pattern.search(r["prompt"].lower())) for r in heldout_records) > len(heldout_records) / 2


def test_vocabulary_split_crosses_templates_and_words():
    """Held-out templates with train words (and the reverse): the templates of one split, the nouns of the other."""
    heldout_forms = {form for noun in get_vocabulary("heldout").nouns for form in noun.forms}
    pattern = phrase_pattern(heldout_forms)
    crossed = generate_records(500, seed=0, split="heldout", vocabulary_split="train")
    heldout_templates = {t for ts in templates_for("heldout").values() for t in ts}
    assert all(r["template"] in heldout_templates for r in crossed)
    assert not [r["prompt"] for r in crossed if pattern.search(r["prompt"].lower())]
    reverse = generate_records(500, seed=0, split="train", vocabulary_split="heldout")
    assert sum(bool(pattern.search(r["prompt"].lower())) for r in reverse) > len(reverse) / 2
    assert generate_records(50, seed=0, split="heldout", vocabulary_split="heldout") == generate_records(50, 0, "heldout")
    with pytest.raises(ValueError, match="split"):
        generate_records(5, seed=0, split="heldout", vocabulary_split="test")


def test_vocabulary_is_big_and_varied():
    vocab = get_vocabulary("train")
    assert len(vocab.objects) >= 200 and len(vocab.people) >= 30 and len(vocab.places) >= 40
    assert len(vocab.actions) >= 30 and len(vocab.colors) >= 15
    plurals = {n.singular: n.plural for n in vocab.nouns + get_vocabulary("heldout").nouns}
    assert plurals["person"] == "people" and plurals["bus"] == "buses" and plurals["sheep"] == "sheep"


def test_traps_are_all_affirmed(train_records):
    trap_words = {"knot", "notebook", "nottingham", "no.", "nothing", "never-ending", "no-parking", "not", "noodles", "'no"}
    seen = set()
    for r in train_records:
        for word, label in zip(r["words"], r["labels"]):
            core = word.lower().rstrip(",") if word.lower() == "no." else word.lower().strip(",.")
            if r["construction"] == "trap" and core in trap_words:
                assert label == 0
                seen.add(core)
    assert seen == trap_words
    # The words around a trap vary, so a tagger learns the frame ("<noun> no. 12", "a 'no <noun>' sign"), not one phrase.
    numbered = {r["words"][r["words"].index("no.") - 1] for r in train_records if "no." in r["words"]}
    signs = {r["words"][r["words"].index("'no") + 1] for r in train_records if "'no" in r["words"]}
    assert len(numbered) >= 10 and len(signs) >= 10
    only_soup = [r for r in train_records if "nothing but" in r["prompt"].lower()]
    assert only_soup and all(r["negative"] == "" for r in only_soup)


def test_label_conventions_on_rendered_templates():
    rng, vocab = random.Random(0), get_vocabulary("train")
    words, labels = render_template("{scene} [where] <the_sg> [is not present]", rng, vocab)
    assert words[-3:] == ["is", "not", "present"] and labels[-3:] == [1, 1, 1]
    where = words.index("where")
    assert labels[where] == 1 and words[where + 1] == "the" and set(labels[where + 1 : -3]) == {2}
    assert set(labels[:where]) == {0}
    words, labels = render_template("{obj_sg} [that is not] <attr>", rng, vocab)
    assert labels[-4:] == [1, 1, 1, 2] and words[-1] in vocab.colors + vocab.object_attributes
    words, labels = render_template("{person} [not] <act>", rng, vocab)
    assert labels[words.index("not")] == 1 and labels[-1] == 2
    words, labels = render_template("{the_person} [isn't] <act>", rng, vocab)
    assert "isn't" in words and labels[words.index("isn't")] == 1
    words, labels = render_template("{scene} [without] <np> , {place_pp}", rng, vocab)
    comma_word = next(w for w in words if w.endswith(","))
    assert labels[words.index(comma_word)] == 2  # punctuation stays with its word and label


def test_build_dataset_save_and_csv(tmp_path):
    from datasets import load_from_disk

    from modeling_negclip.configuration_negclip import NEGATION_LABELS

    dataset = build_dataset(50, seed=0, split="heldout")
    assert dataset.features["labels"].feature.names == list(NEGATION_LABELS)
    dataset.save_to_disk(str(tmp_path / "ds"))
    assert load_from_disk(str(tmp_path / "ds"))[:] == dataset[:]
    records = generate_records(50, seed=0, split="heldout")
    export_csv(records, tmp_path / "h.csv")
    with open(tmp_path / "h.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS == ("id", "prompt", "positive prompt", "negative prompt")
    assert rows[1:] == [[r["id"], r["prompt"], r["positive"], r["negative"]] for r in records]


def test_cli_writes_dataset_dict_and_csvs(tmp_path):
    from datasets import load_from_disk

    main(["--out", str(tmp_path), "--num-train", "30", "--num-heldout", "10", "--seed", "2"])
    saved = load_from_disk(str(tmp_path / "dataset"))
    assert saved.num_rows == {"train": 30, "heldout": 10}
    assert (tmp_path / "train.csv").is_file() and (tmp_path / "heldout.csv").is_file()
    assert saved["train"]["prompt"] == [r["prompt"] for r in generate_records(30, seed=2)]


# --- word labels -> CLIP BPE tokens -----------------------------------------------------------
def test_isnt_splits_into_two_tokens_with_the_word_label(tokenizer):
    words = ["A", "man", "who", "isn't", "smiling,", "without", "glasses."]
    labels = [0, 0, 1, 1, 2, 1, 2]
    encoded = tokenize_and_align(tokenizer, [words], [labels])
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
    assert tokens[4:6] == ["isn</w>", "'t</w>"]
    assert encoded["token_labels"][0] == [-100, 0, 0, 1, 1, 1, 2, 2, 1, 2, 2, -100]
    assert encoded["attention_mask"][0] == [1] * 12


def test_partial_labels_padding_and_truncation(tokenizer):
    words_batch = [["This", "image", "shows", "a", "dining", "table."], ["word"] * 100]
    labels_batch = [[-100, -100, -100, -100, 2, 2], [0] * 100]
    encoded = tokenize_and_align(tokenizer, words_batch, labels_batch, padding="longest")
    first, second = encoded["token_labels"]
    assert first[:8] == [-100, -100, -100, -100, -100, 2, 2, 2] and set(first[8:]) == {-100}
    assert len(second) == 77 and second[0] == second[-1] == IGNORE_INDEX and set(second[1:-1]) == {0}
    assert encoded["input_ids"][1][-1] == tokenizer.eos_token_id
    assert sum(encoded["attention_mask"][0]) == 9  # start + 7 tokens + end, then padding
    with pytest.raises(ValueError):
        tokenize_and_align(tokenizer, [["a", "b"]], [[0]])


def test_word_labels_round_trip_through_tokens(tokenizer, heldout_records):
    records = heldout_records[:200]
    encoded = tokenize_and_align(
        tokenizer, [r["words"] for r in records], [r["labels"] for r in records], return_offsets=True
    )
    for r, token_labels, offsets in zip(records, encoded["token_labels"], encoded["offset_mapping"]):
        for strategy in ("first", "majority"):
            assert word_labels_from_tokens(token_labels, offsets, r["words"], strategy) == r["labels"]


def test_word_labels_from_tokens_strategies_and_truncation():
    words = ["isn't", "red"]
    offsets = [(0, 0), (0, 3), (3, 5), (6, 9), (0, 0)]
    assert word_labels_from_tokens([0, 2, 1, 1, 0], offsets, words, "first") == [2, 1]
    assert word_labels_from_tokens([0, 2, 1, 1, 0], offsets, words, "majority") == [2, 1]  # tie -> first
    offsets3 = [(0, 0), (0, 2), (2, 4), (4, 6), (0, 0)]
    assert word_labels_from_tokens([0, 1, 2, 2, 0], offsets3, ["abcdef"], "majority") == [2]
    assert word_labels_from_tokens([0, 1, 0], [(0, 0), (0, 5), (0, 0)], ["there", "cut"], missing_label=0) == [1, 0]
    with pytest.raises(ValueError):
        word_labels_from_tokens([0], [(0, 1)], ["a"], "last")


def test_prompts_fit_clip_context(tokenizer, train_records):
    lengths = [len(ids) for ids in tokenizer([r["prompt"] for r in train_records[:2000]])["input_ids"]]
    assert max(lengths) <= 77
    assert not [w for r in train_records for w in r["words"] if re.search(r"\s", w) or not w]


def test_open_vocabulary_fills_train_slots_but_never_with_heldout_words():
    from training.text.negation_vocab import NON_CONTENT_WORDS, open_vocabulary

    words = open_vocabulary()
    assert len(words) > 10000 and not set(words) & NON_CONTENT_WORDS
    assert generate_records(200, seed=1, open_vocabulary_rate=0.0) == generate_records(200, seed=1)
    records = generate_records(2000, seed=1, open_vocabulary_rate=0.3)
    assert records == generate_records(2000, seed=1, open_vocabulary_rate=0.3)
    vocab_words = {w for noun in get_vocabulary("train").nouns for form in noun.forms for w in form.split()}
    new_words = {w.lower().strip(",.") for r in records for w in r["words"]} - vocab_words
    assert len(new_words) > 500  # the long tail does reach the prompts
    heldout_forms = {form for noun in get_vocabulary("heldout").nouns for form in noun.forms}
    leaks = [r["prompt"] for r in records if phrase_pattern(heldout_forms).search(r["prompt"].lower())]
    assert not leaks, leaks[:5]
    for r in records:  # labels still follow the templates
        assert r["negative"] == " ".join(w for w, label in zip(r["words"], r["labels"]) if label == 2)
        if r["construction"] not in ("affirmative", "trap"):
            assert 1 in r["labels"] and 2 in r["labels"]
    with pytest.raises(ValueError, match="train split only"):
        generate_records(10, split="heldout", open_vocabulary_rate=0.1)
