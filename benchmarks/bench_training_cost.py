"""Training-cost benchmark: NegCLIP's head (+ polarity weight) against fine-tuning CLIP's text encoder
(the CoN-CLIP-style baseline), same CLIP, same batch, same hardware, timed alternately.

    python -m benchmarks.bench_training_cost                                  # small and b32 shapes

Per step: NegCLIP runs the frozen text encoder and trains the head on word-labelled prompts (what
`train_negation_head` does); the baseline runs images and twice as many captions (true + hard negative)
and back-propagates through the whole text encoder (what `train_conclip_baseline` does). Time to target,
on the shapes world's benchmark, is `bench_time_to_target`.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

from benchmarks.cli import (
    add_common_arguments,
    environment,
    head_config,
    markdown_table,
    settings,
    setup_run,
    write_json,
)
from benchmarks.models import CONFIG_BUILDERS
from benchmarks.prompts import make_prompts, tokenize
from benchmarks.timing import time_interleaved
from modeling_negclip import NegCLIPModel
from training.text.clip_tokenizer import load_clip_tokenizer

GOAL_PARAMETERS = 0.1  # NegCLIP trainable parameters <= 1/10 of the fine-tune's


def trainable(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def build_step_functions(
    config_name: str,
    batch: int,
    device: torch.device,
    tokenizer,
    seed: int = 0,
    head_overrides: dict | None = None,
    cue_gate: bool = True,
):
    """One optimiser step of each method on the same random CLIP; returns (fns, parameter counts).
    `head_overrides` sets `NegCLIPConfig` fields (`cli.head_config`); `cue_gate` sets the gate with `tokenizer`."""
    torch.manual_seed(seed)
    from transformers import CLIPModel

    config = CONFIG_BUILDERS[config_name]()
    negclip = NegCLIPModel.from_clip(CLIPModel(config), **(head_overrides or {})).to(device).train()
    if cue_gate:
        negclip.set_negation_cue_words(tokenizer)
    for parameter in negclip.polarity_parameters():  # the head stage trains the head only; these come after
        parameter.requires_grad_(False)
    baseline = CLIPModel(config).to(device).train()
    baseline.load_state_dict(negclip.clip.state_dict())
    baseline.vision_model.requires_grad_(False)
    baseline.visual_projection.requires_grad_(False)

    prompts, _ = make_prompts(batch, 0.5)
    ids, mask = tokenize(tokenizer, prompts, 16, device)
    labels = torch.randint(0, 3, tuple(ids.shape), generator=torch.Generator().manual_seed(seed)).to(device)  # a CPU generator
    captions, _ = make_prompts(2 * batch, 0.5)
    cap_ids, cap_mask = tokenize(tokenizer, captions, 16, device)
    size = config.vision_config.image_size
    pixels = torch.randn(batch, 3, size, size, device=device)
    head_optimizer = torch.optim.AdamW([p for p in negclip.parameters() if p.requires_grad], lr=1e-4)
    text_optimizer = torch.optim.AdamW([p for p in baseline.parameters() if p.requires_grad], lr=1e-6)
    targets = torch.arange(batch, device=device)

    def negclip_step():
        loss = negclip(input_ids=ids, attention_mask=mask, token_labels=labels, encode_split=False).loss
        head_optimizer.zero_grad()
        loss.backward()
        head_optimizer.step()

    def baseline_step():
        out = baseline(input_ids=cap_ids, attention_mask=cap_mask, pixel_values=pixels)
        loss = torch.nn.functional.cross_entropy(out.logits_per_image, targets)  # (B, 2B): hard negatives too
        text_optimizer.zero_grad()
        loss.backward()
        text_optimizer.step()

    return {"CoN-CLIP-style": baseline_step, "NegCLIP head": negclip_step}, {
        "CoN-CLIP-style": trainable(baseline),
        "NegCLIP head": trainable(negclip) + sum(p.numel() for p in negclip.polarity_parameters()),  # all it learns
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=64, help="prompts (head) / images (fine-tune) per step")
    args = parser.parse_args(argv)
    device = setup_run(args)
    tokenizer = load_clip_tokenizer()

    rows = []
    for config_name in args.configs:
        fns, parameters = build_step_functions(
            config_name, args.batch_size, device, tokenizer, args.seed, head_config(args), not args.no_cue_gate
        )
        timings = time_interleaved(fns, device, args.repeats, args.warmup, args.min_time, args.max_repeats,
                                   measure_memory=not args.no_memory)
        negclip, baseline = timings["NegCLIP head"], timings["CoN-CLIP-style"]
        rows.append({
            "config": config_name,
            "batch": args.batch_size,
            "negclip_parameters": parameters["NegCLIP head"],
            "finetune_parameters": parameters["CoN-CLIP-style"],
            "parameter_ratio": parameters["NegCLIP head"] / parameters["CoN-CLIP-style"],
            "negclip_s_per_step": negclip.median_ms / 1000,
            "finetune_s_per_step": baseline.median_ms / 1000,
            "step_time_ratio": negclip.median_ms / baseline.median_ms,
        })
    print(markdown_table(rows, [
        ("config", lambda r: r["config"]),
        ("batch", lambda r: r["batch"]),
        ("NegCLIP trainable", lambda r: f"{r['negclip_parameters']:,}"),
        ("fine-tune trainable", lambda r: f"{r['finetune_parameters']:,}"),
        (f"ratio (goal <= {GOAL_PARAMETERS})", lambda r: f"{r['parameter_ratio']:.3f}"),
        ("NegCLIP s/step", lambda r: f"{r['negclip_s_per_step']:.4f}"),
        ("fine-tune s/step", lambda r: f"{r['finetune_s_per_step']:.4f}"),
        ("step ratio", lambda r: f"{r['step_time_ratio']:.3f}"),
    ]))
    payload: dict[str, Any] = {"environment": environment(device), "settings": settings(args), "rows": rows}
    write_json(args.out, payload)
    return payload


if __name__ == "__main__":
    main()
