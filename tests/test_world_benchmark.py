import copy
import json
import math

import pytest
import torch
from transformers import CLIPModel, CLIPProcessor
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from modeling_negclip import NegCLIPModel
from tests.conftest import rule_tagger, tiny_clip_config
from training.world.negation_benchmark_items import build_object_presence_items
from training.world.negation_captions import caption_is_true
from training.world.shapes_world import DEFAULT_EVAL_SEED, build_world_dataset, scenes_from_dataset
from training.world.world_benchmark import (
    TIE,
    TextImageScorer,
    build_benchmark_items,
    collect_examples,
    evaluate_model,
    evaluate_models,
    object_presence_metrics,
    retrieval_metrics,
    strict_argmax,
)
from training.world.world_report import flatten_metrics, format_table, write_report

SIZES = dict(num_negated_queries=20, num_affirmative_queries=20)
RESULT_KEYS = {"mcq", "retrieval_negated", "presence", "absence", "affirmative", "object_presence"}


@pytest.fixture(scope="module")
def dataset():
    return build_world_dataset(30, DEFAULT_EVAL_SEED, image_size=32)


@pytest.fixture(scope="module")
def processor(tokenizer):
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    clip = CLIPModel(tiny_clip_config()).eval()
    return {"clip": clip, "negclip": NegCLIPModel.from_clip(clip, negation_head_heads=2).eval()}


@pytest.fixture(scope="module")
def results(models, processor, dataset):
    return evaluate_models(models, processor, dataset, seed=0, **SIZES)


def _metrics(result):
    return {key: value for key, value in flatten_metrics(result).items() if not key.split(".")[-1].startswith("num_")}


def test_results_have_every_section_with_fractions(results):
    assert list(results) == ["clip", "negclip"]
    for result in results.values():
        assert set(result) == RESULT_KEYS
        assert set(result["mcq"]) >= {"affirmation", "negation", "hybrid", "overall", "chosen"}
        assert set(result["retrieval_negated"]) >= {"R@1", "R@5", "R@10", "mAP", "hard_negative_first"}
        assert set(result["affirmative"]) >= {"R@1", "R@5", "R@10", "zero_shot"}
        assert result["retrieval_negated"]["num_queries"] > 0 and result["affirmative"]["num_zero_shot_images"] > 0
        for key, value in _metrics(result).items():
            assert value is not None and 0.0 <= value <= 1.0, key
        assert math.isclose(sum(result["mcq"]["chosen"].values()), 1.0)


def without_negated_query(result):
    """A NegCLIP's results without what only NegCLIP reports (object presence through its negated query)."""
    presence = {k: v for k, v in result["object_presence"].items() if not k.startswith("negated_query")}
    return {**result, "object_presence": presence}


def test_fresh_negclip_scores_exactly_as_clip(results):
    # A fresh head tags nothing negated, so every prompt is scored as CLIP scores it, bit for bit.
    assert without_negated_query(results["negclip"]) == results["clip"]
    assert "negated_query_auc" not in results["clip"]["object_presence"]


def test_negated_query_presence_reads_the_adapted_concept(models, processor, dataset, tokenizer, monkeypatch):
    """NegCLIP's negated query of a concept is CLIP's embedding of the bare words ("red circle") until the
    adapter moves it."""
    from training.world.world_benchmark import TextImageScorer

    images, scenes = list(dataset["image"]), scenes_from_dataset(dataset)
    items = build_object_presence_items(scenes)
    clip = TextImageScorer(models["clip"], processor)
    concepts = sorted({item["concept"] for item in items})
    table = clip.score(clip.encode_images(images), concepts)
    bare = object_presence_metrics([float(table[concepts.index(i["concept"]), i["image_index"]]) for i in items], items)
    fresh = evaluate_models({"negclip": models["negclip"]}, processor, dataset, seed=0, **SIZES)["negclip"]
    assert fresh["object_presence"]["negated_query_auc"] == pytest.approx(bare["auc"], abs=1e-9)
    assert fresh["object_presence"]["negated_query_within_image"] == pytest.approx(bare["within_image"], abs=1e-9)
    # With negated captions split (a rule tagger for the head), the adapter moves their scores and nothing else.
    splitting, adapted = copy.deepcopy(models["negclip"]), copy.deepcopy(models["negclip"])
    with torch.no_grad():
        adapted.negated_adapter.normal_(std=1.0, generator=torch.Generator().manual_seed(0))
    for model in (splitting, adapted):
        monkeypatch.setattr(model, "tag_tokens", rule_tagger(tokenizer))
    before, moved = evaluate_models({"before": splitting, "moved": adapted}, processor, dataset, seed=0, **SIZES).values()
    assert moved["object_presence"]["negated_query_auc"] != fresh["object_presence"]["negated_query_auc"]
    assert moved["retrieval_negated"] != before["retrieval_negated"]  # negated queries read the adapted concept
    assert moved["affirmative"] == before["affirmative"] == fresh["affirmative"]  # affirmative prompts are not split
    with pytest.raises(ValueError, match="at least one concept"):
        TextImageScorer(models["negclip"], processor).negated_concept_similarity(torch.zeros(1, 16), [])
    with pytest.raises(TypeError, match="NegCLIP"):
        clip.negated_concept_similarity(torch.zeros(1, 16), concepts)


