"""CLIP's contrastive loss over the global batch (every rank's pairs), as open_clip trains it.

With data parallelism each rank encodes only its local slice, but the contrastive task should rank
each image against the captions of the whole global batch. `gather_features` collects the
embeddings of every rank *with gradients* and `ClipLoss` scores against them, so a run on W ranks
with local batch n computes the same loss and, after DDP's gradient averaging, the same gradients
as one process on the W*n batch.

References:
- Radford et al. 2021, "Learning Transferable Visual Models From Natural Language Supervision".
- open_clip `src/open_clip/loss.py` (`gather_features`, `ClipLoss`): same split, same two modes.
- transformers `models/clip/modeling_clip.py` (`image_text_contrastive_loss`): the 1-process loss.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F
from transformers.models.clip.modeling_clip import image_text_contrastive_loss

AllGatherFn = Callable[[torch.Tensor], Sequence[torch.Tensor]]


def _all_gather_with_grad(tensor: torch.Tensor) -> Sequence[torch.Tensor]:
    """The real collective: one tensor per rank, in rank order; backward sums each rank's
    gradient back to the rank that owns the slice (plain `dist.all_gather` would drop it)."""
    import torch.distributed.nn.functional as dist_nn  # imported lazily: only ever needed under a process group

    with warnings.catch_warnings():
        # Deprecated in favour of `_functional_collectives`, whose autograd support is still private.
        warnings.filterwarnings("ignore", message=r"torch\.distributed\.nn\.functional\.all_gather", category=FutureWarning)
        return dist_nn.all_gather(tensor)


def _default_world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _default_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def gather_features(
    image_embeds: torch.Tensor,
    text_embeds: torch.Tensor,
    *extra: torch.Tensor,
    world_size: int | None = None,
    all_gather_fn: AllGatherFn | None = None,
) -> tuple[torch.Tensor, ...]:
    """Concatenate each tensor's slices from every rank along dim 0, in rank order, keeping gradients.

    Args:
        image_embeds, text_embeds, *extra (`torch.Tensor` of shape `(local_batch, ...)`):
            this rank's tensors. Every rank must pass the same shapes (drop the last uneven batch).
        world_size (`int`, *optional*): number of ranks; defaults to torch.distributed's world size,
            or 1 when no process group is initialised.
        all_gather_fn (`Callable`, *optional*): `tensor -> sequence of world_size tensors`; defaults
            to `torch.distributed.nn.functional.all_gather`. Tests pass a fake to run without a group.

    Returns:
        `tuple` of tensors of shape `(world_size * local_batch, ...)`, in argument order; the inputs
        unchanged when `world_size == 1`.
    """
    tensors = (image_embeds, text_embeds, *extra)
    world_size = _default_world_size() if world_size is None else world_size
    if world_size == 1:
        return tensors
    all_gather_fn = _all_gather_with_grad if all_gather_fn is None else all_gather_fn
    return tuple(torch.cat(tuple(all_gather_fn(tensor)), dim=0) for tensor in tensors)


def clip_contrastive_loss(logits_per_text: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric loss on a square `(batch, batch)` similarity matrix whose diagonal holds the
    matching pairs: the mean of text->image and image->text cross-entropies (transformers' own)."""
    return image_text_contrastive_loss(logits_per_text)


