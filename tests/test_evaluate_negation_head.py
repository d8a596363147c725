"""The head-vs-regex evaluation (`training.evaluate_negation_head`) on a fresh head, and its table."""

import pytest

from modeling_negclip import NegCLIPModel
from training.evaluate_negation_head import REAL_SETS, evaluate_head_and_regex, format_head_table
from training.text.natural_prompts import read_natural_prompts


def test_a_fresh_head_gets_exactly_the_prompts_without_negation(tiny_clip, tokenizer, tmp_path):
    model = NegCLIPModel.from_clip(tiny_clip)  # tags every token affirmed
    results = evaluate_head_and_regex(model, tokenizer, num_heldout=50, seed=0, data_dir=tmp_path / "absent")
    natural = results["natural_prompts"]["head"]
    affirmative = sum(not r["negated"] for r in read_natural_prompts())
    assert natural["exact_match"] == pytest.approx(affirmative / natural["num_all"])
    assert (natural["affirmative_exact_match"], natural["negated_exact_match"]) == (1.0, 0.0)
    heldout = results["synthetic_heldout"]["head"]
    assert heldout["negated_recall"] == 0.0 and 0.0 < heldout["content_placement"] < 1.0
    assert [note.split(":")[0] for note in results["skipped"]] == list(REAL_SETS)


def test_table_marks_metrics_that_older_results_lack():
    old = {"synthetic_heldout": {"head": {"exact_match": 0.5, "negated_f1": 0.6, "negation_cue_f1": 0.7},
                                 "regex": {"exact_match": 0.4, "negated_f1": 0.5, "negation_cue_f1": 0.6}}}
    table = format_head_table(old)
    assert "| synthetic_heldout | split_right | - | - |" in table
    assert "| synthetic_heldout | exact_match | 0.5000 | 0.4000 |" in table


def test_main_measures_a_checkpoint_with_and_without_its_cue_gate(tiny_clip, tokenizer, tmp_path, monkeypatch):
    import torch

    from training.evaluate_negation_head import main

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    model = NegCLIPModel.from_clip(tiny_clip)
    with torch.no_grad():
        model.negation_head.classifier.bias.copy_(torch.tensor([0.0, 0.0, 5.0]))  # tags every token negated
    model.set_negation_cue_words(tokenizer)
    model.save_pretrained(tmp_path / "gated")
    tokenizer.save_pretrained(tmp_path / "gated")
    argv = ["--model", str(tmp_path / "gated"), "--num-heldout", "20", "--data-dir", str(tmp_path / "absent")]
    gated = main(argv)["natural_prompts"]["head"]
    ungated = main([*argv, "--no-cue-gate"])["natural_prompts"]["head"]
    assert ungated["affirmative_exact_match"] == 0.0  # every prompt split
    assert gated["affirmative_exact_match"] > 0.5  # prompts without a cue token are left whole
