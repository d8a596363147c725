"""Shared pieces of the NegCLIP benchmarks: model configs, prompts with deterministic negation tags,
interleaved timing, peak memory, JSON and markdown output.

Measurement rules (every script follows them):
- NegCLIP and the plain `CLIPModel` it wraps share one set of weights (`model.clip` IS the baseline) and
  run in the same process, ALTERNATELY: each round calls every function once, the order reversed on odd
  rounds (A B C, C B A, ...), so drift and background load hit both sides alike. Reported: the median
  (and min) over rounds of wall time, and on CPU of the process's CPU time too; ratio = NegCLIP median /
  CLIP median. On CPU the goals are judged on CPU time: on a shared machine wall time also counts the
  time other processes hold the cores (runs here saw one call vary 5.6-11 s). Runs are single-threaded
  by default (`--threads`) so CPU time is the work done, not spin-waiting.
- All inputs of a benchmark are padded to one fixed width (the longest prompt of the pool), so CLIP's
  cost does not depend on which prompts a batch holds and one CLIP baseline serves every negated fraction.
- No trained head exists offline, so `ScriptedNegationTags` makes the head's predictions deterministic:
  the head's layers and classifier still run (their cost is measured); a forward hook on the
  classifier then returns one-hot logits of tags given by a word rule (`rule_tags`).
- The models carry the cue gate a trained checkpoint carries (`negation_cue_words`; `--no-cue-gate` turns it
  off, so the head reads every prompt): affirmative prompts skip the head.
- Peak memory: bytes the torch allocator holds above its level at call start, at its highest during one
  call, outputs included, weights and inputs excluded. On CUDA `torch.cuda.max_memory_allocated`. On CPU
  `tracemalloc` does not see torch's allocations and `ru_maxrss` only ever grows over the process, so the
  CPU figure sums torch's own allocation events from `torch.profiler` (`profile_memory=True`); a
  transient peak inside one operator is not seen. Measured on the first warmup call (not a timed call).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import inspect
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import transformers
from torch.nn import functional as F
from transformers import CLIPConfig, CLIPModel

from modeling_negclip import NegCLIPModel
from modeling_negclip.configuration_negclip import AFFIRMED_ID, NEGATED_ID, NEGATION_CUE_ID, NEGATION_HEAD_ENCODERS
from training.text.clip_tokenizer import load_clip_tokenizer

CONFIG_NAMES = ("tiny", "small", "b32")
NEGATED_FRACTIONS = (0.0, 0.5, 1.0)

# ---- model configs ----


def _two_tower_config(
    width: int, mlp: int, layers: int, heads: int, image_size: int, patch_size: int, projection_dim: int
) -> CLIPConfig:
    """Both towers with the same width and depth, CLIP's 77 text positions."""
    tower = dict(hidden_size=width, intermediate_size=mlp, num_hidden_layers=layers, num_attention_heads=heads)
    return CLIPConfig(
        text_config={**tower, "max_position_embeddings": 77},
        vision_config={**tower, "image_size": image_size, "patch_size": patch_size},
        projection_dim=projection_dim,
    )


def tiny_config() -> CLIPConfig:
    """The tests' tiny CLIP (hidden 32, 2 layers, 32 px images) with the real 49,408-token vocabulary."""
    return _two_tower_config(width=32, mlp=64, layers=2, heads=2, image_size=32, patch_size=8, projection_dim=16)


def small_offline_config() -> CLIPConfig:
    """A small CLIP like the offline base: hidden 128, 4 layers per tower, 48 px images, patch 16."""
    return _two_tower_config(width=128, mlp=512, layers=4, heads=4, image_size=48, patch_size=16, projection_dim=128)


def clip_b32_config() -> CLIPConfig:
    """`CLIPConfig()` defaults: the shape of openai/clip-vit-base-patch32 (random weights, nothing downloaded)."""
    return CLIPConfig()


CONFIG_BUILDERS: dict[str, Callable[[], CLIPConfig]] = {
    "tiny": tiny_config,
    "small": small_offline_config,
    "b32": clip_b32_config,
}


