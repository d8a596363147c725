"""NegCLIPModel behaviour: exact CLIP scores without negation, the token-id split, losses, bad input."""

import json

import pytest
import torch
from transformers import CLIPConfig, CLIPModel

from modeling_negclip import NegCLIPConfig, NegCLIPModel
from modeling_negclip.polarity_split import eos_positions, pack_tokens, split_by_tags
from tests.conftest import rule_tagger, tiny_clip_config

PROMPTS = ["a photo of a cat", "a woman without glasses in the kitchen", "", "no dogs", "a knot on a notebook"]


def wrap(clip, tokenizer=None, monkeypatch=None):
    model = NegCLIPModel.from_clip(clip, negation_head_heads=2).eval()
    if tokenizer is not None:
        monkeypatch.setattr(model, "tag_tokens", rule_tagger(tokenizer))
    return model


def clip_logits(clip, tokenizer, texts, pixels):
    with torch.no_grad():
        return clip(**tokenizer(texts, padding=True, return_tensors="pt"), pixel_values=pixels).logits_per_image


def test_fresh_wrap_scores_exactly_as_clip(tiny_clip, tokenizer, pixels):
    model = wrap(tiny_clip)
    batch = tokenizer(PROMPTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch, pixel_values=pixels)
    assert not out.is_split.any()
    torch.testing.assert_close(out.logits_per_image, clip_logits(tiny_clip, tokenizer, PROMPTS, pixels), rtol=0, atol=1e-6)
    torch.testing.assert_close(out.logits_per_text, out.logits_per_image.t())
    assert out.token_logits.shape == (*batch["input_ids"].shape, 3)


