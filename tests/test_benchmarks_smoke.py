"""Smoke tests of `benchmarks/`: each script's `main` runs in-process on the tiny config with one round and
writes the JSON its docstring promises. No timing assertions: only that the pieces fit together."""

import json

import pytest
import torch

from benchmarks import bench_head, bench_scoring, bench_text_encoding

# One timed round, no extra rounds, one thread (steadier on a busy machine; restored below).
TINY = ["--configs", "tiny", "--repeats", "1", "--max-repeats", "1", "--min-time", "0", "--threads", "1"]


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _run(module, tokenizer, tmp_path, *extra: str) -> dict:
    out = tmp_path / "results.json"
    payload = module.main([*TINY, *extra, "--out", str(out)], tokenizer=tokenizer)
    assert json.loads(out.read_text()) == json.loads(json.dumps(payload))
    assert payload["environment"]["device"] == "cpu"
    return payload


def _check_comparison(row: dict, memory: bool) -> None:
    for side in ("clip", "negclip"):
        assert row[side]["median_ms"] > 0 and len(row[side]["times_ms"]) == 1
        assert (row[side]["peak_mem_mb"] > 0) if memory else row[side]["peak_mem_mb"] is None
    assert row["ratio"] > 0 and row["ratio_wall"] > 0 and row["ratio_cpu"] > 0
    assert row["ratio"] == row["ratio_cpu"] and row["ratio_clock"] == "cpu"
    # The scripted tags split exactly the negated prompts; unsplit prompts keep CLIP's embedding.
    assert row["split_prompts"] == row["negated_prompts"]


def test_scoring(tokenizer, tmp_path, capsys):
    payload = _run(bench_scoring, tokenizer, tmp_path, "--batch-sizes", "1", "2")  # measures memory
    rows = payload["results"]
    assert [(r["batch_size"], r["negated_fraction"]) for r in rows] == [
        (b, f) for b in (1, 2) for f in (0.0, 0.5, 1.0)
    ]
    assert [r["negated_prompts"] for r in rows] == [0, 1, 1, 0, 1, 2]
    for row in rows:
        _check_comparison(row, memory=True)
        # Nothing split: CLIP's own computation; else unsplit prompts finish in a smaller batch (float rounding).
        limit = 0.0 if row["split_prompts"] == 0 else 1e-5
        assert row["unsplit_max_abs_diff_vs_clip"] <= limit
        assert row["goal"] == (1.02 if row["negated_fraction"] == 0.0 else None)
    assert "| tiny | 2 | 50% (1) |" in capsys.readouterr().out


def test_text_encoding_with_breakdown(tokenizer, tmp_path):
    payload = _run(bench_text_encoding, tokenizer, tmp_path, "--queries", "4", "--gallery", "8", "--breakdown", "--no-memory")
    rows = payload["results"]
    assert [r["negated_prompts"] for r in rows] == [0, 2, 4]
    for row in rows:
        _check_comparison(row, memory=False)
    assert [r["goal"] for r in rows] == [None, 1.6, None]
    (breakdown,) = payload["breakdown"]
    assert breakdown["split_prompts"] == 2
    assert all(ms > 0 for ms in breakdown["steps_ms"].values())


def test_head(tokenizer, tmp_path):
    payload = _run(bench_head, tokenizer, tmp_path, "--batch-sizes", "2", "--no-memory")
    (row,) = payload["results"]
    assert row["batch_size"] == 2 and row["hidden_size"] == 32
    assert row["head_tokens_per_s"] > 0 and row["head_over_text_encoder"] > 0


def test_bad_settings_are_refused(tokenizer):
    with pytest.raises(ValueError, match="--repeats"):
        bench_head.main([*TINY, "--repeats", "0"], tokenizer=tokenizer)


def test_training_cost(tmp_path):
    from benchmarks import bench_training_cost

    out = tmp_path / "cost.json"
    payload = bench_training_cost.main([*TINY, "--batch-size", "2", "--no-memory", "--out", str(out)])
    (row,) = payload["rows"]
    # The 128-wide head is large next to the tiny config's 32-wide text encoder; the ratio is still a ratio.
    assert row["parameter_ratio"] == row["negclip_parameters"] / row["finetune_parameters"] < 1
    assert row["negclip_s_per_step"] > 0 and row["finetune_s_per_step"] > 0
    assert json.loads(out.read_text())["rows"][0]["config"] == "tiny"


