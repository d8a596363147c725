"""Negation benchmark of any CLIP or NegCLIP checkpoint on held-out shapes-world images.

The items come from `negation_benchmark_items.py` (NegBench-style multiple choice and negated
retrieval, Omni-NegCLIP's presence/absence split, affirmative retrieval and zero-shot); this module
scores them with a model and turns the scores into metrics. It works for a plain
`transformers.CLIPModel` (a real `openai/clip-vit-base-patch32` too) and for `NegCLIPModel`, through
one interface, `TextImageScorer`:

    encode_images(images)       -> (I, D) normalised image embeddings (computed once per model)
    score(image_embeds, texts)  -> (T, I) logits_per_text: CLIP's scaled cosine, or NegCLIP's
                                   dual-polarity `compute_logits`

`evaluate_scorer` uses nothing else, so any object with these two methods (an oracle, a baseline)
can be benchmarked. Choice items follow the rule of `negation_benchmark_items`: the prediction is
the caption with the strictly highest score, a tie counts as wrong. Retrieval ranks are pessimistic
the same way: an irrelevant image scoring level with a relevant one ranks above it.

Result schema (`evaluate_model`; every metric is a fraction in [0, 1], or None when it has no
items; `num_*` entries are counts):
    mcq                affirmation, negation, hybrid, overall (accuracy); chosen: fraction of all
                       questions answered with each option kind (correct, swap, affirm_absent,
                       negate_present, tie); chosen_by_type: the same per question type; num_items
    retrieval_negated  R@1, R@5, R@10 (some relevant image in the top k), P@5, P@10, mAP,
                       hard_negative_first (the best hard negative scores at least as high as the
                       best relevant image); num_queries
    presence           accuracy, num_items (the negated object is in the image)
    absence            accuracy, num_items (it is not)
    affirmative        R@1, R@5, R@10 (affirmative text-to-image retrieval), zero_shot (accuracy
                       over one-object images), num_queries, num_zero_shot_images
    object_presence    auc, within_image (present objects scored above absent look-alikes, over all
                       images or within each; see `object_presence_metrics`), num_present, num_absent
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from .negation_benchmark_items import (
    MCQ_TYPES,
    build_affirmative_retrieval_items,
    build_mcq_items,
    build_negated_retrieval_items,
    build_object_presence_items,
    build_presence_absence_items,
    build_zero_shot_items,
)
from .shapes_world import scenes_from_dataset

MCQ_OPTION_KINDS: tuple[str, ...] = ("correct", "swap", "affirm_absent", "negate_present", "tie")
RECALL_AT: tuple[int, ...] = (1, 5, 10)
PRECISION_AT: tuple[int, ...] = (5, 10)
MAX_ENCODED_PROMPTS = 100_000  # distinct prompts a scorer keeps encoded (about 0.4 GB at B/32 for NegCLIP)
TIE = -1  # the prediction of a choice item whose highest score is shared


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------


def _normalise(embeds: torch.Tensor) -> torch.Tensor:
    """L2-normalise as CLIPModel (and NegCLIP) do, leaving all-zero rows at zero."""
    norm = torch.pow(torch.sum(torch.pow(embeds, 2), dim=-1, keepdim=True), 0.5)
    return embeds / torch.where(norm == 0, torch.ones_like(norm), norm)


@dataclass
class _TextFeatures:
    text_embeds: torch.Tensor  # (T, D), normalised
    negated_text_embeds: torch.Tensor | None = None  # (T, D), normalised; NegCLIP only
    is_split: torch.Tensor | None = None  # (T,); NegCLIP only

    def select(self, rows: Sequence[int]) -> "_TextFeatures":
        index = torch.tensor(list(rows), dtype=torch.long, device=self.text_embeds.device)
        if self.is_split is None:
            return _TextFeatures(self.text_embeds[index])
        return _TextFeatures(self.text_embeds[index], self.negated_text_embeds[index], self.is_split[index])

    @staticmethod
    def cat(parts: Sequence["_TextFeatures"]) -> "_TextFeatures":
        if parts[0].is_split is None:
            return _TextFeatures(torch.cat([part.text_embeds for part in parts]))
        return _TextFeatures(*(torch.cat([getattr(part, name) for part in parts])
                               for name in ("text_embeds", "negated_text_embeds", "is_split")))


class TextImageScorer:
    """Scores prompts against images with a `CLIPModel` or a `NegCLIPModel` (see the module docstring).

    The model is put in eval mode and moved to `device` (default: where it already is). Images and
    prompts are encoded in batches under `torch.no_grad`; scores come back as float32 on the CPU. Each distinct
    prompt is encoded once per scorer, so a scorer is for a model whose weights no longer change.
    """

    def __init__(self, model, processor, device: str | torch.device | None = None,
                 image_batch_size: int = 64, text_batch_size: int = 256, prompt_template: str = "{}"):
        if "{}" not in prompt_template:
            raise ValueError(f"prompt_template must hold '{{}}' where the caption goes, got {prompt_template!r}")
        self.prompt_template = prompt_template
        self.model = model.eval()
        if device is not None:
            self.model.to(device)
        self.device = next(model.parameters()).device
        self.processor = processor
        self.is_negclip = hasattr(model, "get_text_polarity_features")
        # A checkpoint saved with remote code older than the negated-concept adapter cannot give its query.
        self.has_negated_query = hasattr(model, "get_negated_concept_features")
        self.clip = model.clip if self.is_negclip else model
        self.max_length = self.clip.config.text_config.max_position_embeddings
        self.image_batch_size = image_batch_size
        self.text_batch_size = text_batch_size
        # Each distinct prompt is encoded once per scorer: the benchmark asks the same captions of many images.
        self._encoded: dict[str, tuple[_TextFeatures, int]] = {}

    @torch.no_grad()
    def encode_images(self, images: Sequence) -> torch.Tensor:
        """(I, D) normalised image embeddings of PIL images, in the model's dtype, on its device."""
        if len(images) == 0:
            raise ValueError("encode_images needs at least one image")
        embeds = []
        for start in range(0, len(images), self.image_batch_size):
            batch = list(images[start : start + self.image_batch_size])
            pixel_values = self.processor.image_processor(batch, return_tensors="pt")["pixel_values"]
            pixel_values = pixel_values.to(self.device, dtype=self.clip.dtype)
            embeds.append(self.model.get_image_features(pixel_values=pixel_values).pooler_output)
        return _normalise(torch.cat(embeds))

    @torch.no_grad()
    def _encode_texts(self, texts: Sequence[str]) -> _TextFeatures:
        encoded = self.processor.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        input_ids = encoded["input_ids"].to(self.device)
        attention_mask = encoded["attention_mask"].to(self.device)
        if not self.is_negclip:
            embeds = self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output
            return _TextFeatures(_normalise(embeds))
        polarity = self.model.get_text_polarity_features(input_ids=input_ids, attention_mask=attention_mask)
        return _TextFeatures(
            _normalise(polarity.text_embeds), _normalise(polarity.negated_text_embeds), polarity.is_split
        )

    def _logits(self, image_embeds: torch.Tensor, text: _TextFeatures) -> torch.Tensor:
        if not self.is_negclip:  # as CLIPModel.forward computes logits_per_text
            return torch.matmul(text.text_embeds, image_embeds.t()) * self.clip.logit_scale.exp()
        return self.model.compute_logits(image_embeds, text.text_embeds, text.negated_text_embeds, text.is_split)

    @torch.no_grad()
    def negated_concept_similarity(self, image_embeds: torch.Tensor, concepts: Sequence[str]) -> torch.Tensor:
        """(C, I) cosine of (normalised) `image_embeds` with NegCLIP's query for each concept as a negated part
        ("red circle" in "no red circle"), float32 on the CPU: what its negated term reads."""
        if not self.has_negated_query:
            raise TypeError("negated_concept_similarity needs a NegCLIP model with get_negated_concept_features")
        if len(concepts) == 0:
            raise ValueError("negated_concept_similarity needs at least one concept")
        encoded = self.processor.tokenizer(
            list(concepts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        queries = _normalise(self.model.get_negated_concept_features(encoded["input_ids"], encoded["attention_mask"]))
        return (queries @ image_embeds.to(self.device).t()).float().cpu()

    @torch.no_grad()
    def score(self, image_embeds: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        """(T, I) logits_per_text of `texts`, each put in `prompt_template`, against (normalised) `image_embeds`,
        float32 on the CPU."""
        if len(texts) == 0:
            raise ValueError("score needs at least one text")
        texts = [self.prompt_template.format(text) for text in texts]
        image_embeds = image_embeds.to(self.device)
        rows = []
        for start in range(0, len(texts), self.text_batch_size):
            text = self._text_features(texts[start : start + self.text_batch_size])
            rows.append(self._logits(image_embeds, text).float().cpu())
        return torch.cat(rows)

    def _text_features(self, texts: Sequence[str]) -> _TextFeatures:
        """Features of one batch of `texts`, encoding only those this scorer has not encoded yet."""
        if len(self._encoded) > MAX_ENCODED_PROMPTS:  # a long-running caller (the demo) keeps memory bounded
            self._encoded.clear()
        new = list(dict.fromkeys(text for text in texts if text not in self._encoded))
        if new:
            features = self._encode_texts(new)
            self._encoded.update((text, (features, k)) for k, text in enumerate(new))
        return _TextFeatures.cat([features.select([k]) for features, k in (self._encoded[text] for text in texts)])


# ---------------------------------------------------------------------------------------------
# Items and metrics
# ---------------------------------------------------------------------------------------------


def build_benchmark_items(
    scenes: Sequence,
    seed: int = 0,
    num_negated_queries: int = 500,
    num_affirmative_queries: int | None = None,
    zero_shot_attribute: str = "shape_colour",
) -> dict:
    """Every item kind over `scenes` (see `negation_benchmark_items`), keyed like the results."""
    return {
        "mcq": build_mcq_items(scenes, seed),
        "retrieval_negated": build_negated_retrieval_items(scenes, seed, num_queries=num_negated_queries),
        "presence_absence": build_presence_absence_items(scenes, seed),
        "affirmative": build_affirmative_retrieval_items(scenes, seed, num_queries=num_affirmative_queries),
        "zero_shot": build_zero_shot_items(scenes, attribute=zero_shot_attribute),
        "object_presence": build_object_presence_items(scenes),
    }


def _mean(values: Sequence[float]) -> float | None:
    return float(sum(values) / len(values)) if len(values) else None


def strict_argmax(scores: torch.Tensor) -> int:
    """Index of the strictly highest score, or `TIE` when the highest score is shared."""
    best = scores.max()
    winners = (scores == best).nonzero(as_tuple=True)[0]
    return int(winners[0]) if len(winners) == 1 else TIE


def choice_predictions(scorer, image_embeds: torch.Tensor, items: Sequence[dict], chunk_size: int = 256) -> list[int]:
    """Strict-argmax prediction (or `TIE`) of each choice item: its `captions` against its image.

    Items go to `scorer.score` in chunks (their captions against their images), so memory stays
    bounded however many images there are.
    """
    predictions = []
    for start in range(0, len(items), chunk_size):
        chunk = items[start : start + chunk_size]
        image_indices = sorted({item["image_index"] for item in chunk})
        column = {index: k for k, index in enumerate(image_indices)}
        texts = sorted({caption for item in chunk for caption in item["captions"]})
        row = {text: k for k, text in enumerate(texts)}
        scores = scorer.score(image_embeds[torch.tensor(image_indices)], texts)  # (T, I_chunk)
        for item in chunk:
            rows = torch.tensor([row[caption] for caption in item["captions"]])
            predictions.append(strict_argmax(scores[rows, column[item["image_index"]]]))
    return predictions


def _mcq_metrics(items: Sequence[dict], predictions: Sequence[int]) -> dict:
    def chosen_kind(item, prediction):
        return "tie" if prediction == TIE else item["option_kinds"][prediction]

    kinds = [chosen_kind(item, p) for item, p in zip(items, predictions)]
    by_type = {t: [k for item, k in zip(items, kinds) if item["type"] == t] for t in MCQ_TYPES}
    metrics: dict = {t: _mean([k == "correct" for k in by_type[t]]) for t in MCQ_TYPES}
    metrics["overall"] = _mean([k == "correct" for k in kinds])
    metrics["chosen"] = {kind: _mean([k == kind for k in kinds]) for kind in MCQ_OPTION_KINDS}
    metrics["chosen_by_type"] = {
        t: {kind: _mean([k == kind for k in by_type[t]]) for kind in MCQ_OPTION_KINDS} for t in MCQ_TYPES
    }
    metrics["num_items"] = len(items)
    return metrics


def _pessimistic_order(scores: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """Relevance (bool, (I,)) of the images in ranked order; among equal scores irrelevant ones first."""
    by_relevance = torch.sort(relevant.int(), stable=True).indices
    by_score = torch.sort(scores[by_relevance], descending=True, stable=True).indices
    return relevant[by_relevance[by_score]]


def retrieval_metrics(scores: torch.Tensor, items: Sequence[dict], hard_negatives: bool = False) -> dict:
    """Text-to-image metrics from (Q, I) `scores` and each item's `relevant` (and `hard_negatives`).

    R@k: a relevant image is in the top k; P@k: the fraction of the top k that is relevant; mAP:
    mean average precision. Ties rank irrelevant images first.
    """
    recall = {k: [] for k in RECALL_AT}
    precision = {k: [] for k in PRECISION_AT}
    average_precision, hard_first = [], []
    for query_scores, item in zip(scores, items):
        relevant = torch.zeros(len(query_scores), dtype=torch.bool)
        relevant[torch.tensor(item["relevant"])] = True
        best_relevant = query_scores[relevant].max()
        irrelevant_above = int((query_scores[~relevant] >= best_relevant).sum())  # the best relevant's rank - 1
        for k in RECALL_AT:
            recall[k].append(irrelevant_above < k)
        ranked = _pessimistic_order(query_scores, relevant).float()
        for k in PRECISION_AT:
            precision[k].append(float(ranked[:k].sum()) / k)
        hits = ranked.cumsum(0)
        ranks = torch.arange(1, len(ranked) + 1, dtype=torch.float32)
        average_precision.append(float((hits / ranks)[ranked.bool()].mean()))
        if hard_negatives:
            hard_first.append(bool(query_scores[torch.tensor(item["hard_negatives"])].max() >= best_relevant))
    metrics = {f"R@{k}": _mean(recall[k]) for k in RECALL_AT}
    if hard_negatives:
        metrics.update({f"P@{k}": _mean(precision[k]) for k in PRECISION_AT})
        metrics["mAP"] = _mean(average_precision)
        metrics["hard_negative_first"] = _mean(hard_first)
    metrics["num_queries"] = len(items)
    return metrics


def object_presence_metrics(scores: Sequence[float], items: Sequence[dict]) -> dict:
    """How well `scores` (one per item) put present objects above absent look-alikes; ties count as wrong.

    auc: the share of (present, absent) pairs over all images with the present one strictly higher, so
    one threshold could separate them; within_image: the same over pairs from the same image only.
    """
    scores = torch.as_tensor(scores, dtype=torch.float32)
    present = torch.tensor([item["present"] for item in items], dtype=torch.bool)
    absent_sorted = torch.sort(scores[~present]).values
    below = torch.searchsorted(absent_sorted, scores[present], side="left")  # absent scores strictly lower
    num_present, num_absent = int(present.sum()), int((~present).sum())
    auc = float(below.sum()) / (num_present * num_absent) if num_present and num_absent else None
    images = torch.tensor([item["image_index"] for item in items])
    wins = pairs = 0
    for image in images.unique():
        mine = images == image
        p, a = scores[mine & present], scores[mine & ~present]
        wins += int((p[:, None] > a[None, :]).sum())
        pairs += len(p) * len(a)
    return {"auc": auc, "within_image": wins / pairs if pairs else None, "num_present": num_present, "num_absent": num_absent}


def evaluate_scorer(scorer, images: Sequence, items: Mapping, image_embeds: torch.Tensor | None = None) -> dict:
    """Metrics of one scorer on `images` (held-out, in scene order) and `build_benchmark_items` items;
    `image_embeds`: the images' embeddings when already computed (by a model with the same image tower)."""
    if image_embeds is None:
        image_embeds = scorer.encode_images(images)  # once per model, reused by every item kind

    mcq = items["mcq"]
    results = {"mcq": _mcq_metrics(mcq, choice_predictions(scorer, image_embeds, mcq))}

    def query_scores(queries):  # (Q, I)
        if not queries:
            return torch.empty(0, len(images))
        return scorer.score(image_embeds, [item["query"] for item in queries])

    negated = items["retrieval_negated"]
    results["retrieval_negated"] = retrieval_metrics(query_scores(negated), negated, hard_negatives=True)

    pairs = items["presence_absence"]
    correct = [p == item["correct_index"] for item, p in zip(pairs, choice_predictions(scorer, image_embeds, pairs))]
    for kind in ("presence", "absence"):
        kept = [c for item, c in zip(pairs, correct) if item["kind"] == kind]
        results[kind] = {"accuracy": _mean(kept), "num_items": len(kept)}

    affirmative = items["affirmative"]
    results["affirmative"] = retrieval_metrics(query_scores(affirmative), affirmative)
    zero_shot = items["zero_shot"]
    zero_shot_correct = []
    if zero_shot["items"]:
        indices = torch.tensor([item["image_index"] for item in zero_shot["items"]])
        scores = scorer.score(image_embeds[indices], zero_shot["prompts"])  # (C, I1)
        zero_shot_correct = [strict_argmax(scores[:, k]) == item["label"] for k, item in enumerate(zero_shot["items"])]
    results["affirmative"]["zero_shot"] = _mean(zero_shot_correct)
    results["affirmative"]["num_zero_shot_images"] = len(zero_shot_correct)

    presence_items = items["object_presence"]
    results["object_presence"] = presence_table_metrics(presence_items, "prompt", lambda texts: scorer.score(image_embeds, texts))
    if scorer.has_negated_query:  # the same question, asked with the query NegCLIP's negated term uses ("red circle")
        negated = presence_table_metrics(
            presence_items, "concept", lambda concepts: scorer.negated_concept_similarity(image_embeds, concepts)
        )
        results["object_presence"].update(negated_query_auc=negated["auc"], negated_query_within_image=negated["within_image"])
    return results


def presence_table_metrics(items: Sequence[dict], key: str, score_table) -> dict:
    """`object_presence_metrics` of object presence `items`, each scored by its text `item[key]` ("a red circle" or
    the bare "red circle"): `score_table(texts)` gives the (T, I) scores of the distinct texts, one encoding each."""
    texts = sorted({item[key] for item in items})
    table = score_table(texts)
    row = {text: k for k, text in enumerate(texts)}
    return object_presence_metrics([float(table[row[item[key]], item["image_index"]]) for item in items], items)


def held_out_images_and_scenes(dataset, num_images: int | None) -> tuple[list, list]:
    """The PIL images and `Scene`s of the first `num_images` rows of a world data set (all rows for None)."""
    if num_images is not None:
        dataset = dataset.select(range(min(num_images, len(dataset))))
    return list(dataset["image"]), scenes_from_dataset(dataset)


def evaluate_models(
    models: Mapping[str, object],
    processor,
    dataset,
    seed: int = 0,
    num_images: int | None = None,
    num_negated_queries: int = 500,
    num_affirmative_queries: int | None = None,
    zero_shot_attribute: str = "shape_colour",
    device: str | torch.device | None = None,
    image_batch_size: int = 64,
    text_batch_size: int = 256,
    prompt_template: str = "{}",
) -> dict[str, dict]:
    """`evaluate_model` for each named model, on the same held-out images and the same items.

    dataset: a `build_world_dataset` data set of held-out scenes (seed `DEFAULT_EVAL_SEED`), of
    which the first `num_images` rows are used (all by default); they are the retrieval gallery.
    seed: the seed of the benchmark items. prompt_template: every caption and query is put in it
    ("This is a photo of {}." as the zero-shot pipeline does). Models whose image tower has the same
    weights (a CLIP, the NegCLIP around it, a text-only fine-tune of it) embed the images once.
    Returns {name: results} in the order of `models`.
    """
    images, scenes = held_out_images_and_scenes(dataset, num_images)
    items = build_benchmark_items(scenes, seed, num_negated_queries, num_affirmative_queries, zero_shot_attribute)
    results, embedded = {}, []  # embedded: (image tower weights, image embeddings) of the models so far
    for name, model in models.items():
        scorer = TextImageScorer(model, processor, device, image_batch_size, text_batch_size, prompt_template)
        tower = image_tower_state(scorer.clip)
        image_embeds = next((embeds for seen, embeds in embedded if _same_weights(seen, tower)), None)
        if image_embeds is None:
            image_embeds = scorer.encode_images(images)
            embedded.append((tower, image_embeds))
        results[name] = evaluate_scorer(scorer, images, items, image_embeds)
    return results


def image_tower_state(clip) -> dict[str, torch.Tensor]:
    """What a CLIP's image embeddings depend on: its vision tower and projection."""
    return {**clip.vision_model.state_dict(), **clip.visual_projection.state_dict()}


def _same_weights(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)


def evaluate_model(model, processor, dataset, seed: int = 0, **kwargs) -> dict:
    """Benchmark one `CLIPModel` or `NegCLIPModel`; keyword arguments as `evaluate_models`."""
    return evaluate_models({"model": model}, processor, dataset, seed, **kwargs)["model"]


# ---------------------------------------------------------------------------------------------
# Qualitative examples
# ---------------------------------------------------------------------------------------------


def collect_examples(
    models: Mapping[str, object],
    processor,
    dataset,
    seed: int = 0,
    num_examples: int = 6,
    tokenizer=None,
    device: str | torch.device | None = None,
) -> list[dict]:
    """A few negation and hybrid MCQ items of the benchmark with every model's choice, for the report.

    The items are the benchmark's own (`build_mcq_items` over the dataset's scenes with `seed`), so
    use the arguments given to `evaluate_models`. Each example: image (PIL), image_index, type,
    caption (the true negated caption), options, correct_index, splits ({name: {"positive",
    "negated"}} for each NegCLIP model, from `split_prompts`) and choices ({name: {"caption",
    "kind", "correct"}}; kind "tie" when the top score is shared).
    """
    tokenizer = tokenizer if tokenizer is not None else processor.tokenizer
    items = [item for item in build_mcq_items(scenes_from_dataset(dataset), seed) if item["type"] != MCQ_TYPES[0]]
    items = items[:num_examples]
    if not items:
        return []
    images = [dataset[item["image_index"]]["image"] for item in items]
    local_items = [{**item, "image_index": k} for k, item in enumerate(items)]  # index into `images`
    examples = [
        {
            "image": image,
            "image_index": item["image_index"],
            "type": item["type"],
            "caption": item["captions"][item["correct_index"]],
            "options": item["captions"],
            "correct_index": item["correct_index"],
            "splits": {},
            "choices": {},
        }
        for image, item in zip(images, items)
    ]
    for name, model in models.items():
        scorer = TextImageScorer(model, processor, device)
        predictions = choice_predictions(scorer, scorer.encode_images(images), local_items)
        if scorer.is_negclip:
            splits = model.split_prompts([example["caption"] for example in examples], tokenizer)
        for k, (example, item, prediction) in enumerate(zip(examples, items, predictions)):
            tie = prediction == TIE
            example["choices"][name] = {
                "caption": None if tie else item["captions"][prediction],
                "kind": "tie" if tie else item["option_kinds"][prediction],
                "correct": prediction == item["correct_index"],
            }
            if scorer.is_negclip:
                example["splits"][name] = {"positive": splits[k].positive, "negated": splits[k].negated}
    return examples


__all__ = [
    "MCQ_OPTION_KINDS",
    "TextImageScorer",
    "build_benchmark_items",
    "choice_predictions",
    "collect_examples",
    "evaluate_model",
    "evaluate_models",
    "evaluate_scorer",
    "held_out_images_and_scenes",
    "retrieval_metrics",
    "strict_argmax",
]