def test_oracle_scorer_gets_every_choice_right(models, processor, dataset, monkeypatch):
    scenes = scenes_from_dataset(dataset)
    items = build_benchmark_items(scenes, seed=0, **SIZES)
    records = {r["prompt"]: r for kind in ("mcq", "presence_absence") for item in items[kind] for r in item["records"]}
    for kind in ("retrieval_negated", "affirmative"):
        records.update({item["query"]: item["record"] for item in items[kind]})

    def oracle_score(self, image_embeds, texts):  # image "embeddings" are the images' indices; (T, I)
        def truth(text, index):
            return float(text in records and caption_is_true(records[text], scenes[int(index)]))

        return torch.tensor([[truth(text, index) for index in image_embeds[:, 0]] for text in texts])

    monkeypatch.setattr(TextImageScorer, "encode_images", lambda self, images: torch.arange(len(images))[:, None])
    monkeypatch.setattr(TextImageScorer, "score", oracle_score)
    result = evaluate_model(models["clip"], processor, dataset, seed=0, **SIZES)
    assert {result["mcq"][t] for t in ("affirmation", "negation", "hybrid", "overall")} == {1.0}
    assert result["mcq"]["chosen"]["correct"] == 1.0
    assert result["presence"]["accuracy"] == result["absence"]["accuracy"] == 1.0
    for section in ("retrieval_negated", "affirmative"):
        assert result[section]["R@1"] == 1.0
    assert result["retrieval_negated"]["mAP"] == 1.0 and result["retrieval_negated"]["hard_negative_first"] == 0.0
    assert result["affirmative"]["zero_shot"] == 0.0  # zero-shot prompts all score 0 here: ties are wrong


def test_ties_count_as_wrong():
    assert strict_argmax(torch.tensor([0.1, 0.9, 0.3])) == 1
    assert strict_argmax(torch.tensor([0.9, 0.2, 0.9])) == TIE
    # Query 0: relevant image 2 ties with irrelevant image 0, so it ranks 2nd; query 1: relevant first.
    scores = torch.tensor([[0.5, 0.1, 0.5, 0.3], [0.2, 0.9, 0.1, 0.8]])
    items = [{"relevant": [2], "hard_negatives": [0]}, {"relevant": [1, 2], "hard_negatives": [3]}]
    metrics = retrieval_metrics(scores, items, hard_negatives=True)
    assert metrics["R@1"] == 0.5 and metrics["R@5"] == 1.0
    assert metrics["hard_negative_first"] == 0.5
    assert math.isclose(metrics["mAP"], (1 / 2 + (1 + 2 / 4) / 2) / 2)
    assert math.isclose(metrics["P@5"], (1 / 5 + 2 / 5) / 2)


