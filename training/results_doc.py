"""`docs/results.md` from the main job's `results.json`: the full tables as the current recipe gives them, never by hand.

    python -m training.results_doc --results outputs/quickstart/results.json --out docs/results.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .evaluate_negation_head import format_head_table
from .world.world_report import format_headline_table, format_table


def results_markdown(payload: dict) -> str:
    """The shapes-world tables, the splitter's table and the stage times of one main-job `results.json`."""
    results, extra = payload["results"], payload.get("extra", {})
    stages = extra.get("stages", {})
    lines = [
        "# Results",
        "",
        "Written by `python -m training.results_doc` from the `results.json` of `accelerate launch -m training.quickstart`",
        "(2 CPU cores, seed 0). Another machine gives somewhat other figures: CPUs round floats differently, so",
        "training runs part ways as with another seed.",
        "",
        "## Shapes-world benchmark (1,000 held-out images)",
        "",
        format_headline_table(results),
        "",
        "## Every metric",
        "",
        format_table(results),
        "",
    ]
    head = stages.get("negation_head", {}).get("evaluation")
    if head:
        lines += ["## The negation head against the regex baseline", "", format_head_table(head), ""]
    if stages:
        lines += ["## Stage times", "", "| stage | seconds |", "|---|---:|"]
        lines += [f"| {name} | {info.get('seconds', '-')} |" for name, info in stages.items()] + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="outputs/quickstart/results.json", help="the main job's results.json")
    parser.add_argument("--out", default="docs/results.md")
    args = parser.parse_args(argv)
    path = Path(args.results)
    if not path.is_file():
        raise SystemExit(f"no results file at {path}: run `accelerate launch -m training.quickstart` first")
    text = results_markdown(json.loads(path.read_text()))
    Path(args.out).write_text(text)
    return text


if __name__ == "__main__":
    main()
