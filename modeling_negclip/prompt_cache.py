"""Each prompt's frozen text encoding, computed once: what a fit of the polarity parameters alone needs.

With CLIP and the negation head frozen, a prompt's split and CLIP's embeddings of its parts never change; only the
null positive and the adapter, applied after them, learn. The polarity fit sees the same captions again and again
(a caption space of templates x objects), so each distinct prompt is encoded once. Only torch here: this file
travels with every checkpoint.
"""

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
    """Prompt parts by token ids (padding aside); `hits` and `misses` count rows, for benchmarks and tests."""

    def __init__(self):
        self._rows: dict[tuple[int, ...], tuple[torch.Tensor, ...]] = {}
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._rows)

    def lookup(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, encode) -> NegCLIPPromptParts:
        """The batch's parts, encoding (`encode(input_ids, attention_mask)`, no gradient) only the prompts not seen."""
        keys = [tuple(row[mask.bool()].tolist()) for row, mask in zip(input_ids, attention_mask)]
        missing = [i for i, key in enumerate(keys) if key not in self._rows]
        first = {}  # a prompt twice in one batch is encoded once
        for i in missing:
            first.setdefault(keys[i], i)
        if first:
            rows = torch.tensor(list(first.values()), device=input_ids.device)
            with torch.no_grad():
                parts = encode(input_ids[rows], attention_mask[rows])
            for j, key in enumerate(first):
                self._rows[key] = (parts.positive_embeds[j], parts.concept_embeds[j], parts.is_split[j], parts.positive_is_empty[j])
        self.misses += len(first)
        self.hits += len(keys) - len(first)
        positive, concept, is_split, empty = (torch.stack(column) for column in zip(*(self._rows[key] for key in keys)))
        return NegCLIPPromptParts(positive, concept, is_split, empty)
