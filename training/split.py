"""Print how NegCLIP splits prompts, for people.

    python -m training.split --model outputs/quickstart/negclip "A woman without glasses in the kitchen"
    -> positive: "A woman in the kitchen"   negated: "glasses"   cues: "without"
"""

from __future__ import annotations

import argparse

from transformers import AutoModel, AutoTokenizer

from .sharing.model_paths import check_model_path


def main(argv: list[str] | None = None) -> list:
    parser = argparse.ArgumentParser(description="Split prompts into positive and negated parts with a NegCLIP model.")
    parser.add_argument("--model", required=True, help="NegCLIP checkpoint dir or Hub id")
    parser.add_argument("prompts", nargs="+", help="prompts to split")
    args = parser.parse_args(argv)
    try:
        check_model_path(args.model)
    except OSError as error:
        parser.error(str(error))
    model = AutoModel.from_pretrained(args.model, trust_remote_code=True)
    tokenizer = AutoTokenizer.from_pretrained(args.model, trust_remote_code=True)
    splits = model.split_prompts(args.prompts, tokenizer)
    for split in splits:
        print(f"{split.prompt}\n  positive: {split.positive!r}\n  negated:  {split.negated!r}\n  cues:     {split.cues!r}")
    return splits


if __name__ == "__main__":
    main()
