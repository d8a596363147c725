"""The shipped accelerate configs parse as accelerate reads them (running them needs GPUs, which CI lacks)."""

from pathlib import Path

import pytest
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.utils import DistributedType

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "accelerate"


@pytest.mark.parametrize(
    "name, distributed_type",
    [("single_gpu", DistributedType.NO), ("multi_gpu", DistributedType.MULTI_GPU), ("fsdp", DistributedType.FSDP)],
)
def test_config_loads_with_its_distributed_type(name, distributed_type):
    config = load_config_from_file(str(CONFIGS / f"{name}.yaml"))
    assert config.distributed_type == distributed_type and not config.use_cpu
    if name == "fsdp":
        assert config.fsdp_config["fsdp_transformer_layer_cls_to_wrap"] == "CLIPEncoderLayer"
