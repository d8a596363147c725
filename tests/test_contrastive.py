"""`training.contrastive`: the CLIP loss on hand-made tensors, gathering with a fake collective, and
once for real with two gloo processes."""

from __future__ import annotations

import importlib.util
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F
from transformers.models.clip.modeling_clip import image_text_contrastive_loss

from training.contrastive import ClipLoss, clip_contrastive_loss, gather_features

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECK_SCRIPT = Path(__file__).resolve().parent / "distributed_contrastive_check.py"
WORLD_SIZE = 2


def _random_embeds(n: int = 8, dim: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    image_embeds = F.normalize(torch.randn(n, dim, generator=generator), dim=-1)
    text_embeds = F.normalize(torch.randn(n, dim, generator=generator), dim=-1)
    return image_embeds, text_embeds


def _fake_all_gather(*gathered: tuple[torch.Tensor, ...]):
    """Stands in for the collective: returns the group of shards the local tensor belongs to."""

    def all_gather(tensor: torch.Tensor) -> tuple[torch.Tensor, ...]:
        for shards in gathered:
            if any(shard is tensor for shard in shards):
                return shards
        raise AssertionError("all_gather called with a tensor that is no rank's shard")

    return all_gather


# ---- hand-made tensors, one process ----


def test_aligned_pairs_cost_less_than_shuffled():
    embeds = torch.eye(4)
    loss = ClipLoss()
    aligned = loss(embeds, embeds, 10.0)
    shuffled = loss(embeds, embeds.roll(1, dims=0), 10.0)
    assert aligned < shuffled
    # Diagonal = scale, off-diagonal = 0: each row's cross-entropy is log(1 + (N - 1) e^-scale).
    torch.testing.assert_close(aligned, torch.tensor(math.log(1 + 3 * math.exp(-10.0))))


def test_equals_transformers_clip_loss_in_one_process():
    image_embeds, text_embeds = _random_embeds()
    logit_scale = torch.tensor(1 / 0.07)
    logits_per_text = logit_scale * text_embeds @ image_embeds.T  # as CLIPModel computes it
    expected = image_text_contrastive_loss(logits_per_text)
    torch.testing.assert_close(clip_contrastive_loss(logits_per_text), expected)
    for local_loss in (False, True):
        torch.testing.assert_close(ClipLoss(local_loss=local_loss)(image_embeds, text_embeds, logit_scale), expected)


def test_gather_features_is_identity_without_process_group():
    image_embeds, text_embeds = _random_embeds()
    extra = torch.arange(8)
    gathered = gather_features(image_embeds, text_embeds, extra)
    assert len(gathered) == 3
    assert all(out is inp for out, inp in zip(gathered, (image_embeds, text_embeds, extra)))


# ---- two ranks simulated with a fake collective ----


def test_gather_features_concatenates_in_rank_order():
    image_embeds, text_embeds = _random_embeds()
    image_shards, text_shards = image_embeds.chunk(WORLD_SIZE), text_embeds.chunk(WORLD_SIZE)
    fake = _fake_all_gather(image_shards, text_shards)
    for rank in range(WORLD_SIZE):
        all_image, all_text = gather_features(
            image_shards[rank], text_shards[rank], world_size=WORLD_SIZE, all_gather_fn=fake
        )
        torch.testing.assert_close(all_image, image_embeds, rtol=0, atol=0)
        torch.testing.assert_close(all_text, text_embeds, rtol=0, atol=0)


@pytest.mark.parametrize("local_loss", [False, True], ids=["global_logits", "local_logits"])
def test_fake_two_ranks_match_one_process_loss_and_gradients(local_loss):
    torch.manual_seed(0)
    image_features, text_features = torch.randn(8, 5), torch.randn(8, 3)
    image_weight = torch.randn(5, 4, requires_grad=True)
    text_weight = torch.randn(3, 4, requires_grad=True)
    log_scale = torch.tensor(math.log(10.0), requires_grad=True)
    params = (image_weight, text_weight, log_scale)

    def encode():
        image_embeds = F.normalize(image_features @ image_weight, dim=-1)  # (8, 4)
        text_embeds = F.normalize(text_features @ text_weight, dim=-1)  # (8, 4)
        return image_embeds, text_embeds, log_scale.exp()

    image_embeds, text_embeds, scale = encode()
    reference = ClipLoss(local_loss=local_loss)(image_embeds, text_embeds, scale)
    reference_grads = torch.autograd.grad(reference, params)

    # Each rank's shards are views of one graph, so gradients reaching another rank's shard flow to
    # the shared weights, as the real collective's backward sends them back to the owning rank.
    image_embeds, text_embeds, scale = encode()
    image_shards, text_shards = image_embeds.chunk(WORLD_SIZE), text_embeds.chunk(WORLD_SIZE)
    fake = _fake_all_gather(image_shards, text_shards)
    rank_losses = [
        ClipLoss(local_loss=local_loss, rank=rank, world_size=WORLD_SIZE, all_gather_fn=fake)(
            image_shards[rank], text_shards[rank], scale
        )
        for rank in range(WORLD_SIZE)
    ]
    ddp_loss = torch.stack(rank_losses).mean()  # DDP averages the ranks' gradients
    ddp_grads = torch.autograd.grad(ddp_loss, params)

    torch.testing.assert_close(ddp_loss, reference, rtol=0, atol=1e-6)
    if not local_loss:  # every rank holds the whole global loss
        for rank_loss in rank_losses:
            torch.testing.assert_close(rank_loss, reference, rtol=0, atol=1e-6)
    for grad, reference_grad in zip(ddp_grads, reference_grads):
        torch.testing.assert_close(grad, reference_grad, rtol=0, atol=1e-6)


def test_caption_true_for_another_image_is_not_counted_against_it():
    image_embeds, text_embeds = _random_embeds(n=4, dim=4, seed=1)
    text_embeds = text_embeds.clone()
    text_embeds[1] = image_embeds[0]  # caption 1 matches image 0 best, and is true for it
    truth = torch.eye(4, dtype=torch.bool)
    loss = ClipLoss()
    torch.testing.assert_close(loss(image_embeds, text_embeds, 10.0, truth), loss(image_embeds, text_embeds, 10.0))
    truth[0, 1] = True
    masked = loss(image_embeds, text_embeds, 10.0, truth)
    # By hand: the (image 0, caption 1) logit leaves both softmaxes it sits in, nothing else changes.
    logits = 10.0 * image_embeds @ text_embeds.T
    labels = torch.arange(4)
    skip = torch.zeros(4, 4, dtype=torch.bool)
    skip[0, 1] = True
    expected = (
        F.cross_entropy(logits.masked_fill(skip, float("-inf")), labels)
        + F.cross_entropy(logits.T.masked_fill(skip.T, float("-inf")), labels)
    ) / 2
    torch.testing.assert_close(masked, expected)
    assert masked < loss(image_embeds, text_embeds, 10.0)
    with pytest.raises(ValueError, match="diagonal"):
        loss(image_embeds, text_embeds, 10.0, ~torch.eye(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="global"):
        loss(image_embeds, text_embeds, 10.0, torch.eye(3, dtype=torch.bool))


@pytest.mark.parametrize("local_loss", [False, True], ids=["global_logits", "local_logits"])
def test_fake_two_ranks_match_one_process_with_caption_truth(local_loss):
    image_embeds, text_embeds = _random_embeds(n=8, dim=4, seed=2)
    truth = torch.eye(8, dtype=torch.bool)
    truth[1, 6] = truth[5, 2] = truth[7, 0] = True  # true pairs across the two ranks' halves
    reference = ClipLoss()(image_embeds, text_embeds, 10.0, truth)
    image_shards, text_shards = image_embeds.chunk(WORLD_SIZE), text_embeds.chunk(WORLD_SIZE)
    fake = _fake_all_gather(image_shards, text_shards)
    rank_losses = [
        ClipLoss(local_loss=local_loss, rank=rank, world_size=WORLD_SIZE, all_gather_fn=fake)(
            image_shards[rank], text_shards[rank], 10.0, truth
        )
        for rank in range(WORLD_SIZE)
    ]
    torch.testing.assert_close(torch.stack(rank_losses).mean(), reference, rtol=0, atol=1e-6)


def test_local_loss_labels_are_offset_by_rank():
    loss = ClipLoss(local_loss=True, rank=1, world_size=WORLD_SIZE)
    assert loss.get_ground_truth(3, torch.device("cpu")).tolist() == [3, 4, 5]
    assert ClipLoss(rank=1, world_size=WORLD_SIZE).get_ground_truth(6, torch.device("cpu")).tolist() == list(range(6))


# ---- two real processes ----


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _load_check_script():
    spec = importlib.util.spec_from_file_location("distributed_contrastive_check", CHECK_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(
    not (torch.distributed.is_available() and torch.distributed.is_gloo_available()), reason="needs gloo"
)
def test_two_gloo_processes_match_one_process(tmp_path):
    out_path = tmp_path / "rank0.pt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    env["OMP_NUM_THREADS"] = "1"
    command = [
        sys.executable, "-m", "torch.distributed.run",
        "--nproc_per_node", str(WORLD_SIZE), "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
        str(CHECK_SCRIPT), str(out_path),
    ]  # fmt: skip
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert "all_gather is deprecated" not in completed.stderr  # the FutureWarning is silenced locally
    print(f"2-process run took {elapsed:.1f} s")

    distributed = torch.load(out_path)
    check = _load_check_script()
    for local_loss in (False, True):
        single = check.compute_step(local_loss)
        assert distributed[local_loss].keys() == single.keys()
        for key in single:
            if key == "rank_loss" and local_loss:
                continue  # rank 0's share only: not the global loss
            torch.testing.assert_close(distributed[local_loss][key], single[key], rtol=0, atol=1e-6, msg=key)