def build_models(
    config_name: str,
    device: torch.device,
    seed: int = 0,
    head_overrides: dict[str, Any] | None = None,
    cue_gate_tokenizer=None,
) -> tuple[CLIPModel, NegCLIPModel]:
    """A seeded random CLIP wrapped by a fresh NegCLIP; returns (`model.clip`, `model`): one set of weights.
    `head_overrides` sets `NegCLIPConfig` fields (`head_config(args)` builds them from the command line);
    `cue_gate_tokenizer` (`gate_tokenizer(args, tokenizer)`) turns on the cue gate a trained checkpoint carries."""
    torch.manual_seed(seed)
    clip = CLIPModel(CONFIG_BUILDERS[config_name]()).eval()
    model = NegCLIPModel.from_clip(clip, **(head_overrides or {})).eval().to(device)
    if cue_gate_tokenizer is not None:
        model.set_negation_cue_words(cue_gate_tokenizer)
    return model.clip, model


# ---- prompts and deterministic tags ----

NEGATED_PROMPTS = (
    "a photo of a dog without a leash in the park",
    "a red car but not a truck on the road",
    "a kitchen with no people in it",
    "a man riding a bike without a helmet",
    "a sandy beach with no umbrellas at noon",
    "a living room without a television",
    "a plate of pasta but no fork on the table",
    "a city street at night with no cars",
    "a cat sleeping on a sofa, not a dog",
    "a bowl of fruit without any bananas",
    "a child playing in the snow without gloves",
    "an office desk with no computer on it",
    "a train station but no train at the platform",
    "a bedroom without a window",
    "a green field with no cows in it",
    "a woman holding an umbrella but not a bag",
)
# Same scenes, about the same length, nothing negated.
AFFIRMED_PROMPTS = (
    "a photo of a dog with a red leash in the park",
    "a red car parked next to a truck on the road",
    "a kitchen with two people cooking in it",
    "a man riding a bike and wearing a helmet",
    "a sandy beach with many umbrellas at noon",
    "a living room with a large television",
    "a plate of pasta and a fork on the table",
    "a city street at night full of cars",
    "a cat sleeping on a sofa next to a dog",
    "a bowl of fruit with ripe bananas",
    "a child playing in the snow with gloves",
    "an office desk with a computer on it",
    "a train station with a train at the platform",
    "a bedroom with a big window",
    "a green field with cows grazing in it",
    "a woman holding an umbrella and a bag",
)
CUE_WORDS = ("without", "no", "not")
# A negation's scope ends at these: "a dog without a leash | in the park".
SCOPE_END_WORDS = ("in", "on", "at", "but", "and", ",", ".")


def make_prompts(count: int, negated_fraction: float) -> tuple[list[str], int]:
    """`count` prompts of which round(count * fraction) are negated, spread evenly; returns (prompts, negated)."""
    negated = math.floor(count * negated_fraction + 0.5)
    prompts = []
    for i in range(count):
        is_negated = (i + 1) * negated // count > i * negated // count
        pool = NEGATED_PROMPTS if is_negated else AFFIRMED_PROMPTS
        prompts.append(pool[i % len(pool)])
    return prompts, negated


def prompt_width(tokenizer) -> int:
    """Tokens of the longest prompt in the pools, start and end included: every batch is padded to it."""
    return max(len(ids) for ids in tokenizer(list(NEGATED_PROMPTS + AFFIRMED_PROMPTS))["input_ids"])


def tokenize(tokenizer, prompts: list[str], width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), each (B, width), padded with CLIP's end token as its tokenizer does."""
    encoded = tokenizer(prompts, padding="max_length", max_length=width, truncation=True, return_tensors="pt")
    return encoded["input_ids"].to(device), encoded["attention_mask"].to(device)


def _word_ids(tokenizer, words: Sequence[str]) -> torch.Tensor:
    ids = [tokenizer(word, add_special_tokens=False)["input_ids"] for word in words]
    if any(len(token_ids) != 1 for token_ids in ids):
        raise ValueError(f"each word must be one CLIP token: {dict(zip(words, ids))}")
    return torch.tensor([token_ids[0] for token_ids in ids])