def test_target_tracker_records_first_crossing_and_stops():
    from transformers import TrainerControl, TrainerState

    from benchmarks.bench_time_to_target import TargetTracker

    scores = iter([0.2, 0.6, 0.9])

    class Model:
        def train(self):
            pass

    tracker = TargetTracker(lambda model: {"mcq": {"negation": next(scores)}}, {"mcq.negation": 0.5}, every=2, budget_s=60)
    state, control = TrainerState(), TrainerControl()
    tracker.on_train_begin(None, state, control)
    for step in (1, 2, 3, 4):
        state.global_step = step
        tracker.on_step_end(None, state, control, model=Model())
        if control.should_training_stop:
            break
    assert [row["step"] for row in tracker.history] == [2, 4]  # scored every 2 steps only
    assert tracker.reached["mcq.negation"]["step"] == 4 and control.should_training_stop
    with pytest.raises(ValueError):
        TargetTracker(lambda model: {}, {}, every=0, budget_s=1)


def test_time_to_target_runs_the_fine_tune_against_a_main_job_record(tiny_clip_dir, tmp_path):
    from benchmarks import bench_time_to_target
    from training.world.shapes_world import build_world_dataset

    quickstart = tmp_path / "quickstart"
    build_world_dataset(12, seed=7, image_size=32).save_to_disk(str(quickstart / "world" / "eval"))
    negclip = {"mcq": {"negation": 0.8, "hybrid": 0.9}, "retrieval_negated": {"R@1": 0.9}}
    stages = {"negation_head": {"seconds": 1.0}, "negclip": {"seconds": 0.5}, "conclip": {"train_steps_per_second": 20.0}}
    (quickstart / "results.json").write_text(json.dumps({"results": {"NegCLIP": negclip}, "extra": {"stages": stages}}))
    out = tmp_path / "ttt.json"
    payload = bench_time_to_target.main([
        "--quickstart", str(quickstart), "--base-clip", str(tiny_clip_dir), "--budget-factor", "1", "--eval-every", "1",
        "--batch-size", "4", "--num-train-scenes", "16", "--out", str(out),
    ])  # fmt: skip
    assert [row["metric"] for row in payload["rows"]] == list(bench_time_to_target.TARGET_METRICS)
    assert [row["target"] for row in payload["rows"]] == [0.8, 0.9, 0.9]
    assert payload["history"] and all(row["negclip_seconds"] == 1.5 for row in payload["rows"])
    for row in payload["rows"]:  # a ratio when reached, else a bound from the seconds trained
        assert (row["ratio"] is None) != (row["ratio_bound"] is None)
    assert json.loads(out.read_text())["rows"] == json.loads(json.dumps(payload["rows"]))
    with pytest.raises(FileNotFoundError, match="main job"):
        bench_time_to_target.main(["--quickstart", str(tmp_path / "absent")])


def test_benchmark_models_carry_the_cue_gate_unless_turned_off(tokenizer):
    from benchmarks.models import build_models
    from modeling_negclip.negation_cues import (
        DEFAULT_NEGATION_CUE_WORDS,
        negation_cue_token_ids,
    )

    _, gated = build_models("tiny", torch.device("cpu"), cue_gate_tokenizer=tokenizer)
    assert gated.config.negation_cue_token_ids == negation_cue_token_ids(tokenizer, DEFAULT_NEGATION_CUE_WORDS)
    _, ungated = build_models("tiny", torch.device("cpu"))
    assert ungated.config.negation_cue_token_ids is None


def test_main_job_stages_times_every_stage_and_the_uncached_fit(tmp_path, monkeypatch):
    from benchmarks import bench_main_job_stages

    monkeypatch.setenv("NEGCLIP_DATA_DIR", str(tmp_path / "no_data"))  # the head trains on generated text only
    tiny_job = ["--image_size", "32", "--num_eval_scenes", "10", "--num_polarity_images", "8", "--head_num_train", "40",
                "--head_world_captions", "10", "--head_epochs", "1", "--conclip_steps", "1", "--num_threads", "1"]
    payload = bench_main_job_stages.main(["--config", "tiny", "--output-dir", str(tmp_path / "job"), "--uncached-steps", "1",
                                          "--out", str(tmp_path / "stages.json"), "--", *tiny_job])
    rows = {row["stage"]: row for row in payload["stages"]}
    assert set(rows) == {"world", "negation_head", "negclip", "conclip", "evaluation"}
    assert all(row["seconds"] >= 0 for row in rows.values())
    assert rows["negclip"]["steps"] == 6 and rows["conclip"]["steps"] == 1  # 8 images: one batch per epoch, 6 epochs
    assert payload["uncached_polarity_fit"]["steps"] == 1 and payload["uncached_polarity_fit"]["seconds_per_step"] > 0
    assert json.loads((tmp_path / "stages.json").read_text())["config"] == "tiny"
