"""Which captions hold for which images, as tensors, so a contrastive loss can skip false negatives.

`caption_truth` is `shapes_world.mentions_hold` (affirmed mentions present on distinct objects, no
negated mention present) for a whole batch of captions against a whole batch of images at once.

A caption that names part of a scene ("a red circle") is true for every image of the batch that
shows a red circle. Plain in-batch contrast pushes it away from all of them, and so teaches CLIP
that "red circle" is NOT present where it is: the very signal negation needs. Computing the truth
of every caption for every image is cheap once scenes and mentions are small integer codes, and
on tensors it also works on the global batch gathered from several processes.

Codes: an object is `(colour, shape, size)` indices into `COLOURS`, `SHAPES`, `SIZES`; a mention is
the same with `ANY` where the caption leaves the field out ("circle" has colour and size `ANY`).
Rows are padded to a fixed number of objects / mentions with `PAD`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch

from .shapes_world import COLOURS, MAX_OBJECTS, SHAPES, SIZES, Mention, Scene

ANY = -1  # a mention that does not name this field matches any value
PAD = -2  # a padding row: no object there, no mention there
_COLOUR_IDS = {colour: k for k, colour in enumerate(COLOURS)}
_SHAPE_IDS = {shape: k for k, shape in enumerate(SHAPES)}
_SIZE_IDS = {size: k for k, size in enumerate(SIZES)}


def _padded(rows: list[list[int]], length: int, what: str) -> list[list[int]]:
    if len(rows) > length:
        raise ValueError(f"{len(rows)} {what} do not fit in {length} rows")
    return rows + [[PAD, PAD, PAD]] * (length - len(rows))


def object_codes(scenes: Sequence[Scene], max_objects: int = MAX_OBJECTS) -> torch.Tensor:
    """`(len(scenes), max_objects, 3)` long: each object's colour, shape and size index, then `PAD` rows."""
    return torch.tensor(
        [
            _padded([[_COLOUR_IDS[o.colour], _SHAPE_IDS[o.shape], _SIZE_IDS[o.size]] for o in s.objects], max_objects, "objects")
            for s in scenes
        ],
        dtype=torch.long,
    ).view(len(scenes), max_objects, 3)


def mention_codes(captions: Sequence[Sequence[Mention]], max_mentions: int = MAX_OBJECTS) -> torch.Tensor:
    """`(len(captions), max_mentions, 3)` long: each mention's colour, shape and size index (`ANY` where
    the caption does not say), then `PAD` rows."""
    def code(m: Mention) -> list[int]:
        colour = ANY if m.colour is None else _COLOUR_IDS[m.colour]
        size = ANY if m.size is None else _SIZE_IDS[m.size]
        return [colour, _SHAPE_IDS[m.shape], size]

    return torch.tensor(
        [_padded([code(m) for m in mentions], max_mentions, "mentions") for mentions in captions], dtype=torch.long
    ).view(len(captions), max_mentions, 3)


def _fits(mentions: torch.Tensor, objects: torch.Tensor) -> torch.Tensor:
    """`(I, C, M, K)` bool: mention `m` of caption `c` names object `k` of image `i` (padding names nothing)."""
    m = mentions[None, :, :, None, :]  # (1, C, M, 1, 3)
    o = objects[:, None, None, :, :]  # (I, 1, 1, K, 3)
    return ((m == ANY) | (m == o)).all(dim=-1) & (o[..., 1] != PAD) & (m[..., 1] != PAD)


def affirmative_truth(mentions: torch.Tensor, objects: torch.Tensor) -> torch.Tensor:
    """`(I, C)` bool: whether caption `c`'s mentions match distinct objects of image `i`
    (`shapes_world.mentions_hold` with no negated mention), from `mention_codes` `(C, M, 3)` and
    `object_codes` `(I, K, 3)`."""
    if mentions.dim() != 3 or objects.dim() != 3 or mentions.shape[-1] != 3 or objects.shape[-1] != 3:
        raise ValueError(f"need (C, M, 3) mentions and (I, K, 3) objects, got {tuple(mentions.shape)}, {tuple(objects.shape)}")
    num_mentions, num_objects = mentions.shape[1], objects.shape[1]
    if num_mentions > num_objects:
        raise ValueError(f"{num_mentions} mention rows for {num_objects} object rows: pad both to the same length")
    matches = _fits(mentions, objects)  # (I, C, M, K)
    unused = (mentions[:, :, 1] == PAD)[None]  # (1, C, M): padding mentions hold trivially
    truth = torch.zeros(matches.shape[:2], dtype=torch.bool, device=matches.device)
    for chosen in itertools.permutations(range(num_objects), num_mentions):  # distinct objects per mention
        assigned = torch.stack([matches[:, :, k, obj] for k, obj in enumerate(chosen)], dim=-1)  # (I, C, M)
        truth |= (assigned | unused).all(dim=-1)
    return truth


def caption_truth(affirmed: torch.Tensor, negated: torch.Tensor, objects: torch.Tensor) -> torch.Tensor:
    """`(I, C)` bool: `shapes_world.mentions_hold` on codes. Caption `c`'s `affirmed` mentions `(C, M, 3)`
    match distinct objects of image `i` and none of its `negated` mentions `(C, N, 3)` matches any object."""
    if negated.dim() != 3 or negated.shape[-1] != 3 or negated.shape[0] != affirmed.shape[0]:
        raise ValueError(f"need (C, N, 3) negated mentions for {affirmed.shape[0]} captions, got {tuple(negated.shape)}")
    return affirmative_truth(affirmed, objects) & ~_fits(negated, objects).flatten(2).any(dim=-1)


__all__ = ["ANY", "PAD", "affirmative_truth", "caption_truth", "mention_codes", "object_codes"]