def rule_tags(input_ids: torch.Tensor, attention_mask: torch.Tensor, tokenizer) -> torch.Tensor:
    """Tags a trained head would give: cue words cue, the words after a cue up to a scope end negated. (B, T)"""
    cue = torch.isin(input_ids, _word_ids(tokenizer, CUE_WORDS).to(input_ids.device))
    scope_end = torch.isin(input_ids, _word_ids(tokenizer, SCOPE_END_WORDS).to(input_ids.device))
    positions = torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
    last_cue = torch.where(cue, positions, -1).cummax(dim=1).values
    last_end = torch.where(scope_end, positions, -1).cummax(dim=1).values
    specials = torch.tensor([tokenizer.bos_token_id, tokenizer.eos_token_id], device=input_ids.device)
    special = torch.isin(input_ids, specials)
    negated = (last_cue > last_end) & ~cue & ~scope_end & ~special & attention_mask.bool()
    tags = torch.full_like(input_ids, AFFIRMED_ID)
    tags[cue] = NEGATION_CUE_ID
    tags[negated] = NEGATED_ID
    return tags


class ScriptedNegationTags:
    """Deterministic head output: after `model.negation_head.classifier` runs, its logits are replaced by
    `self.logits` (build them with `logits_of(...)` outside the timed calls; assigning is free). The head's
    layers and classifier still compute."""

    def __init__(self, model: NegCLIPModel):
        self.logits: torch.Tensor | None = None
        self._handle = model.negation_head.classifier.register_forward_hook(self._replace_logits)

    @staticmethod
    def logits_of(
        model: NegCLIPModel, tags: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """One-hot logits of `tags` for the prompts the head reads (all, or those the cue gate passes). (R, T, 3)"""
        return F.one_hot(tags, 3).float()[model.negation_cue_rows(input_ids, attention_mask)]

    def _replace_logits(self, module, inputs, output: torch.Tensor) -> torch.Tensor:
        if self.logits is None or self.logits.shape != output.shape:
            shape = None if self.logits is None else tuple(self.logits.shape)
            raise RuntimeError(f"scripted logits of shape {shape} do not fit the head's {tuple(output.shape)}")
        return self.logits.to(output.dtype)

    def remove(self) -> None:
        self._handle.remove()


def head_arguments(model: NegCLIPModel, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple:
    """Positional arguments of `model.negation_head` for these prompts, CLIP's text states precomputed.

    The head's inputs have changed twice (CLIP's final states, later joined by the input token embeddings, then
    the states after `config.negation_head_source_layer` layers through the final layer norm), so read them off
    its signature and config rather than pin one version.
    """
    text_model = model.clip.text_model
    source = getattr(model.config, "negation_head_source_layer", None)
    output = text_model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=source is not None)
    states = output.last_hidden_state if source is None else text_model.final_layer_norm(output.hidden_states[source])
    parameters = inspect.signature(model.negation_head.forward).parameters
    if "token_embeddings" in parameters:
        embeddings = model.clip.text_model.embeddings.token_embedding(input_ids)  # (B, T, H)
        if "input_ids" in parameters:
            return states, embeddings, attention_mask, input_ids
        return states, embeddings, attention_mask
    return states, attention_mask


# ---- timing and memory ----


@dataclass
class Timing:
    """Times (seconds) of the timed calls of one function: wall clock, and on CPU also the process's CPU
    time; plus its peak memory (bytes, or None)."""

    times_s: list[float] = field(default_factory=list)
    cpu_times_s: list[float] | None = None
    peak_bytes: int | None = None

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_s) * 1e3

    @property
    def min_ms(self) -> float:
        return min(self.times_s) * 1e3

    @property
    def cpu_median_ms(self) -> float | None:
        return statistics.median(self.cpu_times_s) * 1e3 if self.cpu_times_s else None

    @property
    def judged_ms(self) -> float:
        """The median the ratios and goals use: CPU time where measured (on CPU), else wall time."""
        return self.cpu_median_ms if self.cpu_times_s else self.median_ms

    def as_dict(self) -> dict[str, Any]:
        return {
            "median_ms": self.median_ms,
            "min_ms": self.min_ms,
            "cpu_median_ms": self.cpu_median_ms,
            "times_ms": [t * 1e3 for t in self.times_s],
            "cpu_times_ms": None if self.cpu_times_s is None else [t * 1e3 for t in self.cpu_times_s],
            "peak_mem_mb": None if self.peak_bytes is None else self.peak_bytes / 2**20,
        }


