"""How much better than CLIP's own embedding can a linear query map tell a concept's presence, on concepts it
was fitted on and on concepts it never saw? The question behind NegCLIP's negated-concept adapter.

    python -m training.probe_negated_query --clip_model outputs/quickstart/base_clip \\
        --world_dir outputs/quickstart/world --out probe.json

The map has the adapter's form, `n + A n` on the embedding `n` of the bare words ("red circle"), with A = 0 at
first; here it is fitted alone, by logistic regression on object presence in the world's `train` images (each
present object and absent look-alike, `build_object_presence_items`), CLIP frozen. Scored on the `eval` images:
object presence AUC over all images and within each (`world_benchmark.object_presence_metrics`), for CLIP's
embedding and for the fitted map, once fitted on every concept and once on all but every `--unseen_every`-th,
then scored on those it never saw. A probe, not the product: the polarity fit learns A from the questions.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from datasets import load_from_disk
from transformers import AutoProcessor, CLIPModel, HfArgumentParser

from modeling_negclip.modeling_negclip import negated_query

from .world.negation_benchmark_items import build_object_presence_items
from .world.world_benchmark import TextImageScorer, held_out_images_and_scenes, presence_table_metrics


@dataclass
class ProbeArguments:
    clip_model: str = field(metadata={"help": "CLIP checkpoint folder with its processor (the base)."})
    world_dir: str = field(metadata={"help": "World folder with `train` (the fit) and `eval` (the score) datasets."})
    unseen_every: int = field(default=5, metadata={"help": "Keep every N-th concept (sorted) out of the second fit."})
    steps: int = field(default=500, metadata={"help": "Full-batch Adam steps of each fit."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate."})
    l2: float = field(default=1e-2, metadata={"help": "Weight of the squared norm of A in the loss."})
    out: str | None = field(default=None, metadata={"help": "Write the results as JSON here."})

    def __post_init__(self):
        if self.unseen_every < 2 or self.steps < 1:
            raise ValueError(f"need unseen_every >= 2 and steps >= 1, got {self.unseen_every} and {self.steps}")


def _presence_set(scorer, dataset) -> tuple[torch.Tensor, list[dict]]:
    images, scenes = held_out_images_and_scenes(dataset, None)
    return scorer.encode_images(images), build_object_presence_items(scenes)


def fit_query_map(image_embeds, items, concept_embeds, concept_index, steps, learning_rate, l2) -> torch.Tensor:
    """A (D, D) such that cos(image, n + A n) tells presence: logistic regression with a learned scale and bias."""
    rows = torch.tensor([item["image_index"] for item in items])
    concepts = torch.tensor([concept_index[item["concept"]] for item in items])
    labels = torch.tensor([float(item["present"]) for item in items])
    dim = concept_embeds.shape[1]
    adapter = torch.zeros(dim, dim, requires_grad=True)
    scale, bias = torch.tensor(20.0, requires_grad=True), torch.tensor(-5.0, requires_grad=True)
    optimizer = torch.optim.Adam([adapter, scale, bias], lr=learning_rate)
    for _ in range(steps):
        queries = torch.nn.functional.normalize(negated_query(concept_embeds, adapter), dim=-1)
        logits = scale * (image_embeds[rows] * queries[concepts]).sum(-1) + bias
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels) + l2 * adapter.pow(2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return adapter.detach()


def presence_auc(image_embeds, items, concept_embeds, concept_index, adapter=None) -> dict:
    queries = concept_embeds if adapter is None else negated_query(concept_embeds, adapter)
    queries = torch.nn.functional.normalize(queries, dim=-1)

    def score_table(concepts):  # (T, I): the queries of the concepts asked for, against every image
        return queries[[concept_index[c] for c in concepts]] @ image_embeds.t()

    metrics = presence_table_metrics(items, "concept", score_table)
    return {"auc": metrics["auc"], "within_image": metrics["within_image"]}


def main(argv: list[str] | None = None) -> dict:
    (args,) = HfArgumentParser(ProbeArguments).parse_args_into_dataclasses(args=sys.argv[1:] if argv is None else argv)
    for split in ("train", "eval"):
        if not Path(args.world_dir, split).is_dir():
            raise FileNotFoundError(f"'{args.world_dir}' has no '{split}' dataset (save_to_disk folder)")
    scorer = TextImageScorer(CLIPModel.from_pretrained(args.clip_model), AutoProcessor.from_pretrained(args.clip_model))
    train_images, train_items = _presence_set(scorer, load_from_disk(str(Path(args.world_dir, "train"))))
    eval_images, eval_items = _presence_set(scorer, load_from_disk(str(Path(args.world_dir, "eval"))))
    concepts = sorted({item["concept"] for item in train_items + eval_items})
    concept_index = {concept: k for k, concept in enumerate(concepts)}
    encoded = scorer.processor.tokenizer(concepts, padding=True, return_tensors="pt")
    with torch.no_grad():
        concept_embeds = scorer.model.get_text_features(**encoded).pooler_output
    fit = dict(steps=args.steps, learning_rate=args.learning_rate, l2=args.l2)

    unseen = set(concepts[:: args.unseen_every])
    seen_train = [item for item in train_items if item["concept"] not in unseen]
    unseen_eval = [item for item in eval_items if item["concept"] in unseen]
    all_map = fit_query_map(train_images, train_items, concept_embeds, concept_index, **fit)
    seen_map = fit_query_map(train_images, seen_train, concept_embeds, concept_index, **fit)
    results = {
        "unseen_concepts": sorted(unseen),
        "all_concepts": {
            "clip": presence_auc(eval_images, eval_items, concept_embeds, concept_index),
            "fitted_on_all": presence_auc(eval_images, eval_items, concept_embeds, concept_index, all_map),
        },
        "unseen_concepts_only": {
            "clip": presence_auc(eval_images, unseen_eval, concept_embeds, concept_index),
            "fitted_without_them": presence_auc(eval_images, unseen_eval, concept_embeds, concept_index, seen_map),
        },
    }
    print(json.dumps(results, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
