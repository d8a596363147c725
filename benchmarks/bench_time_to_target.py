"""Time to target: how long the CoN-CLIP-style fine-tune trains to reach what NegCLIP reached in the main job.

    python -m benchmarks.bench_time_to_target --quickstart outputs/quickstart            # budget 6x NegCLIP's time
    python -m benchmarks.bench_time_to_target --quickstart outputs/quickstart --budget-factor 2 --eval-every 100

The targets are NegCLIP's scores in the main job (`results.json`: negation and hybrid MCQ, negated retrieval
R@1), and its time is that job's head and polarity stages (their wall time, loading, saving and the head's own
evaluation included, so it overstates NegCLIP's training time). The fine-tune starts from the same base with the
main job's recipe (`train_conclip_baseline`, 64 images a step) and trains for up to `--budget-factor` times
NegCLIP's seconds, scored every `--eval-every` steps on the same held-out images and items
(`world_benchmark`); scoring time is not counted as training time. A target reached gives a ratio
(NegCLIP's seconds / the fine-tune's); one never reached within the budget bounds it: ratio < 1 / factor.
Run it on the machine that ran the main job, as both times are wall times.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch
from datasets import load_from_disk
from transformers import AutoProcessor, TrainerCallback

from benchmarks.cli import environment, markdown_table, write_json
from training import train_conclip_baseline
from training.world.world_benchmark import (
    TextImageScorer,
    build_benchmark_items,
    evaluate_scorer,
    held_out_images_and_scenes,
)
from training.world.world_report import HEADLINE_METRICS, flatten_metrics

GOAL_TIME = 0.2  # NegCLIP time to target <= 1/5 of the fine-tune's
TARGET_METRICS = ("mcq.negation", "mcq.hybrid", "retrieval_negated.R@1")
METRIC_LABELS = {key: label for label, key in HEADLINE_METRICS}


class TargetTracker(TrainerCallback):
    """Scores the model every `every` steps; records when each target is first reached, in training seconds
    (wall time since training began, minus the time spent scoring); stops training once every target is
    reached or `budget_s` training seconds have passed."""

    def __init__(self, score: Callable[[Any], dict], targets: dict[str, float], every: int, budget_s: float):
        if every < 1 or budget_s <= 0:
            raise ValueError(f"need every >= 1 and budget_s > 0, got {every} and {budget_s}")
        self.score, self.targets, self.every, self.budget_s = score, targets, every, budget_s
        self.history: list[dict] = []
        self.reached: dict[str, dict] = {}

    def on_train_begin(self, args, state, control, **kwargs):
        self.start, self.scoring_s = time.perf_counter(), 0.0

    def training_seconds(self) -> float:
        return time.perf_counter() - self.start - self.scoring_s

    def on_step_end(self, args, state, control, model=None, **kwargs):
        seconds = self.training_seconds()
        if state.global_step % self.every == 0 or seconds >= self.budget_s:
            self._score(state.global_step, seconds, model)
        if len(self.reached) == len(self.targets) or seconds >= self.budget_s:
            control.should_training_stop = True
        return control

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if not self.history or self.history[-1]["step"] != state.global_step:  # the last steps were not scored
            self._score(state.global_step, self.training_seconds(), model)

    def _score(self, step: int, seconds: float, model) -> None:
        begin = time.perf_counter()
        results = self.score(model)
        model.train()
        self.scoring_s += time.perf_counter() - begin
        flat = flatten_metrics(results)
        scores = {name: flat[name] for name in self.targets}
        self.history.append({"step": step, "seconds": round(seconds, 2), **scores})
        for name, target in self.targets.items():
            if name not in self.reached and scores[name] >= target:
                self.reached[name] = {"step": step, "seconds": round(seconds, 2)}


def negclip_reference(quickstart_dir: Path) -> tuple[float, dict[str, float], dict]:
    """NegCLIP's training seconds (head + polarity stages), its scores on `TARGET_METRICS`, and the stages."""
    path = quickstart_dir / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run the main job first (accelerate launch -m training.quickstart)")
    payload = json.loads(path.read_text())
    stages = payload["extra"]["stages"]
    seconds = stages["negation_head"]["seconds"] + stages["negclip"]["seconds"]
    negclip = flatten_metrics(payload["results"]["NegCLIP"])
    return seconds, {name: negclip[name] for name in TARGET_METRICS}, stages


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quickstart", type=Path, default=Path("outputs/quickstart"), help="a main-job output dir")
    parser.add_argument("--base-clip", default=None, help="the base CLIP (default: the main job's base_clip/)")
    parser.add_argument("--budget-factor", type=float, default=6.0,
                        help="fine-tune budget, in NegCLIP's times (6: past the 1/5 goal even where the fine-tune runs faster)")
    parser.add_argument("--eval-every", type=int, default=250, help="steps between scorings of the fine-tune")
    parser.add_argument("--batch-size", type=int, default=64, help="images per fine-tune step (the main job's 64)")
    parser.add_argument("--num-train-scenes", type=int, default=16000, help="training scenes, cycled over epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the results here as JSON")
    args = parser.parse_args(argv)
    if args.budget_factor <= 0 or args.eval_every < 1 or args.batch_size < 2:
        raise ValueError("need --budget-factor > 0, --eval-every >= 1 and --batch-size >= 2")

    negclip_seconds, targets, stages = negclip_reference(args.quickstart)
    base = args.base_clip or str(args.quickstart / "base_clip")
    budget_s = args.budget_factor * negclip_seconds
    # The budget in steps at the main job's own fine-tune speed, so the learning-rate schedule ends about when the
    # budget does; the tracker stops on time if this machine is slower.
    max_steps = max(args.eval_every, math.ceil(budget_s * stages["conclip"]["train_steps_per_second"]))

    processor = AutoProcessor.from_pretrained(base)
    images, scenes = held_out_images_and_scenes(load_from_disk(str(args.quickstart / "world" / "eval")), None)
    items = build_benchmark_items(scenes, args.seed)
    tracker = TargetTracker(
        lambda model: evaluate_scorer(TextImageScorer(model, processor), images, items), targets, args.eval_every, budget_s
    )
    with tempfile.TemporaryDirectory() as output_dir:
        train_conclip_baseline.main([
            "--base_model_dir", base, "--output_dir", output_dir, "--max_steps", str(max_steps),
            "--per_device_train_batch_size", str(args.batch_size), "--num_train_scenes", str(args.num_train_scenes),
            "--num_eval_scenes", "0", "--num_zero_shot_images", "0", "--evaluate_base", "false",
            "--save_strategy", "no", "--seed", str(args.seed), "--report_to", "none", "--disable_tqdm", "true",
        ], callbacks=[tracker])  # fmt: skip

    rows = []
    for name, target in targets.items():
        reached = tracker.reached.get(name)
        best = max(row[name] for row in tracker.history)
        rows.append({
            "metric": name,
            "target": target,
            "negclip_seconds": negclip_seconds,
            "finetune_best": best,
            "finetune_seconds": reached["seconds"] if reached else None,
            "finetune_steps": reached["step"] if reached else None,
            "ratio": negclip_seconds / reached["seconds"] if reached else None,
            "ratio_bound": None if reached else negclip_seconds / tracker.history[-1]["seconds"],
        })
    trained_s = tracker.history[-1]["seconds"]
    print(markdown_table(rows, [
        ("metric", lambda r: METRIC_LABELS[r["metric"]]),
        ("target (NegCLIP's)", lambda r: f"{r['target']:.3f}"),
        ("NegCLIP s", lambda r: f"{r['negclip_seconds']:.0f}"),
        ("fine-tune best", lambda r: f"{r['finetune_best']:.3f}"),
        ("fine-tune s to target",
         lambda r: f"not in {trained_s:.0f}" if r["finetune_seconds"] is None else f"{r['finetune_seconds']:.0f}"),
        # A bound is rounded up, so "< x" stays true.
        (f"ratio (goal <= {GOAL_TIME})", lambda r: f"< {math.ceil(r['ratio_bound'] * 100) / 100:.2f}" if r["ratio"] is None else f"{r['ratio']:.2f}"),
    ]))
    payload = {
        "environment": environment(torch.device("cuda" if torch.cuda.is_available() else "cpu")),  # the Trainer's pick
        "settings": vars(args) | {"quickstart": str(args.quickstart), "out": str(args.out), "budget_s": budget_s,
                                  "max_steps": max_steps},
        "rows": rows,
        "history": tracker.history,
    }
    write_json(args.out, payload)
    return payload


if __name__ == "__main__":
    main()