def comparison(base: Timing, negclip: Timing, goal: float | None) -> dict[str, Any]:
    """Result fields of one NegCLIP-vs-CLIP case. `ratio` is judged against the goal: the ratio of CPU-time
    medians on CPU (`ratio_cpu`; wall time there also counts the time other processes hold the cores),
    of wall-time medians on CUDA (`ratio_wall`)."""
    ratio_wall = negclip.median_ms / base.median_ms
    ratio_cpu = negclip.cpu_median_ms / base.cpu_median_ms if base.cpu_times_s else None
    ratio = ratio_wall if ratio_cpu is None else ratio_cpu
    return {
        "clip": base.as_dict(),
        "negclip": negclip.as_dict(),
        "ratio": ratio,
        "ratio_clock": "wall" if ratio_cpu is None else "cpu",
        "ratio_wall": ratio_wall,
        "ratio_cpu": ratio_cpu,
        "ratio_min_wall": negclip.min_ms / base.min_ms,
        "goal": goal,
        "goal_met": None if goal is None else ratio <= goal,
    }


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed_call(fn: Callable[[], Any], device: torch.device) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call; on CUDA the CPU figure means little and is dropped."""
    synchronize(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    result = fn()
    synchronize(device)
    elapsed, cpu_elapsed = time.perf_counter() - start, time.process_time() - cpu_start
    del result
    return elapsed, cpu_elapsed


@contextlib.contextmanager
def _quiet_native_stderr():
    """Silence C++ log lines written straight to fd 2 (kineto prints two per profiler start/stop)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def peak_memory_bytes(fn: Callable[[], Any], device: torch.device) -> int | None:
    """Highest torch-allocated bytes above the start level during one call of `fn` (see module docstring)."""
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        result = fn()
        synchronize(device)
        del result
        return torch.cuda.max_memory_allocated(device) - base
    profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True)
    with _quiet_native_stderr():
        profiler.__enter__()
    try:
        result = fn()
    finally:
        with _quiet_native_stderr():
            profiler.__exit__(None, None, None)
    del result
    try:
        events = profiler.profiler.kineto_results.events()  # internal API: give up quietly if it moves
    except AttributeError:
        return None
    memory = sorted(
        (event for event in events if event.name() == "[memory]" and str(event.device_type()).endswith("CPU")),
        key=lambda event: event.start_ns(),
    )
    running = peak = 0
    for event in memory:
        running += event.nbytes()
        peak = max(peak, running)
    return peak


def time_interleaved(
    fns: dict[str, Callable[[], Any]],
    device: torch.device,
    repeats: int = 5,
    warmup: int = 1,
    min_time: float = 2.0,
    max_repeats: int = 30,
    measure_memory: bool = True,
) -> dict[str, Timing]:
    """Time every function in alternating rounds (order reversed on odd rounds); see the module docstring.

    Rounds: at least `repeats`, more (up to `max_repeats`) until the slowest function has `min_time`
    seconds of timed calls, estimated from the first round. Peak memory is taken on the first warmup call
    of each function (none when `warmup` is 0 or `measure_memory` is False).
    """
    names = list(fns)
    timings = {name: Timing(cpu_times_s=[] if device.type == "cpu" else None) for name in names}
    for round_index in range(warmup):
        for name in names:
            if round_index == 0 and measure_memory:
                timings[name].peak_bytes = peak_memory_bytes(fns[name], device)
            else:
                _timed_call(fns[name], device)
    rounds, round_index = max(1, repeats), 0
    gc.collect()
    gc.disable()
    try:
        while round_index < rounds:
            order = names if round_index % 2 == 0 else names[::-1]
            for name in order:
                wall, cpu = _timed_call(fns[name], device)
                timings[name].times_s.append(wall)
                if timings[name].cpu_times_s is not None:
                    timings[name].cpu_times_s.append(cpu)
            if round_index == 0:
                slowest = max(timings[name].times_s[0] for name in names)
                rounds = max(rounds, min(max_repeats, math.ceil(min_time / max(slowest, 1e-9))))
            round_index += 1
    finally:
        gc.enable()
    return timings


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
