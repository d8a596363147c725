"""Benchmark models: tiny, small (the main job's base) and B/32-shaped CLIP configs, and NegCLIP / CLIP pairs
that share one set of weights (the measurement rules are in `benchmarks/__init__.py`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from transformers import CLIPConfig, CLIPModel

from modeling_negclip import NegCLIPModel

CONFIG_NAMES = ("tiny", "small", "b32")
NEGATED_FRACTIONS = (0.0, 0.5, 1.0)

# ---- model configs ----


def _two_tower_config(
    width: int, mlp: int, layers: int, heads: int, image_size: int, patch_size: int, projection_dim: int
) -> CLIPConfig:
    """Both towers with the same width and depth, CLIP's 77 text positions."""
    tower = dict(hidden_size=width, intermediate_size=mlp, num_hidden_layers=layers, num_attention_heads=heads)
    return CLIPConfig(
        text_config={**tower, "max_position_embeddings": 77},
        vision_config={**tower, "image_size": image_size, "patch_size": patch_size},
        projection_dim=projection_dim,
    )


def tiny_config() -> CLIPConfig:
    """The tests' tiny CLIP (hidden 32, 2 layers, 32 px images) with the real 49,408-token vocabulary."""
    return _two_tower_config(width=32, mlp=64, layers=2, heads=2, image_size=32, patch_size=8, projection_dim=16)


def small_offline_config() -> CLIPConfig:
    """A small CLIP like the offline base: hidden 128, 4 layers per tower, 48 px images, patch 16."""
    return _two_tower_config(width=128, mlp=512, layers=4, heads=4, image_size=48, patch_size=16, projection_dim=128)


def clip_b32_config() -> CLIPConfig:
    """`CLIPConfig()` defaults: the shape of openai/clip-vit-base-patch32 (random weights, nothing downloaded)."""
    return CLIPConfig()


CONFIG_BUILDERS: dict[str, Callable[[], CLIPConfig]] = {
    "tiny": tiny_config,
    "small": small_offline_config,
    "b32": clip_b32_config,
}


def build_models(
    config_name: str,
    device: torch.device,
    seed: int = 0,
    head_overrides: dict[str, Any] | None = None,
    cue_gate_tokenizer=None,
) -> tuple[CLIPModel, NegCLIPModel]:
    """A seeded random CLIP wrapped by a fresh NegCLIP; returns (`model.clip`, `model`): one set of weights.
    `head_overrides` sets `NegCLIPConfig` fields (`head_config(args)` builds them from the command line);
    `cue_gate_tokenizer` (`gate_tokenizer(args, tokenizer)`) turns on the cue gate a trained checkpoint carries."""
    torch.manual_seed(seed)
    clip = CLIPModel(CONFIG_BUILDERS[config_name]()).eval()
    model = NegCLIPModel.from_clip(clip, **(head_overrides or {})).eval().to(device)
    if cue_gate_tokenizer is not None:
        model.set_negation_cue_words(cue_gate_tokenizer)
    return model.clip, model
