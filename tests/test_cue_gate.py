"""The cue gate: only prompts holding a negation cue token reach the head; the rest score exactly as CLIP."""

import pytest
import torch
from transformers import AutoModel

from modeling_negclip import NegCLIPConfig, NegCLIPModel
from modeling_negclip.configuration_negclip import NEGATED_ID
from modeling_negclip.negation_cues import DEFAULT_NEGATION_CUE_WORDS, negation_cue_token_ids
from tests.conftest import tiny_clip_config

CUE_LESS = ["a photo of a cat", "a knot on a notebook", "a red car"]
WITH_CUES = ["a woman without glasses", "a dog that isn't on a leash", "No cars on the street"]


def negating_model(clip, tokenizer=None):
    """A head that tags every token negated: whatever reaches it is split."""
    model = NegCLIPModel.from_clip(clip).eval()
    with torch.no_grad():
        model.negation_head.classifier.bias.copy_(torch.tensor([0.0, 0.0, 5.0]))
    if tokenizer is not None:
        model.set_negation_cue_words(tokenizer)
    return model


def test_cue_ids_cover_case_contractions_and_the_words_first_token(tokenizer):
    ids = negation_cue_token_ids(tokenizer, ["no", "No", "'t", "devoid"])
    no, t = tokenizer("no", add_special_tokens=False)["input_ids"][0], tokenizer("'t", add_special_tokens=False)["input_ids"][0]
    devoid_first = tokenizer("devoid", add_special_tokens=False)["input_ids"][0]
    assert ids == sorted({no, t, devoid_first})
    assert t in tokenizer("isn't", add_special_tokens=False)["input_ids"]
    with pytest.raises(ValueError, match="gives no token"):
        negation_cue_token_ids(tokenizer, ["no", " "])


def test_gate_passes_prompts_with_cues_and_keeps_the_rest_from_the_head(tiny_clip, tokenizer):
    model = negating_model(tiny_clip, tokenizer)
    batch = tokenizer(CUE_LESS + WITH_CUES, padding=True, return_tensors="pt")
    assert model.negation_cue_rows(batch["input_ids"], batch["attention_mask"]).tolist() == [False] * 3 + [True] * 3
    read = []
    model.negation_head.register_forward_hook(lambda module, inputs, output: read.append(output.shape[0]))
    with torch.no_grad():
        out = model(**batch)
    assert read == [3]  # one head call, on the three prompts with cues
    ids, mask = batch["input_ids"], batch["attention_mask"]  # the gate's rows, passed in or recomputed: same tags
    rows = model.negation_cue_rows(ids, mask)
    assert torch.equal(model.tag_tokens(out.token_logits, ids, mask, rows), model.tag_tokens(out.token_logits, ids, mask))
    assert out.is_split.tolist() == [False] * 3 + [True] * 3
    assert (out.token_logits[:3].argmax(-1) == 0).all()

    ungated = negating_model(tiny_clip)  # the same head reading every prompt
    with torch.no_grad():
        everything = ungated(**batch)
    torch.testing.assert_close(out.token_logits[3:], everything.token_logits[3:], rtol=0, atol=1e-6)
    assert everything.is_split.all()


def test_gated_out_prompts_score_exactly_as_clip_and_skip_the_head(tiny_clip, tokenizer, pixels, monkeypatch):
    model = negating_model(tiny_clip, tokenizer)
    calls = []
    model.negation_head.register_forward_hook(lambda *args: calls.append(1))
    # Nor are they tagged and split: a batch the gate keeps from the head goes straight on as CLIP's.
    monkeypatch.setattr("modeling_negclip.modeling_negclip.split_by_tags", lambda *args: pytest.fail("split a cue-less batch"))
    batch = tokenizer(CUE_LESS, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch, pixel_values=pixels)
        plain = tiny_clip(**batch, pixel_values=pixels).logits_per_image
    assert not calls and not out.is_split.any()
    torch.testing.assert_close(out.logits_per_image, plain, rtol=0, atol=0)


def test_training_reads_every_prompt_while_tags_follow_the_gate(tiny_clip, tokenizer):
    model = negating_model(tiny_clip, tokenizer).train()
    ungated = negating_model(tiny_clip).train()
    ungated.load_state_dict(model.state_dict())
    batch = tokenizer(["a cat without a hat", "a red car"], padding=True, return_tensors="pt")
    labels = torch.where(batch["attention_mask"].bool(), 0, -100)
    torch.manual_seed(0)
    gated_out = model(**batch, token_labels=labels, encode_split=False)
    torch.manual_seed(0)
    ungated_out = ungated(**batch, token_labels=labels, encode_split=False)
    torch.testing.assert_close(gated_out.loss, ungated_out.loss, rtol=0, atol=0)  # the cue-less prompt counts
    torch.manual_seed(0)
    joint = model(**batch, token_labels=labels)
    assert joint.is_split.tolist() == [True, False]  # the tags still follow the gate
    assert (joint.token_logits[1].argmax(-1) == NEGATED_ID).all()  # though the head read the cue-less prompt


def test_gate_survives_save_and_remote_code_load(tiny_clip, tokenizer, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    model = negating_model(tiny_clip, tokenizer)
    model.save_pretrained(tmp_path / "gated")
    assert (tmp_path / "gated" / "negation_cues.py").is_file()
    loaded = AutoModel.from_pretrained(tmp_path / "gated", trust_remote_code=True).eval()
    assert loaded.config.negation_cue_words == list(DEFAULT_NEGATION_CUE_WORDS)
    assert loaded.config.negation_cue_token_ids == model.config.negation_cue_token_ids
    batch = tokenizer(CUE_LESS + WITH_CUES, padding=True, return_tensors="pt")
    with torch.no_grad():
        assert loaded(**batch).is_split.tolist() == [False] * 3 + [True] * 3
    model.set_negation_cue_words(tokenizer, None)  # off again: the head reads every prompt
    assert model.config.negation_cue_token_ids is None and bool(model.negation_cue_rows(batch["input_ids"], batch["attention_mask"]).all())


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(negation_cue_words=["no"]), "set together"),
        (dict(negation_cue_token_ids=[871]), "set together"),
        (dict(negation_cue_words=[], negation_cue_token_ids=[871]), "non-empty list of words"),
        (dict(negation_cue_words=["no"], negation_cue_token_ids=[10**6]), "below the vocabulary size"),
    ],
)
def test_config_rejects_a_bad_gate(overrides, message):
    with pytest.raises(ValueError, match=message):
        NegCLIPConfig(clip_config=tiny_clip_config(), **overrides)
