"""Checkpoints: remote-code loading in a fresh process, the zero-shot pipeline, refused checkpoints."""

import json
import logging
import os
import subprocess
import sys

import pytest
import torch
from PIL import Image
from transformers import CLIPProcessor, pipeline
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from modeling_negclip import NegCLIPModel
from tests.conftest import rule_tagger

FRESH_PROCESS = """
import sys, torch
from transformers import AutoModel, AutoProcessor
assert "modeling_negclip" not in sys.modules
model = AutoModel.from_pretrained(sys.argv[1], trust_remote_code=True).eval()
processor = AutoProcessor.from_pretrained(sys.argv[1], trust_remote_code=True)
inputs = torch.load(sys.argv[2])
with torch.no_grad():
    torch.save(model(**inputs).logits_per_image, sys.argv[3])
"""


@pytest.fixture()
def checkpoint(tiny_clip, tokenizer, tmp_path):
    model = NegCLIPModel.from_clip(tiny_clip, negation_head_heads=2).eval()
    with torch.no_grad():  # a head that tags some tokens negated, so the split is exercised
        model.negation_head.classifier.weight.normal_(std=0.01, generator=torch.Generator().manual_seed(0))
        model.negation_head.classifier.bias.copy_(torch.tensor([0.0, -20.0, 1.0]))  # every token negated
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tokenizer,
    )
    model.save_pretrained(tmp_path / "ckpt")
    processor.save_pretrained(tmp_path / "ckpt")
    return model, processor, tmp_path / "ckpt"


def test_save_writes_remote_code_and_auto_map(checkpoint):
    _, _, path = checkpoint
    auto_map = json.loads((path / "config.json").read_text())["auto_map"]
    assert auto_map["AutoModel"] == auto_map["AutoModelForZeroShotImageClassification"] == "modeling_negclip.NegCLIPModel"
    for name in ("model.safetensors", "configuration_negclip.py", "modeling_negclip.py", "polarity_split.py", "tokenizer.json"):
        assert (path / name).is_file(), name


def test_fresh_process_without_the_package_gives_identical_outputs(checkpoint, tmp_path):
    model, processor, path = checkpoint
    inputs = processor(text=["a street without cars", "a dog", "no cats here"], images=[Image.new("RGB", (40, 40), "red")],
                       return_tensors="pt", padding=True)
    torch.save(dict(inputs), tmp_path / "inputs.pt")
    with torch.no_grad():
        expected = model(**inputs)
    assert expected.is_split.any()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")
    subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(path), str(tmp_path / "inputs.pt"), str(tmp_path / "out.pt")],
                   cwd=tmp_path, env=env, check=True, capture_output=True)
    torch.testing.assert_close(torch.load(tmp_path / "out.pt"), expected.logits_per_image, rtol=0, atol=1e-6)


def test_zero_shot_pipeline_from_dir_matches_forward(checkpoint, tmp_path, monkeypatch):
    model, processor, path = checkpoint
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    classifier = pipeline("zero-shot-image-classification", model=str(path), trust_remote_code=True)
    image = Image.new("RGB", (40, 40), "blue")
    labels = ["street without cars", "dog"]
    scores = {r["label"]: r["score"] for r in classifier(image, candidate_labels=labels)}
    inputs = processor(text=[f"This is a photo of {label}." for label in labels], images=[image], return_tensors="pt", padding=True)
    with torch.no_grad():
        expected = model(**inputs).logits_per_image[0].softmax(-1)
    assert scores["street without cars"] == pytest.approx(expected[0].item(), abs=1e-5)


def test_zero_shot_pipeline_scores_negated_label_with_the_split(tiny_clip, tokenizer, monkeypatch):
    model = NegCLIPModel.from_clip(tiny_clip, negation_head_heads=2).eval()
    monkeypatch.setattr(model, "tag_tokens", rule_tagger(tokenizer))
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    classifier = pipeline("zero-shot-image-classification", model=model, tokenizer=tokenizer, image_processor=image_processor)
    image = Image.new("RGB", (32, 32), "green")
    labels = ["a street without cars", "a dog"]
    negclip = {r["label"]: r["score"] for r in classifier(image, candidate_labels=labels)}
    plain = pipeline("zero-shot-image-classification", model=tiny_clip, tokenizer=tokenizer, image_processor=image_processor)
    clip = {r["label"]: r["score"] for r in plain(image, candidate_labels=labels)}
    assert negclip["a street without cars"] != pytest.approx(clip["a street without cars"], abs=1e-4)


def test_refuses_pickle_only_wrong_type_missing_files_and_missing_weights(checkpoint, tiny_clip, tmp_path):
    model, _, path = checkpoint
    from safetensors.torch import load_file, save_file

    pickle_dir = tmp_path / "pickle"
    pickle_dir.mkdir()
    (pickle_dir / "config.json").write_text((path / "config.json").read_text())
    torch.save(model.state_dict(), pickle_dir / "pytorch_model.bin")
    with pytest.raises(FileNotFoundError, match="pickle"):
        NegCLIPModel.from_pretrained(pickle_dir)

    clip_dir = tmp_path / "plain_clip"
    tiny_clip.save_pretrained(clip_dir)
    with pytest.raises(ValueError, match="model_type='clip'.*from_clip"):
        NegCLIPModel.from_pretrained(clip_dir)

    with pytest.raises(FileNotFoundError, match="no config.json"):
        NegCLIPModel.from_pretrained(tmp_path)

    weights = load_file(path / "model.safetensors")
    del weights["negated_weight"]
    save_file(weights, path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match="lacks 1 NegCLIP weight.*negated_weight"):
        NegCLIPModel.from_pretrained(path)


