"""The main job: shapes world -> base CLIP -> NegCLIP -> CoN-CLIP-style baseline -> one comparison.

    accelerate launch -m training.quickstart                      # offline, 10 to 15 minutes on 2 CPU cores
    accelerate launch -m training.quickstart --base_clip openai/clip-vit-base-patch32   # a real CLIP (online)
    accelerate launch -m training.quickstart ... --negbench_images /data/VOCdevkit   # + NegBench on real photos

Stages (each in its own folder under `--output_dir`; a finished stage is reused on a rerun unless
`--force`):
1. `world/`: held-out scenes for the benchmark and training scenes for the polarity weight;
2. `base_clip/`: a small CLIP trained from scratch on affirmative captions (skipped with --base_clip);
3. `negation_head/`: the negation head on the frozen base (synthetic prompts, negations composed into human captions,
   NegBench, CD-SCO and SFU Review's training parts, world captions);
4. `negclip/`: the polarity parameters fitted on world images (or, with `--negbench_images`, on NegBench's
   VOC 2007 questions of its train part) -> the NegCLIP checkpoint + model card;
5. `conclip/`: the related-work baseline, the base's text encoder fine-tuned with negated hard negatives;
6. `results.json`, `results.md`, `comparison.png`, `examples.png`: plain CLIP vs NegCLIP vs CoN-CLIP (with
   `--negbench_images`, each model's `negbench_voc2007` accuracies on real photos beside the world's).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from datasets import load_from_disk
from transformers import AutoProcessor, CLIPConfig, CLIPModel, HfArgumentParser

from modeling_negclip import NegCLIPConfig, NegCLIPModel
from modeling_negclip.configuration_negclip import NEGATION_HEAD_ENCODERS

from .sharing.model_card import write_model_card
from .negbench.negbench_mcq import evaluate_negbench_models, format_negbench_table, read_negbench_questions
from .world.shapes_world import DEFAULT_EVAL_SEED, DEFAULT_TRAIN_SEED, MAX_IMAGE_SIZE, MIN_IMAGE_SIZE, build_world_dataset
from .train_base_clip import ModelArguments as BaseModelArguments
from .world.world_benchmark import collect_examples, evaluate_models
from .world.world_report import format_headline_table, write_report

DONE_FILE = "stage_complete.json"


@dataclass
class QuickstartArguments:
    output_dir: str = field(default="outputs/quickstart", metadata={"help": "Where every stage writes."})
    base_clip: str | None = field(
        default=None, metadata={"help": "Use this CLIPModel checkpoint (dir or Hub id) instead of training one."}
    )
    image_size: int = field(
        default=48, metadata={"help": "Side of the rendered images: 32, 48 or 64 (whole 16 px patches of the base CLIP)."}
    )
    num_train_scenes: int = field(default=16000, metadata={"help": "Training scenes for the base CLIP."})
    base_epochs: float = field(default=12.0, metadata={"help": "Epochs of base CLIP training (docs/experiments.md: 10 against 12)."})
    num_eval_scenes: int = field(default=1000, metadata={"help": "Held-out scenes of the benchmark."})
    num_polarity_images: int | None = field(
        default=None,
        metadata={"help": "Images for fitting the polarity parameters. Default: 2048 on a CLIP reading at most 64 px "
                          "(the offline base), 512 on a larger one, where embedding each image through the frozen "
                          "vision tower is most of the fit's time (docs/experiments.md: the cost in accuracy)."},
    )
    head_num_train: int = field(default=8000, metadata={"help": "Synthetic prompts for the negation head."})
    head_world_captions: int = field(default=3000, metadata={"help": "Shapes-world captions for the head."})
    head_epochs: float = field(default=3.0, metadata={"help": "Epochs of negation head training."})
    head_source_layer: int = field(
        default=NegCLIPConfig.negation_head_source_layer,
        metadata={"help": "CLIP text layers run before the head reads their states (0: the token embeddings)."},
    )
    head_encoder: str = field(
        default=NegCLIPConfig.negation_head_encoder,
        metadata={"help": "The negation head's bidirectional layers: 'lstm' or 'transformer'."},
    )
    conclip_steps: int = field(default=100, metadata={"help": "Steps (64 images each) of the CoN-CLIP-style fine-tune."})
    seed: int = field(default=0, metadata={"help": "Seed of every stage."})
    num_threads: int | None = field(
        default=None,
        metadata={
            "help": "CPU threads of torch. Default: every core when the job runs as one process without a GPU "
            "(`accelerate launch` pins a lone CPU process to OMP_NUM_THREADS=1, which halves the speed on 2 cores)."
        },
    )
    negbench_images: str | None = field(
        default=None,
        metadata={
            "help": "PASCAL VOC 2007 images (VOCdevkit): fit the polarity parameters on NegBench's VOC 2007 questions "
            "of its train part instead of world images, and score every model on its eval part (the head never trains "
            "on it) beside the world benchmark. The questions are read, and every image looked for, first."
        },
    )
    force: bool = field(default=False, metadata={"help": "Rerun stages that already finished."})

    def __post_init__(self):
        if not MIN_IMAGE_SIZE <= self.image_size <= MAX_IMAGE_SIZE:
            raise ValueError(f"--image_size must be in {MIN_IMAGE_SIZE}..{MAX_IMAGE_SIZE}, got {self.image_size}")
        if self.base_clip is None:
            BaseModelArguments(image_size=self.image_size)  # the base stage's own checks (its patches), before any work
        if self.head_encoder not in NEGATION_HEAD_ENCODERS:
            raise ValueError(f"--head_encoder must be one of {NEGATION_HEAD_ENCODERS}, got {self.head_encoder!r}")
        if self.num_eval_scenes < 10:
            raise ValueError(f"--num_eval_scenes must be >= 10, got {self.num_eval_scenes}")
        if self.num_polarity_images is not None and self.num_polarity_images < 1:
            raise ValueError(f"--num_polarity_images must be >= 1, got {self.num_polarity_images}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"--num_threads must be >= 1, got {self.num_threads}")


DEFAULT_POLARITY_IMAGES, LARGE_CLIP_POLARITY_IMAGES = 2048, 512


def default_polarity_images(base_clip: str | None) -> int:
    """Polarity-fit images for the base: fewer for a CLIP reading larger images than the world's (224 px for B/32),
    whose frozen vision tower costs most of the fit (each image is embedded once)."""
    if base_clip is None:
        return DEFAULT_POLARITY_IMAGES
    side = CLIPConfig.from_pretrained(base_clip).vision_config.image_size
    return DEFAULT_POLARITY_IMAGES if side <= MAX_IMAGE_SIZE else LARGE_CLIP_POLARITY_IMAGES


def set_cpu_threads(num_threads: int | None) -> int:
    """Use `num_threads` torch threads, or every core available for a lone process without a GPU."""
    if num_threads is None:
        if torch.cuda.is_available() or int(os.environ.get("WORLD_SIZE", "1")) > 1:
            return torch.get_num_threads()
        num_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    torch.set_num_threads(num_threads)
    return num_threads


def run_stage(name: str, folder: Path, force: bool, work) -> dict:
    """Run `work()` unless `folder` holds a finished stage; record its wall time."""
    done = folder / DONE_FILE
    if done.is_file() and not force:
        print(f"[quickstart] {name}: reusing {folder}")
        return json.loads(done.read_text())
    print(f"[quickstart] {name} ...", flush=True)
    start = time.perf_counter()
    info = work() or {}
    info = {**info, "seconds": round(time.perf_counter() - start, 1)}
    folder.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(info, indent=2, default=str))
    print(f"[quickstart] {name}: done in {info['seconds']} s", flush=True)
    return info


def main(argv: list[str] | None = None) -> dict:
    # 1. Arguments.
    (args,) = HfArgumentParser(QuickstartArguments).parse_args_into_dataclasses(args=sys.argv[1:] if argv is None else argv)
    print(f"[quickstart] torch threads: {set_cpu_threads(args.num_threads)}", flush=True)
    if args.num_polarity_images is None:
        args.num_polarity_images = default_polarity_images(args.base_clip)
    negbench_questions = None
    if args.negbench_images:  # every photo of both parts looked for now, not after the training stages
        read_negbench_questions(args.negbench_images, "train")
        negbench_questions = read_negbench_questions(args.negbench_images, "eval")
    out = Path(args.output_dir)
    common = ["--seed", str(args.seed), "--report_to", "none", "--disable_tqdm", "false"]
    stages = {}

    # 2. The world: held-out benchmark scenes and training scenes for the polarity weight.
    def build_world():
        build_world_dataset(args.num_eval_scenes, DEFAULT_EVAL_SEED, args.image_size).save_to_disk(str(out / "world/eval"))
        build_world_dataset(args.num_polarity_images, DEFAULT_TRAIN_SEED + 100, args.image_size).save_to_disk(str(out / "world/train"))

    stages["world"] = run_stage("world", out / "world", args.force, build_world)

    # 3. The base CLIP (or a given checkpoint, treated exactly the same way).
    base = args.base_clip or str(out / "base_clip")
    if args.base_clip is None:
        from . import train_base_clip

        stages["base_clip"] = run_stage("base CLIP", out / "base_clip", args.force, lambda: train_base_clip.main([
            "--output_dir", base, "--num_train_scenes", str(args.num_train_scenes), "--image_size", str(args.image_size),
            "--num_train_epochs", str(args.base_epochs), "--save_strategy", "no", *common,
        ]))

    # 4. The negation head on the frozen base.
    from . import train_negation_head

    head_dir = str(out / "negation_head")
    stages["negation_head"] = run_stage("negation head", out / "negation_head", args.force, lambda: train_negation_head.main([
        "--clip_model", base, "--output_dir", head_dir, "--num_train", str(args.head_num_train),
        "--num_world_captions", str(args.head_world_captions), "--num_train_epochs", str(args.head_epochs),
        "--negation_head_source_layer", str(args.head_source_layer), "--negation_head_encoder", args.head_encoder,
        "--save_strategy", "no", "--eval_strategy", "no", *common,
    ]))

    # 5. The polarity weight -> the NegCLIP checkpoint.
    from . import train_polarity_weight

    negclip_dir = str(out / "negclip")
    # Real photos, when given, instead of world images: NegBench's questions of the part it does not score.
    polarity_fit = "negbench" if args.negbench_images else "world"
    polarity_data = ["--negbench_images", args.negbench_images] if args.negbench_images else ["--world_dir", str(out / "world")]
    stages["negclip"] = run_stage("polarity weight", out / "negclip", args.force, lambda: {"negated_weight": train_polarity_weight.main([
        "--negclip_model", head_dir, *polarity_data, "--output_dir", negclip_dir,
        "--num_images", str(args.num_polarity_images), *common,
    ]), "polarity_fit": polarity_fit})
    fitted_on = stages["negclip"].get("polarity_fit", "world")  # a reused stage keeps what it was fitted on
    if fitted_on != polarity_fit:
        print(f"[quickstart] the reused polarity stage was fitted on {fitted_on!r} data, not {polarity_fit!r}: "
              "rerun with --force to refit", flush=True)

    # 6. The related-work baseline: fine-tune the base's text encoder with negated hard negatives.
    from . import train_conclip_baseline

    conclip_dir = str(out / "conclip")
    stages["conclip"] = run_stage("CoN-CLIP baseline", out / "conclip", args.force, lambda: train_conclip_baseline.main([
        "--base_model_dir", base, "--output_dir", conclip_dir, "--max_steps", str(args.conclip_steps),
        "--per_device_train_batch_size", "64", "--num_train_scenes", str(64 * args.conclip_steps),
        "--num_eval_scenes", "0", "--num_zero_shot_images", "0", "--save_strategy", "no", *common,
    ]))

    # 7. One evaluation of all three on the same held-out images; the report and the model card.
    start = time.perf_counter()
    processor = AutoProcessor.from_pretrained(base)
    models = {
        "CLIP": CLIPModel.from_pretrained(base).eval(),
        "NegCLIP": NegCLIPModel.from_pretrained(negclip_dir).eval(),
        "CoN-CLIP-style": CLIPModel.from_pretrained(conclip_dir).eval(),
    }
    eval_set = load_from_disk(str(out / "world/eval"))
    with torch.no_grad():
        results = evaluate_models(models, processor, eval_set, seed=args.seed)
        examples = collect_examples(models, processor, eval_set, seed=args.seed)
        if negbench_questions:
            negbench = evaluate_negbench_models(models, processor, negbench_questions)
            for name in models:
                results[name]["negbench_voc2007"] = negbench[name]
    stages["evaluation"] = {"seconds": round(time.perf_counter() - start, 1)}
    extra = {"arguments": asdict(args), "stages": stages, "trainable_parameters": {
        "NegCLIP": sum(p.numel() for n, p in models["NegCLIP"].named_parameters() if not n.startswith("clip.")),
        "CoN-CLIP-style": sum(p.numel() for p in models["CoN-CLIP-style"].text_model.parameters())
        + models["CoN-CLIP-style"].text_projection.weight.numel(),
    }}
    write_report(results, out, extra=extra, examples=examples)
    write_model_card(negclip_dir, results, base_model=base, head_results=stages["negation_head"].get("evaluation"),
                     polarity_fit=fitted_on)
    print(format_headline_table(results))
    if negbench_questions:
        print(format_negbench_table(negbench))
    print(f"[quickstart] NegCLIP checkpoint: {negclip_dir}  report: {out / 'results.md'}")
    return results


if __name__ == "__main__":
    main()
