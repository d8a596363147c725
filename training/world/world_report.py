"""Report of a shapes-world benchmark run: a JSON file, a markdown table and two figures.

`write_report(results, out_dir, extra, examples)` takes `world_benchmark.evaluate_models`' results
({model name: results}) and, optionally, `world_benchmark.collect_examples`' examples, and writes
    results.json     {"results": results, "extra": extra, "examples": examples without images}
    results.md       the headline metrics and every metric, one row per metric, one column per model
    comparison.png   grouped bars of the headline metrics, one bar per model
    examples.png     held-out images, each with a true negated caption, each NegCLIP's split of it
                     and every model's multiple-choice answer (only when `examples` are given)
`format_table(results)` gives the markdown table for printing in a terminal.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

# (label, dotted metric key): the headline metrics, in the order of the table and the figure.
HEADLINE_METRICS: tuple[tuple[str, str], ...] = (
    ("MCQ affirmation", "mcq.affirmation"),
    ("MCQ negation", "mcq.negation"),
    ("MCQ hybrid", "mcq.hybrid"),
    ("Negated retrieval R@1", "retrieval_negated.R@1"),
    ("Presence", "presence.accuracy"),
    ("Absence", "absence.accuracy"),
    ("Affirmative R@1", "affirmative.R@1"),
    ("Zero-shot", "affirmative.zero_shot"),
    ("Object presence AUC", "object_presence.auc"),
    ("Object presence AUC, negated query", "object_presence.negated_query_auc"),
)


def flatten_metrics(result: Mapping, prefix: str = "") -> dict[str, float | int | None]:
    """One model's nested results as {"mcq.negation": 0.61, "mcq.chosen.swap": 0.2, ...}."""
    flat = {}
    for key, value in result.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool) or isinstance(value, int):
        return str(int(value))
    return f"{value:.3f}"


