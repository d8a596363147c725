"""`docs/results.md` is written from the main job's results.json by one script (`training.results_doc`)."""

import json

import pytest

from training.results_doc import main


def test_results_doc_writes_every_table_from_results_json(tmp_path):
    payload = {
        "results": {"CLIP": {"mcq": {"affirmation": 0.25, "negation": 0.0}}, "NegCLIP": {"mcq": {"affirmation": 0.75, "negation": 0.5}}},
        "extra": {"stages": {"negation_head": {"seconds": 12.5, "evaluation": {
            "msrvtt_eval": {"head": {"split_right": 0.9}, "regex": {"split_right": 0.8}}, "skipped": []}}}},
    }
    (tmp_path / "results.json").write_text(json.dumps(payload))
    text = main(["--results", str(tmp_path / "results.json"), "--out", str(tmp_path / "results.md")])
    assert (tmp_path / "results.md").read_text() == text
    assert "| mcq.affirmation | 0.250 | 0.750 |" in text
    assert "| msrvtt_eval | split_right | 0.9000 | 0.8000 |" in text
    assert "| negation_head | 12.5 |" in text


def test_results_doc_says_what_to_run_when_there_are_no_results(tmp_path):
    with pytest.raises(SystemExit, match="training.quickstart"):
        main(["--results", str(tmp_path / "absent.json"), "--out", str(tmp_path / "results.md")])
