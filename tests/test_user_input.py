"""What a new user hits: typographic quotes, return_dict=False, processors for tokenizers, and clear errors for
missing folders, broken weights files, empty image batches and prompts with no Latin letters."""

import pytest
import torch
from transformers import CLIPProcessor, CLIPTokenizer
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
from transformers.testing_utils import CaptureLogger

from modeling_negclip import NegCLIPModel
from modeling_negclip import modeling_negclip as modeling
from tests.conftest import rule_tagger
from training import split as split_cli
from training.text.clip_tokenizer import with_folded_quotes


@pytest.fixture()
def model(tiny_clip, tokenizer, monkeypatch):
    model = NegCLIPModel.from_clip(tiny_clip, negation_head_heads=2).eval()
    monkeypatch.setattr(model, "tag_tokens", rule_tagger(tokenizer))
    return model


def test_typographic_quotes_get_the_ids_of_ascii_ones(tokenizer):
    curly = tokenizer(["the cat isn\u2019t \u201cred\u201d", "a dog\u2018s \u201eball\u201f"])["input_ids"]
    ascii_ = tokenizer(["the cat isn't \"red\"", "a dog's \"ball\""])["input_ids"]
    assert curly == ascii_
    assert with_folded_quotes(tokenizer) is tokenizer  # folding twice changes nothing


def test_a_checkpoint_tokenizer_keeps_folding_after_save_and_load(tokenizer, tmp_path):
    from transformers import AutoTokenizer

    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded("isn\u2019t")["input_ids"] == loaded("isn't")["input_ids"]
    assert loaded.batch_decode(loaded(["a photo of a cat"])["input_ids"], skip_special_tokens=True) == ["a photo of a cat"]


def test_split_prompts_reads_typographic_apostrophes_with_any_clip_tokenizer(model, tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    unfolded = CLIPTokenizer.from_pretrained(tmp_path)  # CLIPTokenizer rebuilds its own normaliser: no folding
    assert unfolded("\u2019")["input_ids"] != unfolded("'")["input_ids"]
    (split,) = model.split_prompts(["a \u2018cat\u2019 without glasses"], unfolded)
    assert (split.positive, split.negated, split.cues) == ("a \u2018cat\u2019", "glasses", "without")


def test_split_prompts_takes_a_processor_and_refuses_other_objects(model, tokenizer):
    processor = CLIPProcessor(image_processor=CLIPImageProcessorPil(), tokenizer=tokenizer)
    assert model.split_prompts(["a cat without a hat"], processor) == model.split_prompts(["a cat without a hat"], tokenizer)
    with pytest.raises(TypeError, match="fast tokenizer.*got dict"):
        model.split_prompts(["a cat"], {"input_ids": [1]})
    with pytest.raises(TypeError, match="list of strings"):
        model.split_prompts([["a cat"]], tokenizer)


def test_a_lone_cue_is_not_reported_as_cut_out(model, tokenizer):
    (split,) = model.split_prompts(["not"], tokenizer)
    assert (split.positive, split.negated, split.cues) == ("not", "", "")


def test_prompts_without_latin_letters_warn_once(model, tokenizer):
    modeling.logger.warning_once.cache_clear()
    with CaptureLogger(modeling.logger) as captured:
        model.split_prompts(["\u4e00\u53ea\u732b", "a cat"], tokenizer)
    assert "no Latin ones" in captured.out
    modeling.logger.warning_once.cache_clear()
    with CaptureLogger(modeling.logger) as captured:
        model.split_prompts(["caf\u00e9 without milk", "   ", "123"], tokenizer)
    assert "Latin" not in captured.out


def test_return_dict_false_gives_the_output_as_a_tuple(model, tokenizer, pixels):
    inputs = tokenizer(["a cat without a hat", "a dog"], padding=True, return_tensors="pt")
    with torch.no_grad():
        as_dict = model(**inputs, pixel_values=pixels)
        as_tuple = model(**inputs, pixel_values=pixels, return_dict=False)
    assert isinstance(as_tuple, tuple) and not isinstance(as_tuple, modeling.NegCLIPOutput)
    torch.testing.assert_close(as_tuple[0], as_dict.logits_per_image)
    model.config.return_dict = False
    with torch.no_grad():
        assert isinstance(model(**inputs, pixel_values=pixels), tuple)


def test_an_empty_image_batch_is_refused_clearly(model, tokenizer):
    inputs = tokenizer(["a cat"], return_tensors="pt")
    with pytest.raises(ValueError, match=r"batch > 0.*\(0, 3, 32, 32\)"):
        model(**inputs, pixel_values=torch.zeros(0, 3, 32, 32))


def test_a_truncated_weights_file_names_the_file(model, tmp_path):
    model.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(OSError, match=f"'{weights}' is not a readable safetensors file"):
        NegCLIPModel.from_pretrained(tmp_path)


def test_a_folder_with_training_arguments_but_no_weights_says_no_weights(model, tmp_path):
    model.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    (tmp_path / "training_args.bin").write_bytes(b"not weights")
    with pytest.raises(FileNotFoundError, match="has no weights file; expected model.safetensors"):
        NegCLIPModel.from_pretrained(tmp_path)


@pytest.mark.parametrize("name", ["outputs/nowhere/negclip", "./negclip", "/no/such/dir"])
def test_split_cli_says_at_once_that_a_folder_does_not_exist(name, capsys):
    with pytest.raises(SystemExit):
        split_cli.main(["--model", name, "a cat"])
    assert f"no folder '{name}'" in capsys.readouterr().err


def test_split_cli_refuses_a_file_for_a_folder(tmp_path, capsys):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(SystemExit):
        split_cli.main(["--model", str(tmp_path / "model.safetensors"), "a cat"])
    assert "is a file" in capsys.readouterr().err
