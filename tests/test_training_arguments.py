"""Every training script's arguments train on the CPU where there is no GPU, so several CPU processes are one run."""

import pytest
import torch

from training.train_base_clip import ClipTrainingArguments
from training.train_conclip_baseline import ConclipTrainingArguments
from training.train_negation_head import HeadTrainingArguments
from training.train_polarity_weight import PolarityTrainingArguments
from training.training_arguments import CpuFallbackTrainingArguments


@pytest.mark.parametrize(
    "arguments", [ClipTrainingArguments, ConclipTrainingArguments, HeadTrainingArguments, PolarityTrainingArguments]
)
def test_no_gpu_means_use_cpu(arguments, tmp_path, monkeypatch):
    assert issubclass(arguments, CpuFallbackTrainingArguments)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert arguments(output_dir=str(tmp_path), report_to="none").use_cpu is True