def format_table(
    results: Mapping[str, Mapping],
    metrics: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    title: str = "metric",
) -> str:
    """Markdown table: one row per metric (dotted key; every metric of the first model by default),
    one column per model. `labels` renames rows; `title` heads the row-name column."""
    flat = {name: flatten_metrics(result) for name, result in results.items()}
    if metrics is None:
        metrics = list(next(iter(flat.values()), {}))
    labels = labels or {}
    lines = [f"| {title} | " + " | ".join(results) + " |", "|---|" + "---:|" * len(results)]
    for metric in metrics:
        cells = [_cell(flat[name].get(metric)) for name in results]
        lines.append(f"| {labels.get(metric, metric)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_headline_table(results: Mapping[str, Mapping]) -> str:
    """`format_table` of the headline metrics only, with readable row names."""
    return format_table(results, [key for _, key in HEADLINE_METRICS], {key: label for label, key in HEADLINE_METRICS})


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_comparison(results: Mapping[str, Mapping], out_path: str | Path) -> None:
    """Grouped bars: one group per headline metric, one bar per model (missing metrics left out)."""
    plt = _pyplot()
    flat = {name: flatten_metrics(result) for name, result in results.items()}
    groups = len(HEADLINE_METRICS)
    width = 0.8 / max(len(results), 1)
    fig, ax = plt.subplots(figsize=(max(8, groups * (0.6 + 0.35 * len(results))), 4.5))
    for k, name in enumerate(results):
        values = [flat[name].get(key) for _, key in HEADLINE_METRICS]
        values = [float("nan") if v is None else v for v in values]
        positions = [g - 0.4 + width * (k + 0.5) for g in range(groups)]
        bars = ax.bar(positions, values, width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(range(groups), [label for label, _ in HEADLINE_METRICS], rotation=20, ha="right")
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("accuracy / recall")
    ax.set_title("Shapes-world negation benchmark (held-out images)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_path, dpi=120)
    plt.close(fig)


def _example_lines(example: Mapping, wrap: int) -> list[tuple[str, str]]:
    """(text, colour) lines under an example's image."""
    def wrapped(text, colour, indent="  "):
        return [(line, colour) for line in textwrap.wrap(text, wrap, subsequent_indent=indent)]

    lines = wrapped(f'{example["type"]}: "{example["caption"]}"', "black")
    for name, split in example["splits"].items():
        lines += wrapped(f'{name} split: + "{split["positive"]}"  − "{split["negated"]}"', "dimgray")
    for name, choice in example["choices"].items():
        mark, colour = ("✓", "green") if choice["correct"] else ("✗", "red")
        chosen = "(tie)" if choice["caption"] is None else f'"{choice["caption"]}"'
        kind = "" if choice["correct"] else f' [{choice["kind"]}]'
        lines += wrapped(f"{mark} {name}: {chosen}{kind}", colour)
    return lines


def render_examples(examples: Sequence[Mapping], out_path: str | Path, columns: int = 3, wrap: int = 46) -> None:
    """Grid of `collect_examples` examples: the image, then its caption, splits and model choices."""
    plt = _pyplot()
    if not examples:
        raise ValueError("render_examples needs at least one example")
    columns = min(columns, len(examples))
    rows = math.ceil(len(examples) / columns)
    all_lines = [_example_lines(example, wrap) for example in examples]
    text_rows = max(len(lines) for lines in all_lines)
    line_height, image_height = 0.17, 2.2  # inches
    text_height = text_rows * line_height + 0.1
    fig = plt.figure(figsize=(3.6 * columns, rows * (image_height + text_height)))
    grid = fig.add_gridspec(2 * rows, columns, height_ratios=[image_height, text_height] * rows)
    for k, (example, lines) in enumerate(zip(examples, all_lines)):
        row, column = divmod(k, columns)
        image_ax = fig.add_subplot(grid[2 * row, column])
        image_ax.imshow(example["image"], interpolation="nearest")
        image_ax.set_title(f'held-out image {example["image_index"]}', fontsize=8)
        image_ax.axis("off")
        text_ax = fig.add_subplot(grid[2 * row + 1, column])
        text_ax.axis("off")
        text_ax.set_xlim(0, 1)
        text_ax.set_ylim(text_rows + 0.5, 0)
        for y, (line, colour) in enumerate(lines):
            text_ax.text(0.0, y + 0.5, line, color=colour, fontsize=7, va="center", ha="left", family="DejaVu Sans")
    fig.savefig(out_path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def _json_example(example: Mapping) -> dict:
    return {key: value for key, value in example.items() if key != "image"}


def write_report(
    results: Mapping[str, Mapping],
    out_dir: str | Path,
    extra: Mapping | None = None,
    examples: Sequence[Mapping] | None = None,
) -> dict[str, Path]:
    """Write results.json, results.md, comparison.png and (given `examples`) examples.png to `out_dir`.

    extra: run details (checkpoints, sizes, seeds, timings) stored in results.json and listed in
    results.md; values that JSON cannot hold are written as strings. Returns {file name: path}.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / name for name in ("results.json", "results.md", "comparison.png")}

    payload = {"results": results, "extra": dict(extra or {}), "examples": [_json_example(e) for e in examples or []]}
    paths["results.json"].write_text(json.dumps(payload, indent=2, default=str) + "\n")

    sections = ["# Shapes-world negation benchmark", ""]
    if extra:
        sections += [f"- **{key}**: {value}" for key, value in extra.items()] + [""]
    sections += ["## Headline metrics", "", format_headline_table(results), ""]
    sections += ["## All metrics", "", format_table(results), ""]
    sections += [
        "Fractions in [0, 1]; a choice with tied top scores counts as wrong, and in retrieval an",
        "irrelevant image scoring level with a relevant one ranks above it. `mcq.chosen.*`: the share",
        "of questions answered with each option kind; `hard_negative_first`: the share of negated",
        "queries whose best hard negative scores at least as high as their best relevant image.",
        "",
    ]
    paths["results.md"].write_text("\n".join(sections))

    plot_comparison(results, paths["comparison.png"])
    if examples:
        paths["examples.png"] = out_dir / "examples.png"
        render_examples(examples, paths["examples.png"])
    return paths


__all__ = [
    "HEADLINE_METRICS",
    "flatten_metrics",
    "format_headline_table",
    "format_table",
    "plot_comparison",
    "render_examples",
    "write_report",
]