def test_wrapping_keeps_clip_weights_and_freezes_them(tiny_clip):
    model = wrap(tiny_clip)
    for name, value in tiny_clip.state_dict().items():
        assert torch.equal(model.clip.state_dict()[name], value), name
    trainable = {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    polarity = {name for name, p in model.named_parameters() if any(p is q for q in model.polarity_parameters())}
    assert polarity == {"negated_weight", "negated_threshold", "negated_knee_weight", "negated_knee_threshold",
                        "null_positive_embeds", "negated_adapter"}
    assert trainable == {"negation_head"} | polarity
    assert NegCLIPModel.from_clip(tiny_clip, negation_head_heads=2, freeze_clip=False).clip.logit_scale.requires_grad


def test_split_prompts_score_positive_minus_weighted_negated(tiny_clip, tokenizer, pixels, monkeypatch):
    model = wrap(tiny_clip, tokenizer, monkeypatch)
    with torch.no_grad():
        model.negated_weight.fill_(0.7)
        out = model(**tokenizer(PROMPTS, padding=True, return_tensors="pt"), pixel_values=pixels)
    assert out.is_split.tolist() == [False, True, False, True, False]
    plain = clip_logits(tiny_clip, tokenizer, PROMPTS, pixels)
    unsplit = [0, 2, 4]
    # Unsplit prompts finish CLIP's later layers in a smaller batch: equal up to float rounding, as CLIP's own
    # embedding of a prompt varies with the batch it is in (~3e-7 here).
    torch.testing.assert_close(out.logits_per_image[:, unsplit], plain[:, unsplit], rtol=1e-6, atol=1e-6)

    # The token-id split must equal CLIP on the re-tokenised strings (BPE here is word-local).
    scale = tiny_clip.logit_scale.exp()
    positive = clip_logits(tiny_clip, tokenizer, ["a woman in the kitchen", ""], pixels) / scale
    negated = clip_logits(tiny_clip, tokenizer, ["glasses", "dogs"], pixels) / scale
    expected = scale * (positive - 0.7 * negated)
    torch.testing.assert_close(out.logits_per_image[:, [1, 3]], expected, rtol=1e-5, atol=1e-5)


def test_split_prompts_as_strings(tiny_clip, tokenizer, monkeypatch):
    model = wrap(tiny_clip, tokenizer, monkeypatch)
    first, plain, empty, only_negated = model.split_prompts(
        ["A woman without glasses in the kitchen", "Nothing but soup", "", "no dogs"], tokenizer
    )
    assert (first.positive, first.negated, first.cues) == ("A woman in the kitchen", "glasses", "without")
    assert (plain.positive, plain.negated, plain.cues) == ("Nothing but soup", "", "")
    assert (empty.positive, empty.negated) == ("", "")
    assert (only_negated.positive, only_negated.negated, only_negated.cues) == ("", "dogs", "no")


def test_get_features_match_clip_for_plain_prompts(tiny_clip, tokenizer, pixels):
    model = wrap(tiny_clip)
    batch = tokenizer(PROMPTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(
            model.get_text_features(**batch).pooler_output, tiny_clip.get_text_features(**batch).pooler_output
        )
        torch.testing.assert_close(
            model.get_image_features(pixels).pooler_output, tiny_clip.get_image_features(pixels).pooler_output
        )


@pytest.mark.parametrize("source_layer", [0, 1, 2, None])
def test_fresh_wrap_continues_from_any_source_layer_exactly_as_clip(tiny_clip, tokenizer, source_layer):
    model = NegCLIPModel.from_clip(tiny_clip, negation_head_heads=2, negation_head_source_layer=source_layer).eval()
    batch = tokenizer(PROMPTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        ours, theirs = model.get_text_features(**batch), tiny_clip.get_text_features(**batch)
    assert torch.equal(ours.pooler_output, theirs.pooler_output)  # the same operations on the same batch
    assert torch.equal(ours.last_hidden_state, theirs.last_hidden_state)


@pytest.mark.parametrize("source_layer", [0, 1, None])
def test_head_reads_clip_states_after_its_source_layer(tiny_clip, tokenizer, source_layer):
    model = NegCLIPModel.from_clip(tiny_clip, negation_head_heads=2, negation_head_source_layer=source_layer).eval()
    seen = []
    model.negation_head.register_forward_hook(lambda module, args, output: seen.append(args))
    batch = tokenizer(PROMPTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        _, states = model.get_token_logits(**batch)
        clip_out = tiny_clip.text_model(**batch, output_hidden_states=True)
    ((head_states, token_embeddings, mask, input_ids),) = seen
    expected = clip_out.hidden_states[2 if source_layer is None else source_layer]
    torch.testing.assert_close(states, expected, rtol=0, atol=0)
    expected_head = clip_out.last_hidden_state if source_layer is None else tiny_clip.text_model.final_layer_norm(expected)
    torch.testing.assert_close(head_states, expected_head, rtol=0, atol=0)
    assert torch.equal(token_embeddings, tiny_clip.text_model.embeddings.token_embedding(batch["input_ids"]))
    assert torch.equal(input_ids, batch["input_ids"])


def test_split_prompts_stop_at_the_source_layer(tiny_clip, tokenizer, monkeypatch):
    """Layers after the head's source layer run only for unsplit prompts; the parts are encoded at their own
    widths; last_hidden_state holds CLIP's states of the prompt as scored."""
    model = NegCLIPModel.from_clip(tiny_clip, negation_head_heads=2, negation_head_source_layer=1).eval()
    monkeypatch.setattr(model, "tag_tokens", rule_tagger(tokenizer))
    shapes = {0: [], 1: []}
    for index, layer in enumerate(model.clip.text_model.encoder.layers):
        layer.register_forward_hook(lambda module, args, output, index=index: shapes[index].append(tuple(args[0].shape[:2])))
    batch = tokenizer(PROMPTS, padding=True, return_tensors="pt")  # width 9
    with torch.no_grad():
        out = model.get_text_polarity_features(**batch)
    assert out.is_split.tolist() == [False, True, False, True, False]
    # Layer 1: all prompts, then the packed positive parts (width 7: "a woman in the kitchen"), the negated
    # parts (width 3), then nothing more; layer 2: the parts, then the 3 unsplit prompts only.
    assert shapes[0] == [(5, 9), (2, 7), (2, 3)]
    assert shapes[1] == [(2, 7), (2, 3), (3, 9)]

    text = out.text_model_output
    assert text.pooler_output is out.text_embeds
    unsplit = [0, 2, 4]
    with torch.no_grad():
        plain = tiny_clip.get_text_features(**batch)
        positive = tiny_clip.get_text_features(**tokenizer(["a woman in the kitchen", ""], padding=True, return_tensors="pt"))
    torch.testing.assert_close(out.text_embeds[unsplit], plain.pooler_output[unsplit], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(text.last_hidden_state[unsplit], plain.last_hidden_state[unsplit], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.text_embeds[[1, 3]], positive.pooler_output, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(text.last_hidden_state[[1, 3], :7], positive.last_hidden_state, rtol=1e-5, atol=1e-5)
    assert not text.last_hidden_state[[1, 3], 7:].any()  # beyond the positive part's own width


def test_token_only_forward_runs_the_first_layers_only(tiny_clip, tokenizer):
    model = NegCLIPModel.from_clip(tiny_clip, negation_head_heads=2, negation_head_source_layer=1)
    calls = []
    model.clip.text_model.encoder.layers[1].register_forward_hook(lambda *args: calls.append(1))
    model.clip.text_model.final_layer_norm.register_forward_hook(lambda *args: calls.append("norm"))
    out = model(**tokenizer(["a cat without a hat"], return_tensors="pt"), encode_split=False)
    assert out.token_logits.shape == (1, 7, 3) and out.text_model_output is None
    assert calls == ["norm"]  # the head's input only: layer 2 never ran


def test_pack_tokens_keeps_order_and_ends_with_one_eos():
    ids = torch.tensor([[49406, 10, 11, 12, 49407, 49407], [49406, 20, 49407, 49407, 49407, 49407]])
    keep = torch.tensor([[False, True, False, True, False, False], [False, False, False, False, False, False]])
    packed, mask = pack_tokens(ids, keep, eos_token_id=49407)
    assert packed.tolist() == [[49406, 10, 12, 49407], [49406, 49407, 49407, 49407]]
    assert mask.tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert eos_positions(packed, 49407).tolist() == [3, 1]
    assert eos_positions(packed, 2).tolist() == [3, 1]  # legacy configs pool the argmax id


def test_split_by_tags_ignores_specials_and_cue_only_prompts():
    ids = torch.tensor([[49406, 10, 11, 49407], [49406, 30, 31, 49407]])
    tags = torch.tensor([[2, 1, 0, 2], [0, 1, 2, 0]])  # row 0: only specials and a cue are tagged
    is_split, split = split_by_tags(ids, torch.ones_like(ids), tags, eos_token_id=49407)
    assert is_split.tolist() == [False, True]
    assert split.split_rows.tolist() == [1]
    assert split.negated_ids.tolist() == [[49406, 31, 49407]]


def test_token_loss_trains_only_the_head(tiny_clip, tokenizer):
    model = wrap(tiny_clip).train()
    batch = tokenizer(["a cat without a hat"], return_tensors="pt")
    labels = torch.tensor([[-100, 0, 0, 1, 2, 2, -100]])
    out = model(**batch, token_labels=labels)
    out.loss.backward()
    assert out.loss.item() > 0
    assert model.negation_head.classifier.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.clip.parameters())


def test_contrastive_loss_reaches_negated_weight(tiny_clip, tokenizer, pixels, monkeypatch):
    model = wrap(tiny_clip, tokenizer, monkeypatch)
    out = model(**tokenizer(PROMPTS[:3], padding=True, return_tensors="pt"), pixel_values=pixels, return_loss=True)
    out.loss.backward()
    assert model.negated_weight.grad is not None and model.negated_weight.grad != 0


def test_bad_inputs_give_clear_errors(tiny_clip, tokenizer, pixels):
    model = wrap(tiny_clip)
    with pytest.raises(ValueError, match="at least one prompt"):
        model.split_prompts([], tokenizer)
    long_ids = torch.full((1, 80), 320)
    with pytest.raises(ValueError, match="80 tokens .* 77 positions"):
        model(input_ids=long_ids)
    with pytest.raises(ValueError, match="one image per prompt"):
        model(**tokenizer(["a", "b"], padding=True, return_tensors="pt"), pixel_values=pixels, return_loss=True)
    with pytest.raises(ValueError, match="attention_mask shape"):
        model(input_ids=torch.ones(2, 5, dtype=torch.long), attention_mask=torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"batch > 0"):
        model(input_ids=torch.ones(0, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="pixel_values must have shape"):
        model(**tokenizer(["a"], return_tensors="pt"), pixel_values=torch.zeros(3, 32, 32))


def test_overlong_prompt_is_truncated_with_a_warning(tiny_clip, tokenizer, monkeypatch):
    import modeling_negclip.modeling_negclip as modeling

    warnings = []
    monkeypatch.setattr(modeling.logger, "warning_once", warnings.append)
    model = wrap(tiny_clip)
    long_prompt = "a cat " * 60
    (split,) = model.split_prompts([long_prompt, "a dog"], tokenizer)[:1]
    assert split.positive == "a cat " * 37 + "a"  # 75 content tokens fit between start and end
    assert len(warnings) == 1 and "truncated" in warnings[0]
    batch = tokenizer([long_prompt], truncation=True, max_length=77, return_tensors="pt")
    assert model(**batch).text_embeds.shape == (1, 16)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(negation_head_layers=0), "negation_head_layers"),
        (dict(negation_head_encoder="transformer", negation_head_heads=5), "negation_head_heads=5"),
        (dict(negation_head_encoder="gru"), "negation_head_encoder must be one of"),
        (dict(negation_head_hidden_size=33), "even negation_head_hidden_size"),  # the default lstm head
        (dict(negation_head_hidden_size=0), "negation_head_hidden_size"),
        (dict(negation_head_dropout=1.0), "negation_head_dropout"),
        (dict(negated_weight_init=-0.5), "-0.5"),
        (dict(id2label={0: "a", 1: "b", 2: "c"}), "id2label"),
        (dict(negation_head_source_layer=3), "negation_head_source_layer=3 .* 2 layers"),  # the tiny CLIP has 2
        (dict(negation_head_source_layer=-1), "negation_head_source_layer=-1"),
        (dict(negation_head_source_layer="1"), "negation_head_source_layer='1'"),
        (dict(negation_head_source_layer=1.0), "negation_head_source_layer=1.0"),
        (dict(negation_head_source_layer=True), "negation_head_source_layer=True"),
        (dict(negation_head_token_embedding_size=-1), "negation_head_token_embedding_size must be an int >= 0"),
        (dict(negation_head_token_embedding_size="8"), "negation_head_token_embedding_size"),
    ],
)
def test_config_rejects_bad_values(overrides, message):
    with pytest.raises(ValueError, match=message):
        NegCLIPConfig(clip_config=tiny_clip_config(), **overrides)


def test_config_round_trip_keeps_nested_clip_config(tmp_path):
    config = NegCLIPConfig(clip_config=tiny_clip_config(), negation_head_heads=2, negated_weight_init=0.5)
    config.save_pretrained(tmp_path)
    loaded = NegCLIPConfig.from_pretrained(tmp_path)
    assert loaded.clip_config.text_config.hidden_size == 32
    assert loaded.clip_config.vision_config.image_size == 32
    assert (loaded.negated_weight_init, loaded.id2label[2]) == (0.5, "negated")


def test_a_config_saved_before_the_encoder_field_loads_as_the_transformer_head_it_was(tiny_clip, tmp_path):
    torch.manual_seed(0)
    model = NegCLIPModel.from_clip(tiny_clip, negation_head_encoder="transformer", negation_head_heads=2).eval()
    with torch.no_grad():
        model.negation_head.classifier.weight.normal_()  # a head that tags, so the comparison means something
    model.save_pretrained(tmp_path)
    config_file = tmp_path / "config.json"
    saved = json.loads(config_file.read_text())
    del saved["negation_head_encoder"]
    config_file.write_text(json.dumps(saved))
    loaded = NegCLIPModel.from_pretrained(tmp_path).eval()
    assert loaded.config.negation_head_encoder == "transformer"
    ids = torch.tensor([[49406, 320, 2368, 49407]])
    torch.testing.assert_close(loaded.get_token_logits(ids)[0], model.get_token_logits(ids)[0], rtol=0, atol=0)
    assert NegCLIPConfig(clip_config=tiny_clip_config()).negation_head_encoder == "lstm"  # what new models get


def test_a_checkpoint_saved_before_own_token_embeddings_loads_without_them(tiny_clip, tmp_path):
    torch.manual_seed(0)
    model = NegCLIPModel.from_clip(tiny_clip).eval()
    assert model.negation_head.token_embedding is None  # off by default
    with torch.no_grad():
        model.negation_head.classifier.weight.normal_()
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    del saved["negation_head_token_embedding_size"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    loaded = NegCLIPModel.from_pretrained(tmp_path).eval()
    assert loaded.config.negation_head_token_embedding_size == 0 and loaded.negation_head.token_embedding is None
    ids = torch.tensor([[49406, 320, 2368, 49407]])
    torch.testing.assert_close(loaded.get_token_logits(ids)[0], model.get_token_logits(ids)[0], rtol=0, atol=0)


def test_the_head_reads_its_own_token_embeddings_and_saves_them(tiny_clip, tmp_path):
    torch.manual_seed(0)
    model = NegCLIPModel.from_clip(tiny_clip, negation_head_token_embedding_size=8).eval()
    with torch.no_grad():
        model.negation_head.classifier.weight.normal_()
    ids = torch.tensor([[49406, 320, 2368, 49407]])
    before = model.get_token_logits(ids)[0]
    with torch.no_grad():
        model.negation_head.token_embedding.weight[2368].add_(1.0)
    after = model.get_token_logits(ids)[0]
    assert not torch.allclose(before[0, 2], after[0, 2])  # the word's own tag moves with its embedding
    model.save_pretrained(tmp_path)
    loaded = NegCLIPModel.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(loaded.get_token_logits(ids)[0], after, rtol=0, atol=0)


def test_lstm_head_tags_a_prompt_the_same_however_far_its_batch_is_padded(tiny_clip, tokenizer):
    torch.manual_seed(0)
    model = NegCLIPModel.from_clip(tiny_clip).eval()
    with torch.no_grad():
        model.negation_head.classifier.weight.normal_()
    alone = tokenizer(["a dog without a collar"], return_tensors="pt")
    padded = tokenizer(["a dog without a collar", "a long prompt " * 6], padding=True, return_tensors="pt")
    width = alone["input_ids"].shape[1]
    logits_alone, _ = model.get_token_logits(**alone)
    logits_padded, _ = model.get_token_logits(**padded)
    torch.testing.assert_close(logits_padded[0, :width], logits_alone[0], rtol=1e-5, atol=1e-6)


def test_lstm_head_refuses_left_padding(tiny_clip, tokenizer):
    model = NegCLIPModel.from_clip(tiny_clip).eval()
    batch = tokenizer(["a dog without a collar", "a cat"], padding=True, return_tensors="pt")
    left = {key: value.flip(dims=[1]) for key, value in batch.items()}  # pads first
    with pytest.raises(ValueError, match="right-padded"):
        model.get_token_logits(**left)


@pytest.mark.parametrize("source_layer", [0, 2, None])
def test_config_round_trip_keeps_the_head_source_layer(tmp_path, source_layer):
    NegCLIPConfig(clip_config=tiny_clip_config(), negation_head_source_layer=source_layer).save_pretrained(tmp_path)
    assert NegCLIPConfig.from_pretrained(tmp_path).negation_head_source_layer == source_layer


def test_config_saved_before_the_source_layer_existed_reads_the_last_layer(tmp_path):
    """Such a head was trained on CLIP's final states: it must not silently get the new default."""
    NegCLIPConfig(clip_config=tiny_clip_config()).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    del saved["negation_head_source_layer"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert NegCLIPConfig.from_pretrained(tmp_path).negation_head_source_layer is None
    assert NegCLIPConfig(clip_config=tiny_clip_config()).negation_head_source_layer == 0  # new configs: the default


def test_wrap_b32_shaped_clip():
    torch.manual_seed(0)
    clip = CLIPModel(CLIPConfig()).eval()  # shaped like openai/clip-vit-base-patch32, random weights
    model = NegCLIPModel.from_clip(clip).eval()
    ids = torch.tensor([[49406, 320, 1125, 539, 320, 2368, 49407]])
    pixels = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(
            model(input_ids=ids, pixel_values=pixels).logits_per_image,
            clip(input_ids=ids, pixel_values=pixels).logits_per_image,
            rtol=0, atol=1e-5,
        )
    head = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert head < sum(p.numel() for p in clip.text_model.parameters()) / 10


def test_prompt_negating_all_it_names_takes_the_null_positive(tiny_clip, tokenizer, monkeypatch):
    model = wrap(tiny_clip, tokenizer, monkeypatch)
    empty = tokenizer([""], return_tensors="pt")  # start and end token only
    with torch.no_grad():
        torch.testing.assert_close(model.null_positive_embeds, tiny_clip.get_text_features(**empty).pooler_output[0])
        batch = tokenizer(["no dogs", "a cat without hats", "a photo of a cat"], padding=True, return_tensors="pt")
        before = model.get_text_polarity_features(**batch)
        assert before.is_split.tolist() == [True, True, False]
        torch.testing.assert_close(before.text_embeds[0], model.null_positive_embeds)
        model.null_positive_embeds.add_(1.0)  # only the prompt with an empty positive part follows it
        after = model.get_text_polarity_features(**batch)
    torch.testing.assert_close(after.text_embeds[0], model.null_positive_embeds)
    torch.testing.assert_close(after.text_embeds[1:], before.text_embeds[1:])


def test_null_positive_is_learned_with_the_weight(tiny_clip, tokenizer, pixels, monkeypatch):
    model = wrap(tiny_clip, tokenizer, monkeypatch)
    model.negation_head.requires_grad_(False)
    for texts, has_grad in ((["no dogs", "a cat", "no cats"], True), (["a cat", "a dog", "two cats"], False)):
        model.zero_grad()
        out = model(**tokenizer(texts, padding=True, return_tensors="pt"), pixel_values=pixels, return_loss=True)
        out.loss.backward()  # without any split prompt both stay in the graph with a zero gradient
        assert model.null_positive_embeds.grad is not None and model.negated_weight.grad is not None
        assert bool(model.null_positive_embeds.grad.abs().sum() > 0) == has_grad


def test_threshold_moves_only_split_prompts_by_w_times_t(tiny_clip, tokenizer, pixels, monkeypatch):
    model = wrap(tiny_clip, tokenizer, monkeypatch)
    batch = tokenizer(["a cat without hats", "a photo of a cat"], padding=True, return_tensors="pt")
    with torch.no_grad():
        model.negated_weight.fill_(0.5)
        before = model(**batch, pixel_values=pixels).logits_per_text
        model.negated_threshold.fill_(0.2)
        after = model(**batch, pixel_values=pixels).logits_per_text
    scale = model.clip.logit_scale.exp()
    torch.testing.assert_close(after[0] - before[0], (scale * 0.5 * 0.2).expand(pixels.shape[0]))
    torch.testing.assert_close(after[1], before[1], rtol=0, atol=0)


def test_start_end_ids_read_legacy_configs_from_the_vocabulary():
    from modeling_negclip.polarity_split import start_end_ids

    assert start_end_ids(49406, 49407, 49408) == (49406, 49407)
    assert start_end_ids(0, 2, 49408) == (49406, 49407)  # pre-#24773 config: eos_token_id 2, ids at the end


def test_knee_adds_cost_only_where_the_negated_part_is_clearly_there(tiny_clip, tokenizer, pixels, monkeypatch):
    """Split prompts pay v * softplus above the knee u (about v * (cos - u) well above it, about 0 well below)."""
    model = wrap(tiny_clip, tokenizer, monkeypatch)
    batch = tokenizer(["a cat without hats", "a photo of a cat"], padding=True, return_tensors="pt")
    with torch.no_grad():
        model.negated_knee_weight.fill_(0.0)
        text = model.get_text_polarity_features(**batch)
        images = torch.nn.functional.normalize(model.get_image_features(pixels).pooler_output, dim=-1)
        texts = torch.nn.functional.normalize(text.text_embeds, dim=-1)
        negated = torch.nn.functional.normalize(text.negated_text_embeds, dim=-1)
        before = model.compute_logits(images, texts, negated, text.is_split)
        similarity = negated[0] @ images.t()  # (I,)
        scale = model.clip.logit_scale.exp()
        for knee, expected in ((similarity.min() - 1.0, 2.0 * (similarity - similarity.min() + 1.0)), (similarity.max() + 1.0, 0.0 * similarity)):
            model.negated_knee_weight.fill_(2.0)
            model.negated_knee_threshold.fill_(float(knee))
            after = model.compute_logits(images, texts, negated, text.is_split)
            torch.testing.assert_close(before[0] - after[0], scale * expected, atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(after[1], before[1], rtol=0, atol=0)


def test_negated_adapter_maps_only_the_negated_parts(tiny_clip, tokenizer, pixels, monkeypatch):
    """The negated part's embedding n becomes n + A n; positive parts and unsplit prompts are untouched."""
    model = wrap(tiny_clip, tokenizer, monkeypatch)
    batch = tokenizer(["a cat without hats", "a photo of a cat"], padding=True, return_tensors="pt")
    adapter = torch.randn(model.negated_adapter.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert not model.negated_adapter.any()  # zeros at first: CLIP's own embedding of the negated part
        before = model.get_text_polarity_features(**batch)
        logits_before = model(**batch, pixel_values=pixels).logits_per_text
        model.negated_adapter.copy_(adapter)
        after = model.get_text_polarity_features(**batch)
        logits_after = model(**batch, pixel_values=pixels).logits_per_text
    negated = before.negated_text_embeds[0]
    torch.testing.assert_close(after.negated_text_embeds[0], negated + adapter @ negated)
    torch.testing.assert_close(after.text_embeds, before.text_embeds, rtol=0, atol=0)
    torch.testing.assert_close(logits_after[1], logits_before[1], rtol=0, atol=0)
    assert not torch.allclose(logits_after[0], logits_before[0])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_splits_alike_and_scores_within_rounding(tiny_clip, tokenizer, pixels, monkeypatch, tmp_path, dtype):
    """A checkpoint loaded in half precision (`from_pretrained(..., dtype=torch.bfloat16)`, as for GPU inference)
    splits the same prompts and scores them as float32 does, up to the half type's rounding, adapter and knee
    included."""
    full = wrap(tiny_clip, tokenizer, monkeypatch)
    with torch.no_grad():
        full.negated_adapter.normal_(std=0.3, generator=torch.Generator().manual_seed(0))
        full.negated_weight.fill_(0.5)
    full.save_pretrained(tmp_path)
    half = NegCLIPModel.from_pretrained(tmp_path, dtype=dtype).eval()
    monkeypatch.setattr(half, "tag_tokens", rule_tagger(tokenizer))
    batch = tokenizer(PROMPTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = full(**batch, pixel_values=pixels)
        out = half(**batch, pixel_values=pixels.to(dtype))
    assert out.logits_per_image.dtype == dtype and out.negated_text_embeds.dtype == dtype
    assert out.is_split.tolist() == expected.is_split.tolist() and out.is_split.any()
    scale = tiny_clip.logit_scale.exp().item()  # logits are scale x cosine: compare cosines to 2 decimals
    torch.testing.assert_close(out.logits_per_image.float() / scale, expected.logits_per_image / scale, rtol=0, atol=2e-2)


def test_image_embeds_score_as_the_pixels_they_come_from(tiny_clip, tokenizer, pixels, monkeypatch):
    model = wrap(tiny_clip, tokenizer, monkeypatch)
    inputs = tokenizer(["a street without cars", "a dog"], padding=True, return_tensors="pt")
    with torch.no_grad():
        from_pixels = model(**inputs, pixel_values=pixels).logits_per_image
        embeds = model.get_image_features(pixels).pooler_output
        from_embeds = model(**inputs, image_embeds=embeds).logits_per_image
    torch.testing.assert_close(from_embeds, from_pixels)
    with pytest.raises(ValueError, match="not both"):
        model(**inputs, pixel_values=pixels, image_embeds=embeds)
    with pytest.raises(ValueError, match=r"image_embeds must have shape \(batch > 0, 16\)"):
        model(**inputs, image_embeds=embeds[:, :8])


def test_cached_frozen_text_scores_and_trains_as_uncached(tiny_clip, tokenizer, pixels, monkeypatch):
    model = wrap(tiny_clip, tokenizer, monkeypatch)
    model.requires_grad_(False)
    for parameter in model.polarity_parameters():
        parameter.requires_grad_(True)
    with torch.no_grad():
        model.negated_adapter.normal_(std=0.1)
    texts = ["a street without cars", "no dog", "a dog", "a street without cars"]
    inputs = tokenizer(texts, padding=True, return_tensors="pt")

    def scores_and_grads():
        model.zero_grad()
        logits = model(**inputs, pixel_values=pixels[:1]).logits_per_image
        logits.sum().backward()
        return logits.detach(), [p.grad.clone() for p in model.polarity_parameters()]

    expected, expected_grads = scores_and_grads()
    with model.caching_frozen_text() as cache:
        first, grads = scores_and_grads()
        again, _ = scores_and_grads()  # every prompt from the cache now
        assert (len(cache), cache.misses, cache.hits, cache.num_parts) == (3, 3, 5, 4)  # parts: "a street", "", "cars", "dog"
    torch.testing.assert_close(first, expected)
    torch.testing.assert_close(again, expected)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want)
    assert model._frozen_text_cache is None  # off again after the block
    model.negation_head.requires_grad_(True)
    with pytest.raises(ValueError, match="CLIP and the head frozen"):
        with model.caching_frozen_text():
            pass
