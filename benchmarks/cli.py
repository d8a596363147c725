"""The benchmarks' shared command line, run settings and JSON / markdown output."""

from __future__ import annotations

import argparse
import json
import os
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import transformers

from benchmarks.models import CONFIG_NAMES
from modeling_negclip.configuration_negclip import NEGATION_HEAD_ENCODERS
from training.text.clip_tokenizer import load_clip_tokenizer

# ---- command line and output ----


def add_common_arguments(parser: argparse.ArgumentParser, default_configs: Sequence[str] = ("small", "b32")) -> None:
    parser.add_argument("--configs", nargs="+", choices=CONFIG_NAMES, default=list(default_configs),
                        help="model shapes: tiny (tests), small (offline base), b32 (openai/clip-vit-base-patch32 shape)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda / cuda:N")
    parser.add_argument("--repeats", type=int, default=5, help="least timed rounds per case")
    parser.add_argument("--max-repeats", type=int, default=30, help="most timed rounds per case")
    parser.add_argument("--min-time", type=float, default=2.0,
                        help="add rounds until the slowest function has this many seconds of timed calls")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first; the first measures peak memory")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch.set_num_threads; 0 keeps torch's choice. 1 by default: on a shared CPU more "
                             "threads made single calls vary 10x between rounds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--head-source-layer", type=_source_layer, default="default",
                        help="CLIP text layers the negation head reads after: an int, 'last', or 'default' (the config's)")
    parser.add_argument("--head-encoder", choices=("default", *NEGATION_HEAD_ENCODERS), default="default",
                        help="the negation head's layers: lstm, transformer, or 'default' (the config's)")
    parser.add_argument("--no-cue-gate", action="store_true",
                        help="no cue gate: the head reads every prompt (trained checkpoints gate on negation cue words)")
    parser.add_argument("--out", type=Path, default=None, help="write the results here as JSON")


def gate_tokenizer(args: argparse.Namespace, tokenizer):
    """The tokenizer to set the cue gate with (`NegCLIPModel.set_negation_cue_words`), or None for `--no-cue-gate`."""
    return None if args.no_cue_gate else tokenizer


def head_config(args: argparse.Namespace) -> dict[str, Any]:
    """The `NegCLIPConfig` fields the command line sets (`--head-source-layer`, `--head-encoder`); the rest keep
    the config's defaults."""
    config = {}
    if args.head_source_layer != "default":
        config["negation_head_source_layer"] = args.head_source_layer
    if args.head_encoder != "default":
        config["negation_head_encoder"] = args.head_encoder
    return config


def _source_layer(value: str) -> int | None | str:
    if value in ("default", "last"):
        return None if value == "last" else value
    return int(value)


def setup_run(args: argparse.Namespace) -> torch.device:
    """Check the common arguments, set threads; return the device."""
    if args.repeats < 1 or args.max_repeats < args.repeats or args.warmup < 0 or args.min_time < 0:
        raise ValueError("need 1 <= --repeats <= --max-repeats, --warmup >= 0, --min-time >= 0")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda given but torch sees no CUDA device")
    if args.threads:
        torch.set_num_threads(args.threads)
    return device


def environment(device: torch.device) -> dict[str, Any]:
    info = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
    return info


def settings(args: argparse.Namespace) -> dict[str, Any]:
    return {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()}


def write_json(path: Path | None, payload: dict[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def judged_ms(timing: dict[str, Any]) -> float:
    """From `Timing.as_dict()`: the CPU-time median where measured, else the wall median."""
    return timing["cpu_median_ms"] if timing["cpu_median_ms"] is not None else timing["median_ms"]


def clock_note(rows: list[dict[str, Any]]) -> str:
    clock = "CPU time (process_time)" if rows and rows[0]["ratio_clock"] == "cpu" else "wall time"
    return f"ms: median {clock} per call; ratio = NegCLIP / CLIP on it; ratio wall: on wall-clock medians"


def goal_text(value: float, limit: float | None) -> str:
    if limit is None:
        return ""
    return f"<= {limit:.2f} {'met' if value <= limit else 'MISSED'}"


def markdown_table(rows: list[dict[str, Any]], columns: list[tuple[str, Callable[[dict[str, Any]], Any]]]) -> str:
    """A GitHub markdown table; `columns` are (header, row -> cell)."""
    lines = ["| " + " | ".join(header for header, _ in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(getter(row)) for _, getter in columns) + " |")
    return "\n".join(lines)


# The columns every NegCLIP-vs-CLIP ratio table ends with, after its own leading ones.
RATIO_COLUMNS: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("negated", lambda r: f"{r['negated_fraction']:.0%} ({r['split_prompts']})"),
    ("CLIP ms", lambda r: judged_ms(r["clip"])),
    ("NegCLIP ms", lambda r: judged_ms(r["negclip"])),
    ("ratio", lambda r: r["ratio"]),
    ("ratio wall", lambda r: r["ratio_wall"]),
    ("CLIP peak MB", lambda r: r["clip"]["peak_mem_mb"]),
    ("NegCLIP peak MB", lambda r: r["negclip"]["peak_mem_mb"]),
    ("rounds", lambda r: len(r["clip"]["times_ms"])),
    ("goal", lambda r: goal_text(r["ratio"], r["goal"])),
]


def run_benchmark(
    name: str,
    args: argparse.Namespace,
    tokenizer,
    bench_config: Callable[..., list[dict[str, Any]]],
    print_table: Callable[[list[dict[str, Any]]], None],
) -> dict[str, Any]:
    """The shared `main`: device, each config's rows from `bench_config(config_name, args, tokenizer, device)`,
    the JSON payload (written to `args.out`) and the printed table. `tokenizer` None: the offline CLIP one."""
    device = setup_run(args)
    tokenizer = tokenizer or load_clip_tokenizer()
    rows = [row for config_name in args.configs for row in bench_config(config_name, args, tokenizer, device)]
    payload = {"benchmark": name, "environment": environment(device), "settings": settings(args), "results": rows}
    write_json(args.out, payload)
    print_table(rows)
    return payload


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)
