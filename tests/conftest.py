"""Shared fixtures: the real CLIP tokenizer (built offline), a tiny seeded CLIP, and a rule tagger."""

import os
import shutil
from pathlib import Path

import pytest
import torch
from transformers import CLIPConfig, CLIPModel

from training.text.clip_tokenizer import load_clip_tokenizer

TINY_TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=77)
TINY_VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8)
CUE_WORDS = ("without", "no", "not")


def tiny_clip_config(**text_overrides) -> CLIPConfig:
    return CLIPConfig(text_config={**TINY_TEXT, **text_overrides}, vision_config=TINY_VISION, projection_dim=16)


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory):
    return load_clip_tokenizer(cache_dir=tmp_path_factory.mktemp("clip-tokenizer"))


@pytest.fixture()
def tiny_clip():
    torch.manual_seed(0)
    return CLIPModel(tiny_clip_config()).eval()


@pytest.fixture()
def pixels():
    return torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def save_fresh_negclip(clip_dir, path):
    """A NegCLIP wrapped fresh around the saved CLIP at `clip_dir` (its head tags everything affirmed), saved to
    `path` with that CLIP's tokenizer and processor files: a checkpoint the scripts and AutoModel load."""
    from modeling_negclip import NegCLIPModel

    NegCLIPModel.from_clip(str(clip_dir), negation_head_heads=2).save_pretrained(path)
    for name in os.listdir(clip_dir):
        if "token" in name or "processor" in name:
            shutil.copy(Path(clip_dir) / name, Path(path) / name)
    return Path(path)


def rule_tagger(tokenizer):
    """A stand-in for a trained head: a cue word is tagged cue, the single word after it negated."""
    cue_ids = {tokenizer.convert_tokens_to_ids(word + "</w>") for word in CUE_WORDS}

    def tag_tokens(token_logits, input_ids, attention_mask, read_rows=None):
        tags = torch.zeros_like(input_ids)
        is_cue = torch.isin(input_ids, torch.tensor(sorted(cue_ids)))
        tags[is_cue] = 1
        tags[:, 1:][is_cue[:, :-1] & ~is_cue[:, 1:]] = 2
        return tags

    return tag_tokens


@pytest.fixture()
def tiny_clip_dir(tiny_clip, tokenizer, tmp_path):
    """A saved tiny CLIPModel with its processor: what `from_clip` and the scripts take."""
    from transformers import CLIPProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    path = tmp_path / "tiny_clip"
    tiny_clip.save_pretrained(path)
    CLIPProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tokenizer,
    ).save_pretrained(path)
    return path
