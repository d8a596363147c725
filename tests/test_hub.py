"""Hub sharing without a network: the upload is stopped at the HfApi boundary; loading by repo id from a
local Hub cache laid out as a download leaves it; the generated model card's snippet runs."""

import json
import os
import re
import shutil
import subprocess
import sys
from types import SimpleNamespace

import pytest
from huggingface_hub import HfApi

from modeling_negclip import DEFAULT_NEGATION_CUE_WORDS, NegCLIPConfig
from tests.conftest import save_fresh_negclip
from training import train_negation_head
from training.sharing.model_card import write_model_card

REPO_ID = "negclip-user/negclip-tiny"


@pytest.fixture()
def hub_calls(monkeypatch):
    """Record what would be uploaded: the folder's files and the card, at upload time."""
    calls = {"created": [], "uploaded": []}

    def create_repo(self, repo_id, **kwargs):
        calls["created"].append(repo_id)
        return SimpleNamespace(repo_id=repo_id)

    def upload_folder(self, repo_id, folder_path, ignore_patterns=(), **kwargs):
        files = sorted(
            os.path.relpath(os.path.join(root, name), folder_path)
            for root, _, names in os.walk(folder_path)
            for name in names
        )
        calls["uploaded"].append({"repo_id": repo_id, "files": files, "card": open(os.path.join(folder_path, "README.md")).read(),
                                  "config": json.load(open(os.path.join(folder_path, "config.json")))})
        return SimpleNamespace(commit_url="offline")

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    return calls


