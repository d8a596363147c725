"""Training sources of the negation head (`training.text.negation_head_data`): CD-SCO mapped to the prompt convention."""

import pytest

from training.text.negation_head_data import build_head_training_set, cdsco_partial_labels, cdsco_rows
from training.text.negation_real_data import default_data_dir


def _sentence(words, *negations):
    """A CD-SCO-like sentence; each negation is (cue parts, scope parts) with "" for words outside it."""
    return {"words": words, "negations": [{"cue": cue, "scope": scope, "event": [""] * len(words)} for cue, scope in negations]}


def test_subject_and_auxiliary_before_the_cue_are_ignored_and_the_scope_after_it_is_negated():
    words = ["I", "could", "not", "think", "of", "Beecher", "."]
    sentence = _sentence(words, (["", "", "not", "", "", "", ""], ["I", "could", "", "think", "of", "Beecher", ""]))
    assert cdsco_partial_labels(sentence) == [-100, -100, 1, 2, 2, 2, 0]
    assert cdsco_partial_labels(sentence, scope="ignore") == [-100, -100, 1, -100, -100, -100, 0]
    with pytest.raises(ValueError):
        cdsco_partial_labels(sentence, scope="all")


def test_first_phrase_scope_stops_where_a_caption_would_affirm_again():
    words = ["There", "were", "no", "footprints", "on", "the", "path", "."]
    sentence = _sentence(words, (["", "", "no", "", "", "", "", ""], ["There", "were", "", "footprints", "on", "the", "path", ""]))
    assert cdsco_partial_labels(sentence, scope="first_phrase") == [-100, -100, 1, 2, -100, -100, -100, 0]
    assert cdsco_partial_labels(sentence, scope="after_cue") == [-100, -100, 1, 2, 2, 2, 2, 0]
    words = ["I", "could", "not", "think", "of", "Beecher", "."]  # "of" opens no new phrase: the scope runs on
    sentence = _sentence(words, (["", "", "not", "", "", "", ""], ["I", "could", "", "think", "of", "Beecher", ""]))
    assert cdsco_partial_labels(sentence, scope="first_phrase") == [-100, -100, 1, 2, 2, 2, 0]


def test_the_scope_of_an_affix_cue_is_never_taught_as_negated():
    words = ["the", "unhappy", "maiden", "wept"]
    sentence = _sentence(words, (["", "un", "", ""], ["", "happy", "maiden", ""]))
    assert cdsco_partial_labels(sentence) == [0, -100, -100, 0]


def test_affix_cues_are_ignored_so_prompts_keep_unhappy_affirmed():
    words = ["Our", "unhappy", "client", "did", "n't", "smile"]
    sentence = _sentence(
        words,
        (["", "un", "", "", "", ""], ["", "happy", "client", "", "", ""]),
        (["", "", "", "", "n't", ""], ["", "", "client", "did", "", "smile"]),
    )
    # "unhappy" holds an affix cue; "client" is in scope after "un" but before "n't": ignored wins.
    assert cdsco_partial_labels(sentence) == [0, -100, -100, -100, 1, 2]


def test_sentences_without_negation_are_all_affirmed():
    assert cdsco_partial_labels(_sentence(["Nothing", "but", "tea", "."])) == [0, 0, 0, 0]


def test_cdsco_test_split_is_never_a_training_source():
    with pytest.raises(ValueError, match="never train"):
        cdsco_rows("test")


@pytest.mark.skipif(not (default_data_dir() / "starsem2012_cd_sco").is_dir(), reason="shared CD-SCO data absent")
def test_cdsco_training_rows_join_the_training_set():
    rows = cdsco_rows("train")
    assert len(rows) == 3644 and all(len(r["words"]) == len(r["labels"]) for r in rows)
    assert sum(1 in r["labels"] for r in rows) == 723  # of 848 negated sentences; the rest hold affix cues only
    dataset, counts = build_head_training_set(50, seed=0, use_negbench=False, cdsco_scope="after_cue")
    assert counts == {"synthetic": 50, "cdsco_train": 3644} and len(dataset) == 3694


def test_head_script_defaults_are_the_measured_recipe(tmp_path):
    from training.train_negation_head import parse_args

    _, data_args, training_args = parse_args(["--clip_model", "x", "--output_dir", str(tmp_path)])
    assert (data_args.open_vocabulary_rate, data_args.num_negbench, data_args.cdsco_scope) == (0.3, 6000, "first_phrase")
    assert data_args.max_train_length == 40
    assert (training_args.num_train_epochs, training_args.learning_rate, training_args.per_device_train_batch_size) == (5.0, 2e-3, 128)
    model_args, _, _ = parse_args(["--clip_model", "x", "--output_dir", str(tmp_path), "--no_negation_cue_gate"])
    assert model_args.negation_cue_gate is False
    _, data_args, _ = parse_args(["--clip_model", "x", "--output_dir", str(tmp_path), "--cdsco_scope", "none"])
    assert data_args.cdsco_scope is None
    for bad in (["--cdsco_scope", "everything"], ["--open_vocabulary_rate", "1.5"], ["--max_train_length", "78"]):
        with pytest.raises(ValueError):
            parse_args(["--clip_model", "x", "--output_dir", str(tmp_path), *bad])
