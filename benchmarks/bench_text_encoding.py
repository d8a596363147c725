"""Text-encoding benchmark: a query set scored against cached image embeddings (retrieval), CLIP's
`get_text_features` + one product vs NegCLIP's `get_text_polarity_features` + `compute_logits`, at
0 / 50 / 100 % negated queries. Timing rules: `benchmarks/__init__.py`.

    python -m benchmarks.bench_text_encoding                       # small and b32, 256 queries, 1000 images
    python -m benchmarks.bench_text_encoding --configs b32 --queries 64 256 --gallery 100000 --out text.json
    python -m benchmarks.bench_text_encoding --breakdown           # where NegCLIP's time goes, at 50 %

`--breakdown` times NegCLIP's steps one by one (rebuilt from the model's pieces, as
`get_text_polarity_features` runs them: CLIP's first `negation_head_source_layer` layers and the head on
every query, the remaining layers on the unsplit queries only, each split part encoded at its own width),
plus one alternative: both parts in one call padded to the longer of the two.

Goal: ratio <= 1.6 at 50 % negated.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

from benchmarks.cli import (
    RATIO_COLUMNS,
    add_common_arguments,
    clock_note,
    environment,
    gate_tokenizer,
    head_config,
    markdown_table,
    settings,
    setup_run,
    write_json,
)
from benchmarks.models import NEGATED_FRACTIONS, build_models
from benchmarks.prompts import (
    ScriptedNegationTags,
    head_arguments,
    make_prompts,
    prompt_width,
    rule_tags,
    tokenize,
)
from benchmarks.timing import comparison, time_interleaved
from modeling_negclip.polarity_split import split_by_tags
from training.text.clip_tokenizer import load_clip_tokenizer

GOAL_AT_HALF = 1.6


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--queries", type=int, nargs="+", default=[256], help="queries encoded per call")
    parser.add_argument("--gallery", type=int, default=1000, help="cached image embeddings scored against")
    parser.add_argument("--negated-fractions", type=float, nargs="+", default=list(NEGATED_FRACTIONS))
    parser.add_argument("--breakdown", action="store_true", help="also time NegCLIP's steps at 50 %% negated")
    return parser.parse_args(argv)


def normalise(embeds: torch.Tensor) -> torch.Tensor:
    """L2-normalise rows, all-zero rows (negated parts of unsplit queries) left at zero, as NegCLIP does."""
    norm = embeds.norm(p=2, dim=-1, keepdim=True)
    return embeds / torch.where(norm == 0, torch.ones_like(norm), norm)


def clip_call(clip, input_ids, attention_mask, image_embeds):
    def call():
        text = clip.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output
        return normalise(text) @ image_embeds.t() * clip.logit_scale.exp()  # (Q, I), as CLIPModel.forward

    return call


def negclip_call(model, tagger, logits, input_ids, attention_mask, image_embeds):
    def call():
        tagger.logits = logits  # an attribute assignment: the fractions alternate within a round
        text = model.get_text_polarity_features(input_ids, attention_mask)
        positive, negated = normalise(text.text_embeds), normalise(text.negated_text_embeds)
        return model.compute_logits(image_embeds, positive, negated, text.is_split)  # (Q, I)

    return call


@torch.inference_mode()
def bench_config(config_name: str, args: argparse.Namespace, tokenizer, device: torch.device) -> tuple[list, list]:
    clip, model = build_models(config_name, device, args.seed, head_config(args), gate_tokenizer(args, tokenizer))
    tagger = ScriptedNegationTags(model)
    width = prompt_width(tokenizer)
    generator = torch.Generator().manual_seed(args.seed)
    image_embeds = normalise(torch.randn(args.gallery, clip.config.projection_dim, generator=generator)).to(device)
    rows, breakdowns = [], []
    for queries in args.queries:
        clip_ids, clip_mask = tokenize(tokenizer, make_prompts(queries, 0.0)[0], width, device)
        fns = {"clip": clip_call(clip, clip_ids, clip_mask, image_embeds)}
        cases = {}
        for fraction in args.negated_fractions:
            prompts, negated = make_prompts(queries, fraction)
            input_ids, attention_mask = tokenize(tokenizer, prompts, width, device)
            tags = rule_tags(input_ids, attention_mask, tokenizer)
            logits = ScriptedNegationTags.logits_of(model, tags, input_ids, attention_mask).to(device)
            tagger.logits = logits
            is_split = model.get_text_polarity_features(input_ids, attention_mask).is_split
            cases[fraction] = {"negated_prompts": negated, "split_prompts": int(is_split.sum())}
            fns[f"negclip@{fraction}"] = negclip_call(model, tagger, logits, input_ids, attention_mask, image_embeds)
            if args.breakdown and fraction == 0.5:
                breakdowns.append(
                    breakdown(config_name, args, model, tagger, logits, input_ids, attention_mask, image_embeds)
                )
        timings = time_interleaved(
            fns, device, args.repeats, args.warmup, args.min_time, args.max_repeats, not args.no_memory
        )
        for fraction, case in cases.items():
            limit = GOAL_AT_HALF if fraction == 0.5 else None
            rows.append({
                "config": config_name,
                "queries": queries,
                "gallery": args.gallery,
                "negated_fraction": fraction,
                **case,
                "tokens_per_prompt": width,
                **comparison(timings["clip"], timings[f"negclip@{fraction}"], limit),
            })
    tagger.remove()
    return rows, breakdowns


def breakdown(config_name, args, model, tagger, logits, input_ids, attention_mask, image_embeds) -> dict[str, Any]:
    """Median time of each NegCLIP step on one query batch, timed alternately like the main comparison."""
    clip, eos = model.clip, model.config.clip_config.text_config.eos_token_id
    tagger.logits = logits
    token_logits, states = model.get_token_logits(input_ids, attention_mask)  # states after the head's source layer
    read = model.negation_cue_rows(input_ids, attention_mask)  # the queries the cue gate passes to the head
    head_args = head_arguments(model, input_ids[read], attention_mask[read])
    tags = model.tag_tokens(token_logits, input_ids, attention_mask)
    is_split, split = split_by_tags(input_ids, attention_mask, tags, eos)
    kept = (~is_split).nonzero(as_tuple=True)[0]
    joint_width = max(split.positive_ids.shape[1], split.negated_ids.shape[1])
    joint_ids = torch.cat([_pad(split.positive_ids, joint_width, eos), _pad(split.negated_ids, joint_width, eos)])
    joint_mask = torch.cat([_pad(split.positive_mask, joint_width, 0), _pad(split.negated_mask, joint_width, 0)])
    positive = normalise(clip.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output)
    negated = torch.zeros_like(positive)

    def encode(ids, mask):
        return clip.get_text_features(input_ids=ids, attention_mask=mask)

    def tag_and_split():
        return split_by_tags(input_ids, attention_mask, model.tag_tokens(token_logits, input_ids, attention_mask), eos)

    fns = {
        "(CLIP's whole text encoder, all queries)": lambda: encode(input_ids, attention_mask),
        "first layers (all queries) + negation head (gated)": lambda: model.get_token_logits(input_ids, attention_mask),
        "negation head alone, queries it reads": lambda: model.negation_head(*head_args),
        "tag + split_by_tags": tag_and_split,
        "remaining layers, unsplit queries": lambda: model._finish_text_encoding(
            states[kept], input_ids[kept], attention_mask[kept]
        ),
        "positive parts, own width": lambda: encode(split.positive_ids, split.positive_mask),
        "negated parts, own width": lambda: encode(split.negated_ids, split.negated_mask),
        "normalise + compute_logits": lambda: model.compute_logits(image_embeds, normalise(positive), normalise(negated), is_split),
        "alt: both parts in one call, common width": lambda: encode(joint_ids, joint_mask),
        "whole get_text_polarity_features + scoring": negclip_call(model, tagger, logits, input_ids, attention_mask, image_embeds),
    }
    timings = time_interleaved(fns, input_ids.device, args.repeats, args.warmup, args.min_time, args.max_repeats, False)
    return {
        "config": config_name,
        "queries": input_ids.shape[0],
        "split_prompts": len(split.split_rows),
        "head_source_layer": model.config.negation_head_source_layer,
        "text_layers": model.config.clip_config.text_config.num_hidden_layers,
        "full_width": input_ids.shape[1],
        "positive_width": split.positive_ids.shape[1],
        "negated_width": split.negated_ids.shape[1],
        "steps_ms": {name: timing.judged_ms for name, timing in timings.items()},
    }


def _pad(tensor: torch.Tensor, width: int, value: int) -> torch.Tensor:
    return torch.nn.functional.pad(tensor, (0, width - tensor.shape[1]), value=value)


def print_tables(rows: list[dict[str, Any]], breakdowns: list[dict[str, Any]]) -> None:
    print(clock_note(rows))
    print(markdown_table(rows, [("config", lambda r: r["config"]), ("queries", lambda r: r["queries"]), *RATIO_COLUMNS]))
    for item in breakdowns:
        steps = item["steps_ms"]
        total = steps["whole get_text_polarity_features + scoring"]
        print(f"\nBreakdown, {item['config']}, {item['queries']} queries, {item['split_prompts']} split; head reads "
              f"layer {item['head_source_layer']} of {item['text_layers']}; widths: full {item['full_width']}, "
              f"positive {item['positive_width']}, negated {item['negated_width']}")
        print(markdown_table(
            [{"step": name, "ms": ms, "share": ms / total} for name, ms in steps.items()],
            [("step", lambda r: r["step"]), ("ms", lambda r: r["ms"]), ("of whole", lambda r: f"{r['share']:.0%}")],
        ))


def main(argv: list[str] | None = None, tokenizer=None) -> dict[str, Any]:
    """Run with command-line `argv`; `tokenizer` defaults to the offline CLIP tokenizer. Returns the JSON payload."""
    # 1. Arguments, device, tokenizer.
    args = parse_args(argv)
    device = setup_run(args)
    tokenizer = tokenizer or load_clip_tokenizer()
    # 2. Each config: CLIP and NegCLIP on one set of weights, timed alternately; optional step breakdown.
    rows, breakdowns = [], []
    for config_name in args.configs:
        config_rows, config_breakdowns = bench_config(config_name, args, tokenizer, device)
        rows += config_rows
        breakdowns += config_breakdowns
    # 3. Report.
    payload = {
        "benchmark": "text_encoding",
        "environment": environment(device),
        "settings": settings(args),
        "results": rows,
        "breakdown": breakdowns,
    }
    write_json(args.out, payload)
    print_tables(rows, breakdowns)
    return payload


if __name__ == "__main__":
    main()
