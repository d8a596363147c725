"""Interleaved timing (NegCLIP and CLIP alternately, rounds reversed) and peak memory of one call."""

from __future__ import annotations

import contextlib
import gc
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

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
