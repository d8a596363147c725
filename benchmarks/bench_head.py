"""Negation-head benchmark: `model.negation_head` alone (its layers + classifier) over precomputed CLIP
text states (and token embeddings, where the head takes them), in tokens per second, beside CLIP's text
encoder on the same batch (timed alternately, rules in `benchmarks/__init__.py`) for scale.

    python -m benchmarks.bench_head                               # small and b32, batch 1, 32, 256
    python -m benchmarks.bench_head --configs b32 --batch-sizes 256 --width 77 --out head.json

Tokens are counted padded (what the head computes on: batch x width); `--width 77` pads every prompt as
CLIP's tokenizer does with `padding="max_length"`.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

from benchmarks.cli import (
    add_common_arguments,
    gate_tokenizer,
    head_config,
    judged_ms,
    markdown_table,
    run_benchmark,
)
from benchmarks.models import build_models
from benchmarks.prompts import head_arguments, make_prompts, prompt_width, tokenize
from benchmarks.timing import time_interleaved


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32, 256], help="prompts per call")
    parser.add_argument("--width", type=int, default=None, help="tokens per prompt (default: the longest prompt, 14)")
    return parser.parse_args(argv)


@torch.inference_mode()
def bench_config(config_name: str, args: argparse.Namespace, tokenizer, device: torch.device) -> list[dict[str, Any]]:
    clip, model = build_models(config_name, device, args.seed, head_config(args), gate_tokenizer(args, tokenizer))
    width = args.width or prompt_width(tokenizer)
    head = model.negation_head
    rows = []
    for batch_size in args.batch_sizes:
        input_ids, attention_mask = tokenize(tokenizer, make_prompts(batch_size, 0.5)[0], width, device)
        head_args = head_arguments(model, input_ids, attention_mask)
        timings = time_interleaved(
            {
                "head": lambda: head(*head_args),
                "text_encoder": lambda: clip.get_text_features(input_ids=input_ids, attention_mask=attention_mask),
            },
            device, args.repeats, args.warmup, args.min_time, args.max_repeats, not args.no_memory,
        )
        head_time, encoder_time = timings["head"], timings["text_encoder"]
        tokens = batch_size * width
        rows.append({
            "config": config_name,
            "batch_size": batch_size,
            "width": width,
            "head_encoder": model.config.negation_head_encoder,
            "head_layers": model.config.negation_head_layers,
            "hidden_size": clip.config.text_config.hidden_size,
            "head_hidden_size": model.config.negation_head_hidden_size,
            "text_layers": clip.config.text_config.num_hidden_layers,
            "head": head_time.as_dict(),
            "text_encoder": encoder_time.as_dict(),
            # Rates and the ratio use CPU time on CPU (see benchmarks/__init__.py), wall time on CUDA.
            "head_tokens_per_s": tokens / (head_time.judged_ms / 1e3),
            "text_encoder_tokens_per_s": tokens / (encoder_time.judged_ms / 1e3),
            "head_over_text_encoder": head_time.judged_ms / encoder_time.judged_ms,
        })
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print("ms: median CPU time per call on CPU, wall time on CUDA; tokens counted padded")
    print(markdown_table(rows, [
        ("config", lambda r: r["config"]),
        ("head", lambda r: f"{r['head_layers']} x {r['head_encoder']}"),
        ("batch x width", lambda r: f"{r['batch_size']} x {r['width']}"),
        ("head ms", lambda r: judged_ms(r["head"])),
        ("head tokens/s", lambda r: f"{r['head_tokens_per_s']:,.0f}"),
        ("text encoder ms", lambda r: judged_ms(r["text_encoder"])),
        ("encoder tokens/s", lambda r: f"{r['text_encoder_tokens_per_s']:,.0f}"),
        ("head / encoder", lambda r: r["head_over_text_encoder"]),
        ("head peak MB", lambda r: r["head"]["peak_mem_mb"]),
        ("rounds", lambda r: len(r["head"]["times_ms"])),
    ]))


def main(argv: list[str] | None = None, tokenizer=None) -> dict[str, Any]:
    """Run with command-line `argv`; `tokenizer` defaults to the offline CLIP tokenizer. Returns the JSON payload."""
    return run_benchmark("negation_head", parse_args(argv), tokenizer, bench_config, print_table)


if __name__ == "__main__":
    main()
