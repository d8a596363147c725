"""The regex splitter (`training.text.regex_baseline`) and the metric functions (`training.text.negation_metrics`)."""

import pytest

from training.text.natural_prompts import read_natural_prompts
from training.text.negation_data import generate_records
from training.text.negation_metrics import (
    cdsco_scores,
    content_word_placement,
    negbench_placement,
    prompt_exact_match,
    split_strings,
    word_label_scores,
)
from training.text.regex_baseline import regex_word_labels, split_prompt


@pytest.mark.parametrize(
    "prompt, positive, negated, cues",
    [
        ("A woman in the kitchen without glasses", "A woman in the kitchen", "glasses", ["without"]),
        ("a kitchen where the jacket is not present", "a kitchen", "the jacket", ["where", "is", "not", "present"]),
        ("a car that is not red", "a car", "red", ["that", "is", "not"]),
        ("a man not smiling", "a man", "smiling", ["not"]),
        ("there is no cat in the kitchen", "in the kitchen", "cat", ["there", "is", "no"]),
        ("A man who isn't smiling, without glasses.", "A man", "smiling, glasses.", ["who", "isn't", "without"]),
        ("a kitchen with neither a cat nor a dog", "a kitchen", "a cat a dog", ["with", "neither", "nor"]),
        ("The room doesn't have a window", "The room", "a window", ["doesn't", "have"]),
        ("a cat but not a dog, in the park", "a cat in the park", "a dog,", ["but", "not"]),
        ("a bicycle instead of a car", "a bicycle", "a car", ["instead", "of"]),
        ("a beach free of people", "a beach", "people", ["free", "of"]),
        ("a rooftop with the apron missing", "a rooftop", "the apron", ["with", "missing"]),
        ("No cars on the street", "on the street", "cars", ["No"]),
    ],
)
def test_easy_cases(prompt, positive, negated, cues):
    assert split_prompt(prompt) == (positive, negated, cues)


@pytest.mark.parametrize(
    "prompt",
    ["a sailor tying a knot", "a notebook on a desk", "a street in Nottingham", "a never-ending road",
     "a no-parking sign near a bus", "a bowl of noodles", "a dog with a black nose"],
)
def test_word_boundaries_leave_lookalikes_alone(prompt):
    assert split_prompt(prompt) == (prompt, "", [])


def test_it_knows_no_idioms():
    # A fair rival, not an oracle: these are where a learned tagger should win.
    assert split_prompt("not only a cat but also a dog") == ("but also a dog", "only a cat", ["not"])
    assert split_prompt("a jersey with no. 5 on the back")[2] == ["with", "no."]
    assert split_prompt("a bowl with nothing but soup")[2] == ["with", "nothing"]


def test_labels_align_with_words_on_ptb_tokens():
    words = ["He", "did", "n't", "see", "the", "hound", ",", "nor", "the", "moor", "."]
    labels = regex_word_labels(words)
    assert len(labels) == len(words)
    assert labels[2] == 1 and labels[3:6] == [2, 2, 2] and labels[6] == 0 and labels[7] == 1 and labels[10] == 0


def test_baseline_is_decent_but_beatable_on_heldout_synthetic():
    records = generate_records(1000, seed=0, split="heldout")
    gold = [r["labels"] for r in records]
    pred = [regex_word_labels(r["words"]) for r in records]
    scores = word_label_scores(gold, pred)
    match = prompt_exact_match([r["words"] for r in records], gold, pred)
    assert 0.8 < scores["macro_f1"] < 0.99
    assert 0.5 < match["exact_match"] < 0.95


# --- metrics -------------------------------------------------------------------------------------
def test_word_label_scores_by_hand():
    gold = [[0, 1, 2, 2], [0, 0, -100]]
    pred = [[0, 1, 2, 0], [0, 2, 1]]  # the -100 position is ignored whatever is predicted
    scores = word_label_scores(gold, pred)
    assert scores["affirmed_precision"] == pytest.approx(2 / 3) and scores["affirmed_recall"] == pytest.approx(2 / 3)
    assert scores["negation_cue_f1"] == 1.0
    assert scores["negated_precision"] == pytest.approx(1 / 2) and scores["negated_recall"] == pytest.approx(1 / 2)
    assert scores["negated_support"] == 2 and scores["accuracy"] == pytest.approx(4 / 6)
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 1 + 1 / 2) / 3)
    with pytest.raises(ValueError):
        word_label_scores([[0, 1]], [[0]])


