"""The hand-written natural prompts (`training.text.natural_prompts`): a well-formed gold file and an honest scorer."""

import pytest

from training.text.natural_prompts import natural_prompt_scores, read_natural_prompts
from training.text.regex_baseline import regex_word_labels


def _is_subsequence(part: list[str], words: list[str]) -> bool:
    remaining = iter(words)
    return all(word in remaining for word in part)


def test_gold_splits_are_cut_from_their_prompts():
    records = read_natural_prompts()
    assert len(records) == 184 and {r["set"] for r in records} == {"a", "b", "c"}
    assert len({r["prompt"] for r in records}) == len(records)  # no prompt twice
    for r in records:
        positive, negated = r["positive"].split(), r["negated"].split()
        assert _is_subsequence(positive, r["words"]) and _is_subsequence(negated, r["words"]), r["prompt"]
        assert len(positive) + len(negated) <= len(r["words"]), r["prompt"]
        if not negated:  # no negation: scored as CLIP scores the whole prompt
            assert r["positive"] == r["prompt"]


def test_scores_count_only_exact_splits():
    records = [
        {"set": "a", "words": "a dog without a collar".split(), "positive": "a dog", "negated": "a collar"},
        {"set": "a", "words": "a sailor tying a knot".split(), "positive": "a sailor tying a knot", "negated": ""},
        {"set": "b", "words": "a cat not sleeping".split(), "positive": "a cat", "negated": "sleeping"},
    ]
    pred = [[0, 0, 1, 2, 2], [0, 0, 0, 0, 0], [0, 0, 1, 0]]  # the last one leaves "sleeping" affirmed
    scores = natural_prompt_scores(records, pred)
    assert scores["exact_match"] == pytest.approx(2 / 3)
    assert scores["negated_exact_match"] == 0.5 and scores["num_negated"] == 2
    assert scores["affirmative_exact_match"] == 1.0 and scores["num_affirmative"] == 1
    assert scores["set_a_exact_match"] == 1.0 and scores["set_b_exact_match"] == 0.0
    with pytest.raises(ValueError, match="2 predicted"):
        natural_prompt_scores(records, pred[:2])


def test_regex_gets_the_easy_ones_and_misses_idioms():
    records = {r["prompt"]: r for r in read_natural_prompts()}
    easy, idiom = records["a street with no cars"], records["nothing but blue sky"]
    assert natural_prompt_scores([easy, idiom], [regex_word_labels(r["words"]) for r in (easy, idiom)])["exact_match"] == 0.5


def test_a_malformed_file_is_refused_with_its_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("set\tprompt\tpositive\tnegated\na\ta dog\ta dog\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.tsv:2: expected 4"):
        read_natural_prompts(path)
    with pytest.raises(FileNotFoundError, match="natural prompts file not found"):
        read_natural_prompts(tmp_path / "missing.tsv")
