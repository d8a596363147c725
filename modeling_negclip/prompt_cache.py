"""Each prompt's frozen text encoding, computed once: what a fit of the polarity parameters alone needs.

With CLIP and the negation head frozen, a prompt's split and CLIP's embeddings of its parts never change; only the
null positive and the adapter, applied after them, learn. The polarity fit sees the same captions again and again,
and far fewer distinct parts than prompts: "no red circle" and "there is no red circle" share their negated part
"red circle". So each distinct prompt is tagged and split once, and each distinct part encoded once. Only torch
here: this file travels with every checkpoint.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class NegCLIPPromptParts:
    """What the head and the frozen CLIP make of a batch of prompts, before any polarity parameter.

    positive_embeds (`(B, P)`): CLIP's projected embedding of the positive part (of the whole prompt if not split).
    concept_embeds (`(B, P)`): CLIP's projected embedding of the negated part, before the adapter; zeros if not split.
    is_split (`(B,)` bool); positive_is_empty (`(B,)` bool): a split prompt whose positive part has no token.
    token_logits (`(B, T, 3)`) and last_hidden_state (`(B, T, H)`): `None` when read from a cache.
    """

    positive_embeds: torch.Tensor
    concept_embeds: torch.Tensor
    is_split: torch.Tensor
    positive_is_empty: torch.Tensor
    token_logits: torch.Tensor | None = None
    last_hidden_state: torch.Tensor | None = None


class NegCLIPPromptCache:
    """Prompt parts by the prompt's token ids, and CLIP embeddings by the packed part's ids (padding aside).
    `hits` and `misses` count prompts; `len()` is the number of distinct prompts, `num_parts` of distinct parts."""

    def __init__(self):
        self._prompts: dict[tuple[int, ...], tuple[torch.Tensor, ...]] = {}
        self._parts: dict[tuple[int, ...], tuple[torch.Tensor]] = {}
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._prompts)

    @property
    def num_parts(self) -> int:
        return len(self._parts)

    def lookup(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, encode: Callable) -> NegCLIPPromptParts:
        """The batch's parts; `encode(input_ids, attention_mask) -> NegCLIPPromptParts` runs on unseen prompts only."""

        def encode_rows(ids, mask):
            parts = encode(ids, mask)
            return zip(parts.positive_embeds, parts.concept_embeds, parts.is_split, parts.positive_is_empty)

        rows, new = _memoised(self._prompts, input_ids, attention_mask, encode_rows)
        self.misses += new
        self.hits += len(rows) - new
        positive, concept, is_split, empty = (torch.stack(column) for column in zip(*rows))
        return NegCLIPPromptParts(positive, concept, is_split, empty)

    def part_embeds(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, encode: Callable) -> torch.Tensor:
        """(B, P) `encode(input_ids, attention_mask)`'s embeddings of packed parts, each distinct part encoded once."""
        rows, _ = _memoised(self._parts, input_ids, attention_mask, lambda ids, mask: ((row,) for row in encode(ids, mask)))
        return torch.stack([row for (row,) in rows])


def _memoised(table: dict, input_ids: torch.Tensor, attention_mask: torch.Tensor, encode: Callable) -> tuple[list, int]:
    """Per row the entry of `table` under its token ids, computing (no gradient) the missing ones in one call of
    `encode` on those rows, trimmed to their own longest; returns the rows and how many were new."""
    keys = [tuple(row[mask.bool()].tolist()) for row, mask in zip(input_ids, attention_mask)]
    first: dict[tuple[int, ...], int] = {}  # each missing key's first row: a prompt twice in a batch is encoded once
    for i, key in enumerate(keys):
        if key not in table:
            first.setdefault(key, i)
    if first:
        rows = torch.tensor(list(first.values()), device=input_ids.device)
        width = int(attention_mask[rows].sum(dim=1).max())
        with torch.no_grad():
            for key, entry in zip(first, encode(input_ids[rows, :width], attention_mask[rows, :width])):
                table[key] = tuple(entry)
    return [table[key] for key in keys], len(first)