def test_prompt_exact_match_by_hand():
    words = [["a", "cat", "without", "a", "dog"], ["a", "cat"]]
    gold = [[0, 0, 1, 2, 2], [0, 0]]
    pred = [[0, 0, 1, 1, 2], [0, 0]]  # first: positive right, negated "dog" != "a dog"
    assert split_strings(words[0], pred[0]) == ("a cat", "dog")
    assert prompt_exact_match(words, gold, pred) == {
        "positive_exact_match": 1.0, "negated_exact_match": 0.5, "exact_match": 0.5
    }


def test_negbench_placement_by_hand():
    gold = [
        [-100, 0, -100, -100, 2, 2],  # hybrid: "dining table" negated
        [-100, -100, 2],              # negative
        [0, -100],                    # positive
        [-100, -100],                 # nothing located: ignored
    ]
    pred = [
        [0, 0, 1, 1, 2, 0],           # half of the negated object in the positive part: miss
        [0, 1, 2],
        [0, 0],
        [0, 0],
    ]
    result = negbench_placement(gold, pred)
    assert result["negated_placement"] == pytest.approx(1 / 2) and result["num_negated"] == 2
    assert result["affirmed_placement"] == 1.0 and result["num_affirmed"] == 2
    assert result["all_placement"] == pytest.approx(2 / 3) and result["num_all"] == 3


def test_cdsco_scores_ignore_punctuation_by_hand():
    words = [["He", "did", "n't", "come", "."], ["No", "dog", ",", "no", "cat"]]
    gold = [[2, 2, 1, 2, 0], [1, 2, 0, 1, 2]]
    pred = [[0, 2, 1, 2, 2], [1, 2, 2, 0, 2]]  # the punctuation errors do not count
    scores = cdsco_scores(words, gold, pred)
    assert scores["num_tokens"] == 8
    assert scores["cue_precision"] == 1.0 and scores["cue_recall"] == pytest.approx(2 / 3)
    assert scores["cue_f1"] == pytest.approx(0.8)
    assert scores["scope_token_precision"] == pytest.approx(4 / 4) and scores["scope_token_recall"] == pytest.approx(4 / 5)
    with_punct = cdsco_scores(words, gold, pred, ignore_punctuation=False)
    assert with_punct["num_tokens"] == 10 and with_punct["scope_token_precision"] == pytest.approx(4 / 6)


def test_content_word_placement_ignores_function_words_only():
    words = [["a", "dog", "that", "can", "be", "seen,", "without", "a", "collar"]]
    gold = [[0, 0, 0, 0, 0, 0, 1, 2, 2]]
    function_words_off = [[0, 0, 1, 1, 1, 0, 1, 0, 2]]  # "that can be" tagged cue, negated "a" left affirmed
    noun_off = [[0, 0, 0, 0, 0, 0, 1, 2, 0]]  # "collar" lands in the positive prompt
    seen_negated = [[0, 0, 0, 0, 0, 2, 1, 2, 2]]  # a content word pulled into the negated part
    assert content_word_placement(words, gold, function_words_off) == {"content_placement": 1.0}
    assert content_word_placement(words * 3, gold * 3, noun_off + seen_negated + gold) == {"content_placement": 1 / 3}
    with pytest.raises(ValueError, match="one entry per prompt"):
        content_word_placement(words, gold, [])


def test_regex_only_prints_every_set_the_head_is_measured_on(tmp_path, capsys):
    from training import evaluate_negation_head

    results = evaluate_negation_head.main(["--regex-only", "--num-heldout", "40", "--data-dir", str(tmp_path / "absent")])
    printed = capsys.readouterr().out
    assert "| set | metric | regex |" in printed
    assert "| natural_prompts | exact_match |" in printed and "| synthetic_heldout | exact_match |" in printed
    assert "| long_prompts | split_right |" in printed
    assert set(results) == {"synthetic_heldout", "natural_prompts", "long_prompts", "skipped"}
    assert len(results["skipped"]) == 6  # every real set, its folder absent
    assert results["natural_prompts"]["regex"]["num_all"] == len(read_natural_prompts())
