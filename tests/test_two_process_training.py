"""Every training script runs with two processes on this CPU (gloo), as `accelerate launch` would start them.

`torchrun --nproc_per_node 2` is what `accelerate launch --multi_gpu --num_processes 2` runs on a
machine without GPUs (see TRANSFORMERS5.md: `--cpu --num_processes 2` starts only one).
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

from transformers import CLIPModel

from modeling_negclip import NegCLIPModel
from tests.test_train_base_clip import TINY_ARGS as TINY_BASE_ARGS
from training.world.shapes_world import build_world_dataset

REPO = Path(__file__).resolve().parents[1]
TINY_WORLD = ["--num_train_scenes", "32", "--num_eval_scenes", "8", "--num_zero_shot_images", "8"]


def free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def run_two_processes(module: str, args: list[str], tmp_path) -> None:
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", free_port(),
               "-m", module, *args, "--disable_tqdm", "true", "--report_to", "none"]  # no --use_cpu, as the README
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    # One run over both processes: only rank 0 logs the end of training (two independent runs would log twice).
    assert result.stdout.count("'train_runtime'") == 1, result.stdout[-3000:]


def test_base_clip_with_two_processes(tmp_path):
    run_two_processes("training.train_base_clip", [*TINY_BASE_ARGS, "--output_dir", str(tmp_path / "base")], tmp_path)
    assert CLIPModel.from_pretrained(tmp_path / "base") is not None


def test_conclip_baseline_with_two_processes(tiny_clip_dir, tmp_path):
    run_two_processes("training.train_conclip_baseline", [
        "--base_model_dir", str(tiny_clip_dir), "--output_dir", str(tmp_path / "conclip"), *TINY_WORLD,
        "--per_device_train_batch_size", "4", "--max_steps", "2", "--warmup_steps", "0",
    ], tmp_path)
    assert (tmp_path / "conclip" / "model.safetensors").is_file()


def test_negation_head_and_polarity_weight_with_two_processes(tiny_clip_dir, tmp_path):
    head = tmp_path / "head"
    run_two_processes("training.train_negation_head", [
        "--clip_model", str(tiny_clip_dir), "--output_dir", str(head), "--negation_head_heads", "2",
        "--num_train", "64", "--num_heldout", "16", "--use_negbench", "false", "--cdsco_scope", "none",
        "--data_dir", str(tmp_path / "no_shared_data"),
        "--open_vocabulary_rate", "0", "--max_steps", "2",
        "--per_device_train_batch_size", "8", "--save_strategy", "no", "--eval_strategy", "no",
    ], tmp_path)
    assert (head / "negation_head_results.json").is_file()  # the head-vs-regex evaluation ran on rank 0

    build_world_dataset(16, 100, 32).save_to_disk(str(tmp_path / "world" / "train"))
    run_two_processes("training.train_polarity_weight", [
        "--negclip_model", str(head), "--world_dir", str(tmp_path / "world"), "--output_dir", str(tmp_path / "negclip"),
        "--num_images", "16", "--per_device_train_batch_size", "4", "--max_steps", "2",
    ], tmp_path)
    fitted, before = NegCLIPModel.from_pretrained(tmp_path / "negclip"), NegCLIPModel.from_pretrained(head)
    for name, value in before.negation_head.state_dict().items():  # only the polarity weight may move
        assert (fitted.negation_head.state_dict()[name] == value).all(), name