def test_report_files(results, models, processor, dataset, tokenizer, tmp_path, monkeypatch):
    monkeypatch.setattr(models["negclip"], "tag_tokens", rule_tagger(tokenizer))
    examples = collect_examples(models, processor, dataset, seed=0, num_examples=3)
    assert len(examples) == 3 and all(e["splits"]["negclip"]["negated"] for e in examples)
    assert set(examples[0]["choices"]) == {"clip", "negclip"}

    paths = write_report(results, tmp_path, extra={"checkpoint": "tiny"}, examples=examples)
    assert {p.name for p in tmp_path.iterdir()} == {"results.json", "results.md", "comparison.png", "examples.png"}
    assert set(paths) == {"results.json", "results.md", "comparison.png", "examples.png"}
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["results"] == json.loads(json.dumps(results)) and payload["extra"] == {"checkpoint": "tiny"}
    assert "| metric | clip | negclip |" in (tmp_path / "results.md").read_text()
    assert "mcq.negation" in format_table(results)


def test_object_presence_metrics_count_strict_wins():
    items = [
        {"image_index": 0, "present": True}, {"image_index": 0, "present": False},
        {"image_index": 1, "present": True}, {"image_index": 1, "present": False},
    ]
    # Image 0: 0.9 > 0.5; image 1: 0.4 < 0.6. Across images: 0.9 beats both, 0.4 beats neither.
    metrics = object_presence_metrics([0.9, 0.5, 0.4, 0.6], items)
    assert metrics["within_image"] == 0.5 and metrics["auc"] == 0.5
    assert object_presence_metrics([0.5, 0.5, 0.7, 0.1], items)["within_image"] == 0.5  # the tie is wrong
    assert (metrics["num_present"], metrics["num_absent"]) == (2, 2)


def test_object_presence_items_are_present_objects_and_absent_look_alikes(dataset):
    scenes = scenes_from_dataset(dataset)
    items = build_object_presence_items(scenes)
    for item in items:
        colour, shape = item["prompt"].split()[-2:]
        shown = any((o.colour, o.shape) == (colour, shape) for o in scenes[item["image_index"]].objects)
        assert shown == item["present"]
    assert sum(item["present"] for item in items) == sum(len({(o.colour, o.shape) for o in s.objects}) for s in scenes)


def test_models_sharing_an_image_tower_embed_the_images_once(models, processor, dataset, monkeypatch):
    calls = []
    encode = TextImageScorer.encode_images
    monkeypatch.setattr(TextImageScorer, "encode_images", lambda self, images: calls.append(1) or encode(self, images))
    other = CLIPModel(tiny_clip_config()).eval()  # another image tower
    out = evaluate_models({**models, "other": other}, processor, dataset, seed=0, **SIZES)
    assert len(calls) == 2  # the CLIP and the NegCLIP around it share one embedding; the other CLIP has its own
    assert _metrics(out["negclip"]) == _metrics(evaluate_model(models["negclip"], processor, dataset, seed=0, **SIZES))


def test_prompt_template_frames_every_caption(models, processor, dataset):
    framed = TextImageScorer(models["clip"], processor, prompt_template="This is a photo of {}.")
    plain = TextImageScorer(models["clip"], processor)
    embeds = plain.encode_images(list(dataset["image"])[:4])
    torch.testing.assert_close(framed.score(embeds, ["a red circle"]), plain.score(embeds, ["This is a photo of a red circle."]))
    with pytest.raises(ValueError, match="prompt_template must hold"):
        TextImageScorer(models["clip"], processor, prompt_template="a photo")


def test_each_distinct_prompt_is_encoded_once_and_scores_as_a_fresh_encoding(models, processor, dataset, monkeypatch):
    scorer = TextImageScorer(models["negclip"], processor, text_batch_size=3)
    embeds = scorer.encode_images(list(dataset["image"])[:4])
    texts = ["a red circle", "no blue square", "a red circle", "a green triangle but no red circle"]
    encoded = []
    encode = TextImageScorer._encode_texts
    monkeypatch.setattr(TextImageScorer, "_encode_texts", lambda self, batch: encoded.extend(batch) or encode(self, batch))
    first = scorer.score(embeds, texts)
    again = scorer.score(embeds, [*reversed(texts), "no blue square"])
    assert sorted(encoded) == sorted(set(texts))  # each distinct prompt once, whatever the batches
    torch.testing.assert_close(again, torch.cat([first.flip(0), first[1:2]]))
    fresh = TextImageScorer(models["negclip"], processor)
    for k, text in enumerate(texts):  # alone, padded to its own length
        torch.testing.assert_close(fresh.score(embeds, [text]), first[k : k + 1], rtol=1e-5, atol=1e-5)
