"""A training run killed with SIGKILL and resumed from its last checkpoint ends at the same weights."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[1]


def head_command(clip_dir, out_dir, *extra):
    return [
        sys.executable, "-m", "training.train_negation_head", "--clip_model", str(clip_dir), "--output_dir", str(out_dir),
        "--negation_head_heads", "2", "--num_train", "400", "--num_heldout", "16", "--use_negbench", "false",
        "--cdsco_scope", "none", "--open_vocabulary_rate", "0", "--data_dir", str(out_dir / "no_shared_data"),
        "--max_steps", "30", "--per_device_train_batch_size", "8", "--save_strategy", "steps", "--save_steps", "3",
        "--save_total_limit", "100", "--eval_strategy", "no", "--evaluate_after_training", "false", "--seed", "7",
        "--use_cpu", "--disable_tqdm", "true", *extra,
    ]


def complete_checkpoints(out_dir: Path) -> list[Path]:
    done = [p for p in out_dir.glob("checkpoint-*") if (p / "trainer_state.json").is_file() and (p / "rng_state.pth").is_file()]
    return sorted(done, key=lambda p: int(p.name.split("-")[1]))


def test_sigkill_then_resume_matches_uninterrupted_run(tiny_clip_dir, tmp_path):
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "OMP_NUM_THREADS": "1"}
    subprocess.run(head_command(tiny_clip_dir, tmp_path / "full"), cwd=REPO, env=env, check=True, capture_output=True)

    killed = tmp_path / "killed"
    process = subprocess.Popen(head_command(tiny_clip_dir, killed), cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while len(complete_checkpoints(killed)) < 2 and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    last = complete_checkpoints(killed)[-1]
    assert int(last.name.split("-")[1]) < 30

    subprocess.run(head_command(tiny_clip_dir, killed, "--resume_from_checkpoint", str(last)),
                   cwd=REPO, env=env, check=True, capture_output=True)
    expected = load_file(tmp_path / "full" / "model.safetensors")
    resumed = load_file(killed / "model.safetensors")
    assert expected.keys() == resumed.keys()
    for name, value in expected.items():
        torch.testing.assert_close(resumed[name], value, rtol=0, atol=1e-6, msg=name)
    assert not torch.equal(expected["negation_head.classifier.weight"], torch.zeros_like(expected["negation_head.classifier.weight"]))
