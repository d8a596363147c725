"""The main job's own logic: argument checks and its CPU thread choice (the stages have their own tests)."""

import pytest
import torch
from transformers import HfArgumentParser

from training.quickstart import QuickstartArguments, default_polarity_images, set_cpu_threads


@pytest.fixture()
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_lone_cpu_process_uses_every_core(monkeypatch, restore_threads):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    torch.set_num_threads(1)  # what accelerate launch's OMP_NUM_THREADS=1 leaves
    assert set_cpu_threads(None) == 3 and torch.get_num_threads() == 3
    assert set_cpu_threads(1) == 1 and torch.get_num_threads() == 1


def test_distributed_or_gpu_runs_keep_their_threads(monkeypatch, restore_threads):
    torch.set_num_threads(1)
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert set_cpu_threads(None) == 1 and torch.get_num_threads() == 1


@pytest.mark.parametrize(
    "bad",
    [["--num_threads", "0"], ["--image_size", "16"], ["--image_size", "40"], ["--num_eval_scenes", "5"], ["--head_encoder", "gru"],
     ["--num_polarity_images", "0"]],
)
def test_bad_arguments_are_refused(bad):
    with pytest.raises(ValueError, match=bad[0].lstrip("-")):
        HfArgumentParser(QuickstartArguments).parse_args_into_dataclasses(args=bad)


def test_any_image_size_in_range_with_a_given_base():
    # 40 px does not fit the 16 px patches of the base trained here, but a given checkpoint resizes as it likes.
    (args,) = HfArgumentParser(QuickstartArguments).parse_args_into_dataclasses(
        args=["--image_size", "40", "--base_clip", "some/clip"]
    )
    assert args.image_size == 40


def test_missing_negbench_photos_stop_the_job_before_any_stage(tmp_path):
    from training.quickstart import main

    with pytest.raises(FileNotFoundError, match="not a folder"):
        main(["--output_dir", str(tmp_path / "out"), "--negbench_images", str(tmp_path / "no_voc")])
    assert not (tmp_path / "out").exists()


def test_a_clip_reading_large_images_fits_the_polarity_parameters_on_fewer_of_them(tmp_path):
    from transformers import CLIPConfig

    from tests.conftest import tiny_clip_config

    assert default_polarity_images(None) == 2048  # the offline base
    for side, expected in ((64, 2048), (224, 512)):
        config = tiny_clip_config()
        config.vision_config.image_size = side
        config.save_pretrained(tmp_path / str(side))
        assert CLIPConfig.from_pretrained(tmp_path / str(side)).vision_config.image_size == side
        assert default_polarity_images(str(tmp_path / str(side))) == expected
