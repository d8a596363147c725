"""The polarity fit on world images: what it moves, and the adapter's own learning rate."""

import pytest
import torch

from modeling_negclip import NegCLIPModel
from tests.conftest import rule_tagger, save_fresh_negclip
from training import train_polarity_weight
from training.world.shapes_world import build_world_dataset


@pytest.fixture()
def fit(tiny_clip_dir, tokenizer, tmp_path, monkeypatch):
    """Runs a 2-step world fit from a fresh NegCLIP whose head is the rule tagger; returns (before, fitted)."""
    rule = rule_tagger(tokenizer)  # "no" / "not" / "without" and the word after: negated captions split
    monkeypatch.setattr(NegCLIPModel, "tag_tokens", lambda self, *args, **kwargs: rule(*args, **kwargs))
    head = tmp_path / "head"
    save_fresh_negclip(tiny_clip_dir, head)
    build_world_dataset(8, 100, 32).save_to_disk(str(tmp_path / "world" / "train"))

    def run(*flags):
        out = tmp_path / "negclip"
        train_polarity_weight.main([
            "--negclip_model", str(head), "--world_dir", str(tmp_path / "world"), "--output_dir", str(out),
            "--num_images", "8", "--per_device_train_batch_size", "4", "--max_steps", "2", "--report_to", "none",
            *flags,
        ])  # fmt: skip
        return NegCLIPModel.from_pretrained(head), NegCLIPModel.from_pretrained(out)

    return run


def moved(before, fitted):
    return {name for name, value in before.state_dict().items() if not torch.equal(value, fitted.state_dict()[name])}


def test_fit_moves_the_polarity_parameters_and_the_adapter_only(fit):
    before, fitted = fit()
    polarity = {name for name, p in fitted.named_parameters() if any(p is q for q in fitted.polarity_parameters())}
    assert "negated_adapter" in moved(before, fitted) and moved(before, fitted) <= polarity
    # Adam's first steps move each entry by about its learning rate: the adapter's (1e-3), not the scalars' (0.05).
    assert 1e-4 < fitted.negated_adapter.abs().max().item() <= 2.5e-3
    assert abs(fitted.negated_threshold.item()) > 0.04


def test_adapter_false_keeps_clip_embedding_of_the_negated_part(fit):
    before, fitted = fit("--adapter", "false")
    assert not fitted.negated_adapter.any()
    assert {"negated_weight", "negated_threshold"} <= moved(before, fitted)


def test_cached_fit_ends_at_the_uncached_fit_s_parameters(fit):
    _, cached = fit("--max_steps", "4")
    _, uncached = fit("--max_steps", "4", "--cache_frozen_embeddings", "false")
    for p, q in zip(cached.polarity_parameters(), uncached.polarity_parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert not torch.equal(cached.negated_adapter, torch.zeros_like(cached.negated_adapter))


def test_adapter_learning_rate_is_its_own(fit):
    _, slow = fit("--adapter_learning_rate", "1e-5")
    assert 0 < slow.negated_adapter.abs().max().item() <= 2.5e-5
