"""Scoring benchmark: a batch of images against as many prompts (`logits_per_image`), `CLIPModel` vs the
`NegCLIPModel` wrapping the same weights, at 0 / 50 / 100 % negated prompts. Timing rules: `benchmarks/__init__.py`.

    python -m benchmarks.bench_scoring                                  # small: batch 1, 32, 256; b32: 1, 32
    python -m benchmarks.bench_scoring --configs small --batch-sizes 1 32 --out scoring.json
    python -m benchmarks.bench_scoring --configs b32 --batch-sizes 256 --repeats 1 --max-repeats 1 \
        --warmup 0 --min-time 0        # one round, no memory: ~50 s per call on one CPU thread
    python -m benchmarks.bench_scoring --device cuda --configs small b32 --batch-sizes 1 32 256

Goals: ratio <= 1.02 at 0 % negated; <= 1.10 at 50 %, b32, batch 32.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

from benchmarks.cli import (
    RATIO_COLUMNS,
    add_common_arguments,
    clock_note,
    gate_tokenizer,
    head_config,
    markdown_table,
    run_benchmark,
)
from benchmarks.models import NEGATED_FRACTIONS, build_models
from benchmarks.prompts import (
    ScriptedNegationTags,
    make_prompts,
    prompt_width,
    rule_tags,
    tokenize,
)
from benchmarks.timing import comparison, time_interleaved

DEFAULT_BATCH_SIZES = {"tiny": (1, 2), "small": (1, 32, 256), "b32": (1, 32)}


def goal(config_name: str, batch_size: int, negated_fraction: float) -> float | None:
    if negated_fraction == 0.0:
        return 1.02
    if negated_fraction == 0.5 and config_name == "b32" and batch_size == 32:
        return 1.10
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=None,
                        help="images = prompts per call (default: small 1 32 256, b32 1 32, tiny 1 2)")
    parser.add_argument("--negated-fractions", type=float, nargs="+", default=list(NEGATED_FRACTIONS))
    return parser.parse_args(argv)


@torch.inference_mode()
def bench_config(config_name: str, args: argparse.Namespace, tokenizer, device: torch.device) -> list[dict[str, Any]]:
    clip, model = build_models(config_name, device, args.seed, head_config(args), gate_tokenizer(args, tokenizer))
    tagger = ScriptedNegationTags(model)
    image_size = clip.config.vision_config.image_size
    width = prompt_width(tokenizer)
    rows = []
    for batch_size in args.batch_sizes or DEFAULT_BATCH_SIZES[config_name]:
        generator = torch.Generator().manual_seed(args.seed)
        pixels = torch.randn(batch_size, 3, image_size, image_size, generator=generator).to(device)
        # CLIP's cost depends on the batch shape only (fixed width), so one baseline serves every fraction.
        clip_ids, clip_mask = tokenize(tokenizer, make_prompts(batch_size, 0.0)[0], width, device)
        fns = {"clip": lambda: clip(input_ids=clip_ids, attention_mask=clip_mask, pixel_values=pixels).logits_per_image}
        cases = {}
        for fraction in args.negated_fractions:
            prompts, negated = make_prompts(batch_size, fraction)
            input_ids, attention_mask = tokenize(tokenizer, prompts, width, device)
            tags = rule_tags(input_ids, attention_mask, tokenizer)
            logits = ScriptedNegationTags.logits_of(model, tags, input_ids, attention_mask).to(device)
            checks = check_text(clip, model, tagger, input_ids, attention_mask, logits)
            cases[fraction] = {"negated_prompts": negated, **checks}
            fns[f"negclip@{fraction}"] = negclip_call(model, tagger, logits, input_ids, attention_mask, pixels)
        timings = time_interleaved(
            fns, device, args.repeats, args.warmup, args.min_time, args.max_repeats, not args.no_memory
        )
        for fraction, case in cases.items():
            rows.append({
                "config": config_name,
                "batch_size": batch_size,
                "negated_fraction": fraction,
                **case,
                "tokens_per_prompt": width,
                **comparison(timings["clip"], timings[f"negclip@{fraction}"], goal(config_name, batch_size, fraction)),
            })
    tagger.remove()
    return rows


def negclip_call(model, tagger, logits, input_ids, attention_mask, pixels):
    def call():
        tagger.logits = logits  # an attribute assignment: the fractions alternate within a round
        return model(input_ids=input_ids, attention_mask=attention_mask, pixel_values=pixels).logits_per_image

    return call


def check_text(clip, model, tagger, input_ids, attention_mask, logits) -> dict[str, Any]:
    """Validity of a case: how many prompts the model split, and, for the unsplit ones, the largest
    difference from CLIP's own text embedding: 0 when nothing is split, else float rounding (the unsplit prompts
    finish CLIP's later layers in a smaller batch). Text only, so cheap."""
    tagger.logits = logits
    polarity = model.get_text_polarity_features(input_ids, attention_mask)
    plain = clip.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output
    unsplit = ~polarity.is_split
    diff = (polarity.text_embeds[unsplit] - plain[unsplit]).abs().max().item() if unsplit.any() else 0.0
    return {"split_prompts": int(polarity.is_split.sum()), "unsplit_max_abs_diff_vs_clip": diff}


def print_table(rows: list[dict[str, Any]]) -> None:
    print(clock_note(rows))
    print(markdown_table(rows, [("config", lambda r: r["config"]), ("batch", lambda r: r["batch_size"]), *RATIO_COLUMNS]))


def main(argv: list[str] | None = None, tokenizer=None) -> dict[str, Any]:
    """Run with command-line `argv`; `tokenizer` defaults to the offline CLIP tokenizer. Returns the JSON payload."""
    return run_benchmark("scoring", parse_args(argv), tokenizer, bench_config, print_table)


if __name__ == "__main__":
    main()
