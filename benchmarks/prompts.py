"""Benchmark prompts and the deterministic negation tags that stand in for a trained head (`ScriptedNegationTags`)."""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence

import torch
from torch.nn import functional as F

from modeling_negclip import NegCLIPModel
from modeling_negclip.configuration_negclip import (
    AFFIRMED_ID,
    NEGATED_ID,
    NEGATION_CUE_ID,
)

# ---- prompts and deterministic tags ----

NEGATED_PROMPTS = (
    "a photo of a dog without a leash in the park",
    "a red car but not a truck on the road",
    "a kitchen with no people in it",
    "a man riding a bike without a helmet",
    "a sandy beach with no umbrellas at noon",
    "a living room without a television",
    "a plate of pasta but no fork on the table",
    "a city street at night with no cars",
    "a cat sleeping on a sofa, not a dog",
    "a bowl of fruit without any bananas",
    "a child playing in the snow without gloves",
    "an office desk with no computer on it",
    "a train station but no train at the platform",
    "a bedroom without a window",
    "a green field with no cows in it",
    "a woman holding an umbrella but not a bag",
)
# Same scenes, about the same length, nothing negated.
AFFIRMED_PROMPTS = (
    "a photo of a dog with a red leash in the park",
    "a red car parked next to a truck on the road",
    "a kitchen with two people cooking in it",
    "a man riding a bike and wearing a helmet",
    "a sandy beach with many umbrellas at noon",
    "a living room with a large television",
    "a plate of pasta and a fork on the table",
    "a city street at night full of cars",
    "a cat sleeping on a sofa next to a dog",
    "a bowl of fruit with ripe bananas",
    "a child playing in the snow with gloves",
    "an office desk with a computer on it",
    "a train station with a train at the platform",
    "a bedroom with a big window",
    "a green field with cows grazing in it",
    "a woman holding an umbrella and a bag",
)
CUE_WORDS = ("without", "no", "not")
# A negation's scope ends at these: "a dog without a leash | in the park".
SCOPE_END_WORDS = ("in", "on", "at", "but", "and", ",", ".")


def make_prompts(count: int, negated_fraction: float) -> tuple[list[str], int]:
    """`count` prompts of which round(count * fraction) are negated, spread evenly; returns (prompts, negated)."""
    negated = math.floor(count * negated_fraction + 0.5)
    prompts = []
    for i in range(count):
        is_negated = (i + 1) * negated // count > i * negated // count
        pool = NEGATED_PROMPTS if is_negated else AFFIRMED_PROMPTS
        prompts.append(pool[i % len(pool)])
    return prompts, negated


def prompt_width(tokenizer) -> int:
    """Tokens of the longest prompt in the pools, start and end included: every batch is padded to it."""
    return max(len(ids) for ids in tokenizer(list(NEGATED_PROMPTS + AFFIRMED_PROMPTS))["input_ids"])


def tokenize(tokenizer, prompts: list[str], width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), each (B, width), padded with CLIP's end token as its tokenizer does."""
    encoded = tokenizer(prompts, padding="max_length", max_length=width, truncation=True, return_tensors="pt")
    return encoded["input_ids"].to(device), encoded["attention_mask"].to(device)


def _word_ids(tokenizer, words: Sequence[str]) -> torch.Tensor:
    ids = [tokenizer(word, add_special_tokens=False)["input_ids"] for word in words]
    if any(len(token_ids) != 1 for token_ids in ids):
        raise ValueError(f"each word must be one CLIP token: {dict(zip(words, ids))}")
    return torch.tensor([token_ids[0] for token_ids in ids])


def rule_tags(input_ids: torch.Tensor, attention_mask: torch.Tensor, tokenizer) -> torch.Tensor:
    """Tags a trained head would give: cue words cue, the words after a cue up to a scope end negated. (B, T)"""
    cue = torch.isin(input_ids, _word_ids(tokenizer, CUE_WORDS).to(input_ids.device))
    scope_end = torch.isin(input_ids, _word_ids(tokenizer, SCOPE_END_WORDS).to(input_ids.device))
    positions = torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
    last_cue = torch.where(cue, positions, -1).cummax(dim=1).values
    last_end = torch.where(scope_end, positions, -1).cummax(dim=1).values
    specials = torch.tensor([tokenizer.bos_token_id, tokenizer.eos_token_id], device=input_ids.device)
    special = torch.isin(input_ids, specials)
    negated = (last_cue > last_end) & ~cue & ~scope_end & ~special & attention_mask.bool()
    tags = torch.full_like(input_ids, AFFIRMED_ID)
    tags[cue] = NEGATION_CUE_ID
    tags[negated] = NEGATED_ID
    return tags


class ScriptedNegationTags:
    """Deterministic head output: after `model.negation_head.classifier` runs, its logits are replaced by
    `self.logits` (build them with `logits_of(...)` outside the timed calls; assigning is free). The head's
    layers and classifier still compute."""

    def __init__(self, model: NegCLIPModel):
        self.logits: torch.Tensor | None = None
        self._handle = model.negation_head.classifier.register_forward_hook(self._replace_logits)

    @staticmethod
    def logits_of(
        model: NegCLIPModel, tags: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """One-hot logits of `tags` for the prompts the head reads (all, or those the cue gate passes). (R, T, 3)"""
        return F.one_hot(tags, 3).float()[model.negation_cue_rows(input_ids, attention_mask)]

    def _replace_logits(self, module, inputs, output: torch.Tensor) -> torch.Tensor:
        if self.logits is None or self.logits.shape != output.shape:
            shape = None if self.logits is None else tuple(self.logits.shape)
            raise RuntimeError(f"scripted logits of shape {shape} do not fit the head's {tuple(output.shape)}")
        return self.logits.to(output.dtype)

    def remove(self) -> None:
        self._handle.remove()


def head_arguments(model: NegCLIPModel, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple:
    """Positional arguments of `model.negation_head` for these prompts, CLIP's text states precomputed.

    The head's inputs have changed twice (CLIP's final states, later joined by the input token embeddings, then
    the states after `config.negation_head_source_layer` layers through the final layer norm), so read them off
    its signature and config rather than pin one version.
    """
    text_model = model.clip.text_model
    source = getattr(model.config, "negation_head_source_layer", None)
    output = text_model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=source is not None)
    states = output.last_hidden_state if source is None else text_model.final_layer_norm(output.hidden_states[source])
    parameters = inspect.signature(model.negation_head.forward).parameters
    if "token_embeddings" in parameters:
        embeddings = model.clip.text_model.embeddings.token_embedding(input_ids)  # (B, T, H)
        if "input_ids" in parameters:
            return states, embeddings, attention_mask, input_ids
        return states, embeddings, attention_mask
    return states, attention_mask
