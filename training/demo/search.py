"""Ranks a gallery for a query with plain CLIP and with NegCLIP, and shows how NegCLIP split the query.

Both rankings come from one checkpoint: NegCLIP's dual-polarity score, and its wrapped CLIP's cosine. They share
the image tower, so the gallery is embedded once, when the search is built.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from modeling_negclip.negation_cues import fold_typographic_quotes

from ..world.world_benchmark import TextImageScorer
from .gallery import Gallery

SPAN_LABELS = {"affirmed": "affirmed", "negation_cue": "cue", "negated": "negated"}  # config label -> page label


@dataclass
class Ranked:
    """One retrieved image: its place in the gallery and its score (CLIP's or NegCLIP's logit)."""

    index: int
    score: float


@dataclass
class SearchResult:
    query: str
    spans: list[tuple[str, str | None]]  # the query cut into text pieces, each tagged affirmed / cue / negated or None
    positive: str  # what NegCLIP encodes as the prompt
    negated: str  # the negated words ("" when nothing is negated: then NegCLIP scores as CLIP)
    cues: str
    clip: list[Ranked]
    negclip: list[Ranked]


def tagged_spans(model, tokenizer, prompt: str) -> list[tuple[str, str | None]]:
    """`prompt` cut at token boundaries into pieces tagged by NegCLIP's head (the cue gate included); the text
    between tokens and past CLIP's token limit is tagged None. Works with any NegCLIP checkpoint's remote code."""
    positions = model.config.clip_config.text_config.max_position_embeddings
    encoded = tokenizer(
        [fold_typographic_quotes(prompt)], truncation=True, max_length=positions,
        return_offsets_mapping=True, return_tensors="pt",
    )
    device = next(model.parameters()).device
    input_ids, attention_mask = encoded["input_ids"].to(device), encoded["attention_mask"].to(device)
    with torch.no_grad():
        token_logits, _ = model.get_token_logits(input_ids, attention_mask)
        tags = model.tag_tokens(token_logits, input_ids, attention_mask)[0].tolist()
    spans, cursor = [], 0
    for (start, end), tag in zip(encoded["offset_mapping"][0].tolist(), tags):
        if end <= start:  # start and end tokens
            continue
        start = max(start, cursor)  # byte pieces of one character share its span
        if start >= end:
            continue
        if start > cursor:
            spans.append((prompt[cursor:start], None))
        name = model.config.id2label[int(tag)]
        label = SPAN_LABELS.get(name, name)
        if spans and spans[-1][1] == label and start == cursor:
            spans[-1] = (spans[-1][0] + prompt[start:end], label)
        else:
            spans.append((prompt[start:end], label))
        cursor = end
    if cursor < len(prompt):
        spans.append((prompt[cursor:], None))
    return spans


class NegCLIPSearch:
    """A gallery embedded once, ranked for each query by CLIP and by NegCLIP."""

    def __init__(self, model, processor, gallery: Gallery, top_k: int = 8):
        if not hasattr(model, "get_text_polarity_features"):
            raise TypeError(f"the demo needs a NegCLIP checkpoint, got {type(model).__name__}")
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        self.model, self.processor, self.gallery, self.top_k = model.eval(), processor, gallery, top_k
        self.negclip_scorer = TextImageScorer(model, processor)
        self.clip_scorer = TextImageScorer(model.clip, processor)
        self.image_embeds = self.negclip_scorer.encode_images(gallery.images)  # (I, D), shared by both rankings

    def _top(self, scores: torch.Tensor) -> list[Ranked]:
        values, indices = scores.topk(min(self.top_k, scores.numel()))
        return [Ranked(int(i), float(v)) for v, i in zip(values, indices)]

    def search(self, query: str) -> SearchResult:
        """Raises ValueError for an empty query (the page shows its message)."""
        if not isinstance(query, str) or not query.strip():
            raise ValueError("Type a query, for example 'a blue square and no red circle'.")
        query = query.strip()
        split = self.model.split_prompts([query], self.processor)[0]
        return SearchResult(
            query=query,
            spans=tagged_spans(self.model, self.processor.tokenizer, query),
            positive=split.positive, negated=split.negated, cues=split.cues,
            clip=self._top(self.clip_scorer.score(self.image_embeds, [query])[0]),
            negclip=self._top(self.negclip_scorer.score(self.image_embeds, [query])[0]),
        )
