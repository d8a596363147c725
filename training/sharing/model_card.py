"""Generate a NegCLIP checkpoint's model card (README.md with Hub metadata) from measured results.

The card is generated from `model_cards/negclip_template.md`, never hand-edited; its code snippet
is executed by a test.
"""

from __future__ import annotations

from pathlib import Path

from modeling_negclip import NegCLIPModel

from ..evaluate_negation_head import format_head_table
from ..negbench.negbench_mcq import format_negbench_table
from ..world.world_report import format_headline_table

TEMPLATE = Path(__file__).resolve().parents[2] / "model_cards" / "negclip_template.md"
INDEX_METRICS = (("mcq", "negation"), ("mcq", "hybrid"), ("presence", "accuracy"), ("absence", "accuracy"),
                 ("retrieval_negated", "R@1"), ("affirmative", "zero_shot"))


def model_index(results: dict, model_name: str = "NegCLIP") -> str:
    """`model-index` entries (YAML lines) for the NegCLIP column of the benchmark results."""
    lines = []
    for group, metric in INDEX_METRICS:
        value = results.get(model_name, {}).get(group, {}).get(metric)
        if value is None:
            continue
        lines += [
            "  - task:", "      type: zero-shot-image-classification",
            "    dataset:", "      name: shapes-world negation benchmark (held-out)", "      type: negclip-shapes-world",
            "    metrics:", "    - type: accuracy", f"      name: {group} {metric}", f"      value: {value:.4f}",
        ]
    return "\n".join(lines) if lines else "  []"


# What the card says the polarity parameters were fitted on (`train_polarity_weight`'s two sources).
POLARITY_FITS = {
    "world": "on shapes-world images, each image picks its true caption in a NegBench-style question and in "
    "presence and absence pairs, plus a text-to-image contrastive loss in which a caption that is true for an "
    "image (truth known from the scene) is never counted against it.",
    "negbench": "on the photos of NegBench VOC 2007's train part, each picking its true caption among its "
    "question's four (the choice loss alone: no contrast across photos, whose truth is not known).",
}


def negbench_section(results: dict) -> str:
    """The NegBench-on-photos table of the run, when it was measured (`quickstart --negbench_images`)."""
    scored = {name: result["negbench_voc2007"] for name, result in results.items() if "negbench_voc2007" in result}
    if not scored:
        return ""
    return ("\nNegBench VOC 2007 questions on real photos (its evaluation part, which the head never trains on), "
            "same run:\n\n" + format_negbench_table(scored) + "\n")


def cue_gate_line(words: list[str] | None) -> str:
    """What the card says about the cue gate (`NegCLIPConfig.negation_cue_words`)."""
    if words is None:
        return "No cue gate: the head reads every prompt."
    return (f"Cue gate: the head reads only prompts holding one of {len(words)} negation cue words "
            f"({', '.join(repr(w) for w in words[:8])}, ...; `config.negation_cue_words`); the others score exactly as "
            "the base does, without the head's cost.")


def write_model_card(checkpoint_dir: str, results: dict, base_model: str, head_results: dict | None = None,
                     repo_id: str | None = None, polarity_fit: str = "world") -> Path:
    """Render the template into `checkpoint_dir/README.md` (what `push_to_hub` uploads). `polarity_fit`: what the
    polarity parameters were fitted on, a key of `POLARITY_FITS`."""
    if polarity_fit not in POLARITY_FITS:
        raise ValueError(f"polarity_fit must be one of {sorted(POLARITY_FITS)}, got {polarity_fit!r}")
    model = NegCLIPModel.from_pretrained(checkpoint_dir)
    trainable = sum(p.numel() for name, p in model.named_parameters() if not name.startswith("clip."))
    card = TEMPLATE.read_text().format(
        base_model=base_model,
        datasets="- negbench-voc2007\n- starsem2012-cd-sco",
        model_name=Path(repo_id or checkpoint_dir).name,
        model_index=model_index(results),
        negated_weight=model.negated_weight.item(),
        negated_threshold=model.negated_threshold.item(),
        negated_knee_weight=model.negated_knee_weight.clamp(min=0).item(),
        negated_knee_threshold=model.negated_knee_threshold.item(),
        repo_or_path=repo_id or str(Path(checkpoint_dir).resolve()),
        clip_parameters=sum(p.numel() for p in model.clip.parameters()),
        trainable_parameters=trainable,
        head_source_layer=model.config.negation_head_source_layer,
        head_encoder={"lstm": "LSTM"}.get(model.config.negation_head_encoder, model.config.negation_head_encoder),
        head_layers=model.config.negation_head_layers,
        head_hidden_size=model.config.negation_head_hidden_size,
        cue_gate=cue_gate_line(model.config.negation_cue_words),
        polarity_fit=POLARITY_FITS[polarity_fit],
        results_table=format_headline_table(results) if results else "(not measured in this run)",
        negbench_section=negbench_section(results),
        head_table=format_head_table(head_results) if head_results else "(not measured in this run)",
    )
    path = Path(checkpoint_dir) / "README.md"
    path.write_text(card)
    return path
