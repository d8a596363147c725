"""The world benchmark's command line: saved checkpoints in, the headline table and a JSON of results out."""

import json

import pytest

from tests.conftest import save_fresh_negclip
from training import evaluate_world
from training.world.shapes_world import DEFAULT_EVAL_SEED, build_world_dataset


@pytest.fixture()
def world_dir(tmp_path):
    build_world_dataset(12, DEFAULT_EVAL_SEED, image_size=32).save_to_disk(str(tmp_path / "world" / "eval"))
    return tmp_path / "world"


def test_scores_saved_checkpoints_and_a_fresh_negclip_as_its_clip(tiny_clip_dir, world_dir, tmp_path, capsys):
    negclip_dir = tmp_path / "negclip"
    save_fresh_negclip(tiny_clip_dir, negclip_dir)
    out = tmp_path / "world.json"
    results = evaluate_world.main(["--models", str(negclip_dir), str(tiny_clip_dir), "--world_dir", str(world_dir), "--out", str(out)])
    assert list(results) == [str(negclip_dir), str(tiny_clip_dir)]
    negclip = results[str(negclip_dir)]
    assert 0.0 <= negclip["object_presence"].pop("negated_query_auc") <= 1.0  # reported for NegCLIP only
    negclip["object_presence"].pop("negated_query_within_image")
    assert negclip == results[str(tiny_clip_dir)]  # a fresh head splits nothing: CLIP's scores
    assert json.loads(out.read_text())[str(tiny_clip_dir)]["mcq"]["num_items"] == 12
    assert "| MCQ negation |" in capsys.readouterr().out


def test_refuses_missing_folders(tiny_clip_dir, world_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        evaluate_world.main(["--models", str(tmp_path), "--world_dir", str(world_dir)])
    with pytest.raises(FileNotFoundError, match="eval"):
        evaluate_world.main(["--models", str(tiny_clip_dir), "--world_dir", str(tmp_path)])
