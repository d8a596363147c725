"""The shapes-world negation benchmark of saved checkpoints, from the command line.

    python -m training.evaluate_world --models outputs/quickstart/negclip outputs/quickstart/base_clip \\
        --world_dir outputs/quickstart/world --out world.json

Each `--models` folder is a NegCLIP or a plain CLIP checkpoint with its processor (what the main job and the
training scripts save); it loads with `AutoModel` / `AutoProcessor` (`trust_remote_code=True`). All are scored
on the same held-out images and items (`world_benchmark.evaluate_models`); the headline table is printed and
the full results go to `--out` as JSON. What the main job reports for its three models, for any checkpoint.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from datasets import load_from_disk
from transformers import AutoModel, AutoProcessor, HfArgumentParser

from .world.world_benchmark import evaluate_models
from .world.world_report import format_headline_table


@dataclass
class EvaluateWorldArguments:
    models: list[str] = field(metadata={"help": "Checkpoint folders (NegCLIP or CLIP, each with its processor)."})
    world_dir: str = field(metadata={"help": "World folder holding the held-out `eval` dataset (save_to_disk)."})
    num_images: int | None = field(default=None, metadata={"help": "Held-out images to use (all by default)."})
    seed: int = field(default=0, metadata={"help": "Seed of the benchmark items (the main job's: 0)."})
    prompt_template: str = field(
        default="{}",
        metadata={"help": "Put every caption and query in this frame, e.g. \"This is a photo of {}.\" (the zero-shot pipeline's)."},
    )
    out: str | None = field(default=None, metadata={"help": "Write the results as JSON here."})


def main(argv: list[str] | None = None) -> dict:
    (args,) = HfArgumentParser(EvaluateWorldArguments).parse_args_into_dataclasses(args=sys.argv[1:] if argv is None else argv)
    for path in args.models:
        if not Path(path, "config.json").is_file():
            raise FileNotFoundError(f"'{path}' is not a checkpoint folder: it has no config.json")
    eval_dir = Path(args.world_dir, "eval")
    if not eval_dir.is_dir():
        raise FileNotFoundError(f"'{eval_dir}' does not exist: --world_dir needs the held-out `eval` dataset")
    models = {path: AutoModel.from_pretrained(path, trust_remote_code=True).eval() for path in args.models}
    processor = AutoProcessor.from_pretrained(args.models[0], trust_remote_code=True)
    results = evaluate_models(  # no_grad inside
        models, processor, load_from_disk(str(eval_dir)), args.seed, args.num_images, prompt_template=args.prompt_template
    )
    print(format_headline_table(results))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