def test_trainer_push_to_hub_uploads_checkpoint_code_processor_and_card(tiny_clip_dir, tmp_path, hub_calls, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    out = tmp_path / "head"
    train_negation_head.main([
        "--clip_model", str(tiny_clip_dir), "--output_dir", str(out), "--negation_head_heads", "2",
        "--num_train", "64", "--num_heldout", "16", "--use_negbench", "false", "--cdsco_scope", "none",
        "--data_dir", str(tmp_path / "no_shared_data"),
        "--open_vocabulary_rate", "0", "--max_steps", "1",
        "--per_device_train_batch_size", "8", "--save_strategy", "no", "--eval_strategy", "no",
        "--evaluate_after_training", "false", "--push_to_hub", "--hub_model_id", REPO_ID, "--use_cpu",
    ])
    assert hub_calls["created"] == [REPO_ID]
    (upload,) = hub_calls["uploaded"]
    assert upload["repo_id"] == REPO_ID
    for name in ("config.json", "model.safetensors", "configuration_negclip.py", "modeling_negclip.py",
                 "polarity_split.py", "negation_cues.py", "negation_head.py", "tokenizer.json",
                 "processor_config.json", "README.md"):
        assert name in upload["files"], name
    assert not [f for f in upload["files"] if f.endswith((".bin", ".pt", ".pth", ".pkl"))]  # no pickle at all
    assert "training_args.json" in upload["files"]
    tokenizer_config = json.loads((out / "tokenizer_config.json").read_text())
    assert "max_length" not in tokenizer_config  # a saved max_length makes processor(padding=True) warn
    import warnings

    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(out, trust_remote_code=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        processor(text=["a cat", "a dog without a collar"], padding=True, return_tensors="pt")
    assert upload["config"]["auto_map"]["AutoModel"] == "modeling_negclip.NegCLIPModel"
    assert "without" in upload["config"]["negation_cue_words"]  # the script turns the cue gate on
    assert len(upload["config"]["negation_cue_token_ids"]) > 20
    card = upload["card"]
    assert card.startswith("---\nlibrary_name: transformers\npipeline_tag: zero-shot-image-classification")
    assert f'AutoModel.from_pretrained("{REPO_ID}", trust_remote_code=True)' in card
    assert f"base_model: {tiny_clip_dir}" in card
    assert f"Cue gate: the head reads only prompts holding one of {len(DEFAULT_NEGATION_CUE_WORDS)} negation cue words" in card


def _lay_out_hub_cache(checkpoint, hf_home, repo_id, commit="0123456789abcdef0123456789abcdef01234567"):
    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(checkpoint, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)


def test_load_by_repo_id_from_local_hub_cache_offline(tiny_clip_dir, tmp_path):
    checkpoint = tmp_path / "ckpt"
    save_fresh_negclip(tiny_clip_dir, checkpoint)
    _lay_out_hub_cache(checkpoint, tmp_path / "hf", REPO_ID)
    script = (
        "import sys; from transformers import AutoModel, AutoProcessor\n"
        f"m = AutoModel.from_pretrained('{REPO_ID}', trust_remote_code=True)\n"
        f"p = AutoProcessor.from_pretrained('{REPO_ID}', trust_remote_code=True)\n"
        "print(type(m).__name__, m.split_prompts(['a dog'], p.tokenizer)[0].positive)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("NegCLIPModel a dog")


def test_model_card_snippet_runs(tiny_clip_dir, tmp_path, monkeypatch):
    checkpoint = tmp_path / "ckpt"
    save_fresh_negclip(tiny_clip_dir, checkpoint)
    results = {"NegCLIP": {"mcq": {"negation": 0.5}, "presence": {"accuracy": 0.25}}}
    card = write_model_card(str(checkpoint), results, base_model="tiny-clip").read_text()
    assert "value: 0.5000" in card and "name: presence accuracy" in card
    assert "`negation_head_source_layer = 0`" in card  # what this checkpoint's head reads
    assert f"2 bidirectional LSTM layers, {NegCLIPConfig.negation_head_hidden_size} wide" in card
    snippet = re.search(r"```python\n(.*?)```", card, re.S).group(1)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    exec(compile(snippet, "README.md", "exec"), {})


def test_model_card_says_what_the_polarity_fit_saw_and_shows_negbench_on_photos(tiny_clip_dir, tmp_path):
    checkpoint = save_fresh_negclip(tiny_clip_dir, tmp_path / "ckpt")
    world = write_model_card(str(checkpoint), {"NegCLIP": {"mcq": {"negation": 0.5}}}, base_model="tiny-clip").read_text()
    assert "on shapes-world images" in world and "NegBench VOC 2007 questions on real photos" not in world
    negbench = {"affirmation": 0.75, "negation": 0.5, "hybrid": 0.25, "overall": 0.5, "num_items": 8, "num_items_by_type": {}}
    results = {"NegCLIP": {"mcq": {"negation": 0.5}, "negbench_voc2007": negbench}, "CLIP": {"negbench_voc2007": negbench}}
    card = write_model_card(str(checkpoint), results, base_model="tiny-clip", polarity_fit="negbench").read_text()
    assert "on the photos of NegBench VOC 2007's train part" in card and "on shapes-world images" not in card
    assert "| negation | 0.500 | 0.500 |" in card
    with pytest.raises(ValueError, match="polarity_fit"):
        write_model_card(str(checkpoint), results, base_model="tiny-clip", polarity_fit="photos")


def test_polarity_script_push_uploads_negclip_checkpoint_and_card(tiny_clip_dir, tmp_path, hub_calls, monkeypatch):
    from training import train_polarity_weight
    from training.world.shapes_world import build_world_dataset

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    head = tmp_path / "head"
    save_fresh_negclip(tiny_clip_dir, head)
    build_world_dataset(8, 100, 32).save_to_disk(str(tmp_path / "world" / "train"))
    train_polarity_weight.main([
        "--negclip_model", str(head), "--world_dir", str(tmp_path / "world"), "--output_dir", str(tmp_path / "negclip"),
        "--num_images", "8", "--per_device_train_batch_size", "4", "--max_steps", "1", "--use_cpu",
        "--report_to", "none", "--push_to_hub", "--hub_model_id", REPO_ID,
    ])
    (upload,) = hub_calls["uploaded"]
    assert {"config.json", "model.safetensors", "modeling_negclip.py", "tokenizer.json", "README.md"} <= set(upload["files"])
    assert upload["config"]["model_type"] == "negclip"
    assert "pipeline_tag: zero-shot-image-classification" in upload["card"]


@pytest.mark.parametrize("script", ["base", "conclip"])
def test_clip_scripts_push_a_standard_clip_with_processor_and_card(script, tmp_path, hub_calls, monkeypatch):
    """The base CLIP and the CoN-CLIP-style baseline push plain CLIP checkpoints (the Trainer's own card)."""
    from tests.test_train_base_clip import TINY_ARGS
    from training import train_base_clip, train_conclip_baseline

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    push = ["--push_to_hub", "--hub_model_id", REPO_ID, "--report_to", "none"]
    no_eval = ["--num_eval_scenes", "0", "--num_zero_shot_images", "0"]
    base_dir = tmp_path / "base"
    train_base_clip.main([*TINY_ARGS, *no_eval, "--max_steps", "1", "--output_dir", str(base_dir),
                          *(push if script == "base" else [])])
    if script == "conclip":
        train_conclip_baseline.main([
            "--base_model_dir", str(base_dir), "--output_dir", str(tmp_path / "conclip"), "--num_train_scenes", "16",
            "--per_device_train_batch_size", "8", "--max_steps", "1", *no_eval, "--evaluate_base", "false", *push,
        ])  # fmt: skip
    assert hub_calls["created"] == [REPO_ID]
    upload = hub_calls["uploaded"][-1]
    for name in ("config.json", "model.safetensors", "tokenizer.json", "processor_config.json", "README.md"):
        assert name in upload["files"], name
    assert upload["config"]["model_type"] == "clip" and "auto_map" not in upload["config"]
    assert upload["card"].startswith("---") and "library_name: transformers" in upload["card"]
