"""`TrainingArguments` that stay distributed on a machine without a GPU.

transformers sets up its distributed state on a CPU-only machine only with `use_cpu`: without it, two
processes started by `torchrun` or `accelerate launch` each train on all the data and both write the output
(checked: twice the steps, two final logs). Every script of this project trains with these arguments, so
`torchrun --nproc_per_node 2 -m training.<script>` is one run over gloo, as the README says.
"""

from dataclasses import dataclass

import torch
from transformers import TrainingArguments


@dataclass
class CpuFallbackTrainingArguments(TrainingArguments):
    """`TrainingArguments` with `use_cpu` turned on where CUDA is not available."""

    def __post_init__(self):
        if not self.use_cpu and not torch.cuda.is_available():
            self.use_cpu = True  # before super(): it sets the device up (gloo when distributed on CPU)
        super().__post_init__()
