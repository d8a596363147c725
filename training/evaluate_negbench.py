"""NegBench's VOC 2007 multiple-choice test of saved checkpoints on real photos, from the command line.

    python -m training.evaluate_negbench --models outputs/quickstart/negclip outputs/quickstart/base_clip \\
        --images_root /data/VOCdevkit --out negbench.json

Each `--models` folder (or Hub id) is a NegCLIP or a plain CLIP checkpoint with its processor; it loads with
`AutoModel` / `AutoProcessor` (`trust_remote_code=True`). The questions and their captions are NegBench's
(`negbench_mcq`); the photos are yours: PASCAL VOC 2007, which this project cannot download.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from transformers import AutoModel, AutoProcessor, HfArgumentParser

from .negbench.negbench_mcq import NEGBENCH_SPLITS, evaluate_negbench, format_negbench_table, read_negbench_questions
from .sharing.model_paths import check_model_path
from .world.world_benchmark import TextImageScorer


@dataclass
class EvaluateNegBenchArguments:
    models: list[str] = field(metadata={"help": "Checkpoints (NegCLIP or CLIP, each with its processor)."})
    images_root: str = field(metadata={"help": "PASCAL VOC 2007 images: VOCdevkit, its VOC2007 folder or JPEGImages."})
    split: str = field(default="eval", metadata={"help": f"NegBench part, one of {NEGBENCH_SPLITS} ('eval': never trained on)."})
    source: str = field(default="rephrased", metadata={"help": "Captions: 'rephrased' (LLM, fluent) or 'templated'."})
    data_dir: str | None = field(default=None, metadata={"help": "Folder holding negbench_voc2007/ (default ../shared/data)."})
    num_questions: int | None = field(default=None, metadata={"help": "Score only the first N questions."})
    device: str | None = field(default=None, metadata={"help": "Where the models run (default: where they load)."})
    out: str | None = field(default=None, metadata={"help": "Write the results as JSON here."})


def main(argv: list[str] | None = None) -> dict:
    (args,) = HfArgumentParser(EvaluateNegBenchArguments).parse_args_into_dataclasses(args=sys.argv[1:] if argv is None else argv)
    for name in args.models:
        check_model_path(name)
    questions = read_negbench_questions(args.images_root, args.split, args.source, args.data_dir, args.num_questions)
    results = {}
    for name in args.models:
        model = AutoModel.from_pretrained(name, trust_remote_code=True)
        processor = AutoProcessor.from_pretrained(name, trust_remote_code=True)
        results[name] = evaluate_negbench(TextImageScorer(model, processor, device=args.device), questions)
    print(format_negbench_table(results))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
