"""Where the main job's time goes, stage by stage, on a CLIP of openai/clip-vit-base-patch32's shape.

    python -m benchmarks.bench_main_job_stages                    # B/32 shape, random weights, the full main job
    python -m benchmarks.bench_main_job_stages --config small     # the offline base's shape

Builds a CLIP of the chosen shape with random weights (nothing downloaded) and its processor, runs
`training.quickstart --base_clip <it>` end to end, and prints each stage's seconds, optimiser steps and seconds
per step. Then the polarity fit again without its cache of frozen embeddings (`--cache_frozen_embeddings false`)
for `--uncached-steps` steps: every step costs the same there, so its seconds per step times the fit's steps is
what the uncached fit takes. Random weights cost what trained ones do; the accuracies are meaningless.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from transformers import CLIPModel

from benchmarks.cli import environment, markdown_table, write_json
from benchmarks.models import CONFIG_BUILDERS, CONFIG_NAMES
from training import quickstart, train_polarity_weight
from training.text.clip_tokenizer import load_clip_tokenizer
from training.world.world_data import build_clip_processor

# quickstart's stage names -> their folders under its output dir (None: no Trainer, no steps).
STAGE_DIRS = {"world": None, "negation_head": "negation_head", "negclip": "negclip", "conclip": "conclip", "evaluation": None}


def save_random_clip(config_name: str, path: Path, seed: int = 0) -> Path:
    """A CLIP of `config_name`'s shape with seeded random weights, and its processor, saved at `path`."""
    torch.manual_seed(seed)
    config = CONFIG_BUILDERS[config_name]()
    CLIPModel(config).save_pretrained(path)
    build_clip_processor(load_clip_tokenizer(), config.vision_config.image_size).save_pretrained(path)
    return path


def trainer_steps(folder: Path) -> tuple[int | None, float | None]:
    """(optimiser steps, training seconds) from a stage's `train_results.json`, or (None, None)."""
    path = folder / "train_results.json"
    if not path.is_file():
        return None, None
    metrics = json.loads(path.read_text())
    return metrics.get("train_steps"), metrics.get("train_runtime")


def stage_rows(output_dir: Path, stages: dict[str, dict]) -> list[dict[str, Any]]:
    rows = []
    for name, info in stages.items():
        folder = STAGE_DIRS.get(name)
        steps, runtime = trainer_steps(output_dir / folder) if folder else (None, None)
        rows.append({"stage": name, "seconds": info["seconds"], "steps": steps,
                     "seconds_per_step": runtime / steps if steps else None})
    return rows


def time_uncached_fit(output_dir: Path, steps: int, num_images: int, seed: int) -> dict[str, Any]:
    """The polarity fit of the main job without the cache, for `steps` steps: seconds per step."""
    out = output_dir / "polarity_uncached"
    start = time.perf_counter()
    train_polarity_weight.main([
        "--negclip_model", str(output_dir / "negation_head"), "--world_dir", str(output_dir / "world"),
        "--output_dir", str(out), "--num_images", str(num_images), "--max_steps", str(steps),
        "--cache_frozen_embeddings", "false", "--seed", str(seed), "--report_to", "none",
    ])  # fmt: skip
    train_steps, runtime = trainer_steps(out)
    return {"seconds": round(time.perf_counter() - start, 1), "steps": train_steps, "seconds_per_step": runtime / train_steps}


def stages_images(output_dir: Path) -> int:
    """How many images the main job's polarity fit used."""
    return json.loads((output_dir / "results.json").read_text())["extra"]["arguments"]["num_polarity_images"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=CONFIG_NAMES, default="b32", help="the CLIP's shape (random weights)")
    parser.add_argument("--output-dir", default=None, help="where the main job writes (default outputs/bench_stages/<config>)")
    parser.add_argument("--uncached-steps", type=int, default=3, help="steps of the uncached polarity fit to time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("quickstart_args", nargs="*", help="more quickstart flags, after --, e.g. -- --conclip_steps 10")
    args = parser.parse_args(argv)
    output_dir = Path(args.output_dir or f"outputs/bench_stages/{args.config}")
    clip_dir = save_random_clip(args.config, output_dir / "random_clip", args.seed)

    start = time.perf_counter()
    quickstart.main(["--base_clip", str(clip_dir), "--output_dir", str(output_dir), "--seed", str(args.seed), "--force",
                     *args.quickstart_args])
    total = round(time.perf_counter() - start, 1)
    stages = json.loads((output_dir / "results.json").read_text())["extra"]["stages"]
    rows = stage_rows(output_dir, stages)
    fit_steps = next(row["steps"] for row in rows if row["stage"] == "negclip")
    uncached = time_uncached_fit(output_dir, min(args.uncached_steps, fit_steps), stages_images(output_dir), args.seed)
    uncached_row = {"stage": "negclip, uncached (estimated)", "seconds": round(uncached["seconds_per_step"] * fit_steps, 1),
                    "steps": fit_steps, "seconds_per_step": uncached["seconds_per_step"]}
    payload = {"config": args.config, "end_to_end_seconds": total, "stages": rows, "uncached_polarity_fit": uncached,
               "environment": environment(torch.device("cpu"))}
    columns = [("stage", lambda r: r["stage"]), ("seconds", lambda r: r["seconds"]), ("steps", lambda r: r["steps"]),
               ("s / step", lambda r: None if r["seconds_per_step"] is None else round(r["seconds_per_step"], 2))]
    print(markdown_table([*rows, uncached_row, {"stage": "main job, end to end", "seconds": total, "steps": None,
                                                "seconds_per_step": None}], columns))
    write_json(Path(args.out) if args.out else None, payload)
    return payload



if __name__ == "__main__":
    main()
