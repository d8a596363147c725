"""Split tagged CLIP token sequences into positive and negated sequences, on token ids, batched.

No decode and re-tokenise: the selected ids are packed in their original order between the prompt's own
start and end tokens, padded with the end token (as CLIP's tokenizer pads) to the longest packed row.
Only torch here: this file travels with every checkpoint.
"""

from dataclasses import dataclass

import torch

from .configuration_negclip import AFFIRMED_ID, NEGATED_ID


def eos_positions(input_ids: torch.Tensor, eos_token_id: int) -> torch.Tensor:
    """Index of the token CLIP pools for each row, by CLIPTextTransformer's own rule.

    Configs from before transformers PR #24773 carry `eos_token_id == 2` and pool the argmax id (the
    end token has the largest id); newer ones pool the first position equal to `eos_token_id`.
    """
    if eos_token_id == 2:
        return input_ids.to(torch.int).argmax(dim=-1)
    return (input_ids == eos_token_id).int().argmax(dim=-1)


def start_end_ids(bos_token_id: int, eos_token_id: int, vocab_size: int) -> tuple[int, int]:
    """The ids of CLIP's start and end tokens. A legacy config (`eos_token_id == 2`, see `eos_positions`)
    names them wrongly; CLIP's BPE vocabulary ends with them, so they are its last two ids."""
    if eos_token_id == 2:
        return vocab_size - 2, vocab_size - 1
    return bos_token_id, eos_token_id


def content_mask(input_ids: torch.Tensor, attention_mask: torch.Tensor, eos_token_id: int) -> torch.Tensor:
    """True on prompt tokens: after the start token, before the pooled end token, not padding. (B, T)"""
    positions = torch.arange(input_ids.shape[1], device=input_ids.device)
    eos = eos_positions(input_ids, eos_token_id)
    return (positions > 0) & (positions < eos[:, None]) & attention_mask.bool()


def pack_tokens(input_ids: torch.Tensor, keep: torch.Tensor, eos_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pack the kept ids of each row as `[start, kept..., end, end-padding]`; returns (ids, attention_mask).

    A stable sort moves kept positions to the front in their original order; no Python loop per row.
    """
    rows = input_ids.shape[0]
    eos_ids = input_ids[torch.arange(rows, device=input_ids.device), eos_positions(input_ids, eos_token_id)]
    counts = keep.sum(dim=1)  # (B,)
    width = int(counts.max().item()) + 2 if rows else 2
    order = torch.sort((~keep).to(torch.int8), dim=1, stable=True).indices  # kept first, in order
    kept = torch.gather(input_ids, 1, order)[:, : width - 2]  # (B, width-2), tail beyond count is junk
    slots = torch.arange(width - 2, device=input_ids.device)
    body = torch.where(slots[None, :] < counts[:, None], kept, eos_ids[:, None])
    packed = torch.cat([input_ids[:, :1], body, eos_ids[:, None]], dim=1)  # (B, width), end at counts + 1
    attention = (torch.arange(width, device=input_ids.device)[None, :] <= (counts + 1)[:, None]).long()
    return packed, attention


@dataclass
class PolaritySplit:
    """Packed sequences for the rows that contain a negated token.

    split_rows (`torch.Tensor` of shape `(S,)`): indices into the batch of the prompts that were split.
    positive_ids / positive_mask (`(S, Tp)`): affirmed tokens between start and end tokens.
    negated_ids / negated_mask (`(S, Tn)`): negated tokens between start and end tokens.
    """

    split_rows: torch.Tensor
    positive_ids: torch.Tensor
    positive_mask: torch.Tensor
    negated_ids: torch.Tensor
    negated_mask: torch.Tensor


def split_by_tags(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, tags: torch.Tensor, eos_token_id: int
) -> tuple[torch.Tensor, PolaritySplit]:
    """From per-token tags (affirmed / cue / negated), which rows are split and their packed sequences.

    A row is split only if at least one prompt token is tagged negated: a cue alone ("not only ...")
    changes nothing, so such a prompt scores exactly as CLIP scores it.
    """
    content = content_mask(input_ids, attention_mask, eos_token_id)
    negated = content & (tags == NEGATED_ID)
    affirmed = content & (tags == AFFIRMED_ID)
    is_split = negated.any(dim=1)
    rows = is_split.nonzero(as_tuple=True)[0]
    if not len(rows):  # nothing negated: no packing, no second encoder pass
        empty = input_ids.new_zeros((0, 2))
        return is_split, PolaritySplit(rows, empty, empty, empty, empty)
    positive_ids, positive_mask = pack_tokens(input_ids[rows], affirmed[rows], eos_token_id)
    negated_ids, negated_mask = pack_tokens(input_ids[rows], negated[rows], eos_token_id)
    return is_split, PolaritySplit(rows, positive_ids, positive_mask, negated_ids, negated_mask)