class ClipLoss(nn.Module):
    """Symmetric InfoNCE over the global batch.

    Two ways to score against the gathered batch; both give the 1-process loss and gradients:
    - `local_loss=False` (default, open_clip's default): every rank builds the full global
      `(N, N)` logits, so the returned loss is identical on every rank and equal to the 1-process
      loss. The backward of the gather hands each rank W copies of its gradient and DDP's
      averaging divides them by W again.
    - `local_loss=True`: the rank's `n` rows against all `N` columns, `(n, N)` logits with labels
      `arange(n) + rank * n`; the loss is this rank's share and its mean over ranks (what DDP
      averages) is the 1-process loss. Costs `n * N` instead of `N * N`.

    Args:
        local_loss (`bool`, *optional*, defaults to `False`): see above.
        rank (`int`, *optional*), world_size (`int`, *optional*): read from torch.distributed at
            call time when left `None` (so the module can be built before the process group).
        all_gather_fn (`Callable`, *optional*): passed to `gather_features`.
    """

    def __init__(
        self,
        local_loss: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
        all_gather_fn: AllGatherFn | None = None,
    ):
        super().__init__()
        self.local_loss = local_loss
        self.rank = rank
        self.world_size = world_size
        self.all_gather_fn = all_gather_fn

    def _rank_and_world_size(self) -> tuple[int, int]:
        rank = _default_rank() if self.rank is None else self.rank
        world_size = _default_world_size() if self.world_size is None else self.world_size
        return rank, world_size

    def get_ground_truth(self, num_logits: int, device: torch.device) -> torch.Tensor:
        """Column of each row's positive: `(num_logits,)`, offset by this rank's slice in local mode."""
        labels = torch.arange(num_logits, device=device)
        rank, world_size = self._rank_and_world_size()
        if self.local_loss and world_size > 1:
            labels = labels + rank * num_logits
        return labels

    def get_logits(
        self, image_embeds: torch.Tensor, text_embeds: torch.Tensor, logit_scale: torch.Tensor | float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`logits_per_image` and `logits_per_text`: `(N, N)` global, or `(n, N)` in local mode."""
        _, world_size = self._rank_and_world_size()
        all_image_embeds, all_text_embeds = gather_features(
            image_embeds, text_embeds, world_size=world_size, all_gather_fn=self.all_gather_fn
        )  # (N, D) each
        if self.local_loss:
            logits_per_image = logit_scale * image_embeds @ all_text_embeds.T  # (n, N)
            logits_per_text = logit_scale * text_embeds @ all_image_embeds.T  # (n, N)
        else:
            logits_per_image = logit_scale * all_image_embeds @ all_text_embeds.T  # (N, N)
            logits_per_text = logits_per_image.T
        return logits_per_image, logits_per_text

    def forward(
        self,
        image_embeds: torch.Tensor,
        text_embeds: torch.Tensor,
        logit_scale: torch.Tensor | float,
        caption_truth: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """
        Args:
            image_embeds, text_embeds (`torch.Tensor` of shape `(local_batch, dim)`): L2-normalised.
            logit_scale (`torch.Tensor` or `float`): the temperature already exponentiated
                (`model.logit_scale.exp()`).
            caption_truth (`torch.Tensor` of shape `(N, N)`, *optional*): bool over the GLOBAL batch,
                caption `c` true for image `i`. A caption true for another image than its own (a
                partial caption, "a red circle") is then not counted against that image, in either
                direction; the diagonal must be true.

        Returns:
            `torch.Tensor`, scalar: mean of the image->text and text->image cross-entropies, each
            averaged over the rows scored here.
        """
        logits_per_image, logits_per_text = self.get_logits(image_embeds, text_embeds, logit_scale)
        labels = self.get_ground_truth(logits_per_image.shape[0], logits_per_image.device)
        if caption_truth is not None:
            logits_per_image, logits_per_text = self._mask_other_true_pairs(
                logits_per_image, logits_per_text, labels, caption_truth.to(logits_per_image.device)
            )
        return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2

    def _mask_other_true_pairs(
        self, logits_per_image: torch.Tensor, logits_per_text: torch.Tensor, labels: torch.Tensor, truth: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        num_rows, num_columns = logits_per_image.shape
        if truth.shape != (num_columns, num_columns):
            raise ValueError(f"caption_truth must be the global ({num_columns}, {num_columns}), got {tuple(truth.shape)}")
        # `labels` is each scored row's global index (offset by rank in local mode), so also its own column.
        own = torch.zeros(num_rows, num_columns, dtype=torch.bool, device=truth.device)
        own[torch.arange(num_rows, device=truth.device), labels] = True
        truth = truth.bool()
        image_rows, text_rows = truth[labels], truth.t()[labels]  # (rows, N) each
        if not (image_rows & own).any(dim=1).all():
            raise ValueError("caption_truth: every image's own caption (the diagonal) must be true")
        return (
            logits_per_image.masked_fill(image_rows & ~own, float("-inf")),
            logits_per_text.masked_fill(text_rows & ~own, float("-inf")),
        )


__all__ = ["ClipLoss", "clip_contrastive_loss", "gather_features"]