def test_checkpoint_without_null_positive_gets_the_empty_prompt(checkpoint, tokenizer, tmp_path):
    """Saved before the null positive existed: it loads with CLIP's empty-prompt embedding, as it then scored."""
    model, _, path = checkpoint
    from safetensors.torch import load_file, save_file

    old = tmp_path / "old"
    old.mkdir()
    (old / "config.json").write_text((path / "config.json").read_text())
    weights = load_file(path / "model.safetensors")
    del weights["null_positive_embeds"]
    save_file(weights, old / "model.safetensors", metadata={"format": "pt"})
    loaded = NegCLIPModel.from_pretrained(old)
    with torch.no_grad():
        empty = loaded.clip.get_text_features(**tokenizer([""], return_tensors="pt")).pooler_output[0]
    torch.testing.assert_close(loaded.null_positive_embeds, empty)


def test_checkpoint_without_the_knee_scores_as_it_did(checkpoint, tmp_path):
    """Saved before the knee existed: it loads with no knee (v = 0), so its linear term scores alone, as then."""
    _, _, path = checkpoint
    from safetensors.torch import load_file, save_file

    old = tmp_path / "old"
    old.mkdir()
    (old / "config.json").write_text((path / "config.json").read_text())
    weights = load_file(path / "model.safetensors")
    del weights["negated_knee_weight"], weights["negated_knee_threshold"]
    save_file(weights, old / "model.safetensors", metadata={"format": "pt"})
    loaded = NegCLIPModel.from_pretrained(old)
    assert loaded.negated_knee_weight.item() == 0.0
    torch.testing.assert_close(loaded.negated_weight, NegCLIPModel.from_pretrained(path).negated_weight)


def test_checkpoint_without_the_threshold_loads_with_none(checkpoint, tmp_path):
    """Saved before the threshold existed: t = 0 (its initial value), as it then scored."""
    model, _, path = checkpoint
    from safetensors.torch import load_file, save_file

    with torch.no_grad():
        model.negated_threshold.fill_(0.3)
    model.save_pretrained(tmp_path / "fitted")
    weights = load_file(tmp_path / "fitted" / "model.safetensors")
    del weights["negated_threshold"]
    save_file(weights, tmp_path / "fitted" / "model.safetensors", metadata={"format": "pt"})
    assert NegCLIPModel.from_pretrained(tmp_path / "fitted").negated_threshold.item() == 0.0


def test_checkpoint_without_the_adapter_scores_as_it_did(checkpoint, tmp_path):
    """Saved before the negated-concept adapter existed: it loads with A = 0, CLIP's own negated embedding."""
    model, _, path = checkpoint
    from safetensors.torch import load_file, save_file

    with torch.no_grad():
        model.negated_adapter.fill_(0.1)
    model.save_pretrained(tmp_path / "fitted")
    assert NegCLIPModel.from_pretrained(tmp_path / "fitted").negated_adapter.eq(0.1).all()
    weights = load_file(tmp_path / "fitted" / "model.safetensors")
    del weights["negated_adapter"]
    save_file(weights, tmp_path / "fitted" / "model.safetensors", metadata={"format": "pt"})
    warnings = []
    handler = logging.Handler()
    handler.emit = lambda record: warnings.append(record.getMessage())
    loading_logger = logging.getLogger("transformers")  # the report is a warning of a transformers logger
    loading_logger.addHandler(handler)
    try:
        assert not NegCLIPModel.from_pretrained(tmp_path / "fitted").negated_adapter.any()
    finally:
        loading_logger.removeHandler(handler)
    assert not any("negated_adapter" in message for message in warnings)  # no "newly initialized" report


LOAD_TOKENIZER_AND_PROCESSOR = """
import sys
from transformers import AutoProcessor, AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained(sys.argv[1], trust_remote_code=True)
processor = AutoProcessor.from_pretrained(sys.argv[1], trust_remote_code=True)
assert tokenizer("isn\\u2019t")["input_ids"] == tokenizer("isn't")["input_ids"]
processor(text=["a cat", "a dog without a hat"], padding=True)
print(type(tokenizer).__name__, type(processor).__name__)
"""


def test_tokenizer_and_processor_load_with_no_prompt_and_no_warning(checkpoint, tmp_path):
    """As a user loads them, in a fresh process with stdin closed: nothing waits for an answer, nothing warns."""
    _, _, path = checkpoint
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-c", LOAD_TOKENIZER_AND_PROCESSOR, str(path)], cwd=tmp_path, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["TokenizersBackend", "CLIPProcessor"]
    assert done.stderr == ""
