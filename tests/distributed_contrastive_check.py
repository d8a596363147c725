"""One training step of a tiny linear two-tower "encoder" with `ClipLoss` over the global batch.

Run under two processes (gloo, CPU), each rank taking its half of a seeded global batch:

    PYTHONPATH=. torchrun --nproc_per_node 2 tests/distributed_contrastive_check.py OUT.pt

Rank 0 saves, for each `local_loss` mode, the loss and the DDP-averaged gradients. Without a process
group `compute_step` runs the same step on the whole batch in one process: `tests/test_contrastive.py`
compares the two.
"""

from __future__ import annotations

import math
import sys

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel

from training.contrastive import ClipLoss

GLOBAL_BATCH = 8
IMAGE_DIM, TEXT_DIM, EMBED_DIM = 5, 3, 4


class TinyTwoTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.image_projection = nn.Linear(IMAGE_DIM, EMBED_DIM)
        self.text_projection = nn.Linear(TEXT_DIM, EMBED_DIM)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(10.0)))

    def forward(self, pixel_values: torch.Tensor, text_inputs: torch.Tensor):
        image_embeds = F.normalize(self.image_projection(pixel_values), dim=-1)  # (n, EMBED_DIM)
        text_embeds = F.normalize(self.text_projection(text_inputs), dim=-1)  # (n, EMBED_DIM)
        return image_embeds, text_embeds, self.logit_scale.exp()


def make_model_and_batch() -> tuple[TinyTwoTower, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = TinyTwoTower()
    pixel_values = torch.randn(GLOBAL_BATCH, IMAGE_DIM, generator=generator)
    text_inputs = torch.randn(GLOBAL_BATCH, TEXT_DIM, generator=generator)
    return model, pixel_values, text_inputs


def compute_step(local_loss: bool) -> dict[str, torch.Tensor]:
    """Loss (averaged over ranks, as DDP averages gradients) and gradients of one step."""
    model, pixel_values, text_inputs = make_model_and_batch()
    distributed = dist.is_available() and dist.is_initialized()
    rank, world_size = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    local = slice(rank * GLOBAL_BATCH // world_size, (rank + 1) * GLOBAL_BATCH // world_size)
    if distributed:
        model = DistributedDataParallel(model)  # averages gradients over ranks, as the Trainer does

    loss = ClipLoss(local_loss=local_loss)(*model(pixel_values[local], text_inputs[local]))
    loss.backward()

    result = {"rank_loss": loss.detach().clone(), "loss": loss.detach().clone()}
    if distributed:
        dist.all_reduce(result["loss"])
        result["loss"] /= world_size
    module = model.module if distributed else model
    result.update({f"grad.{name}": param.grad.detach().clone() for name, param in module.named_parameters()})
    return result


def main(out_path: str) -> None:
    dist.init_process_group("gloo")
    results = {local_loss: compute_step(local_loss) for local_loss in (False, True)}
    if dist.get_rank() == 0:
        torch.save(results, out_path)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
