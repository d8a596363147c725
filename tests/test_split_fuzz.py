"""Fuzzing the split: any text and any tagging never crash, and the parts partition the prompt's tokens."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modeling_negclip import NegCLIPConfig, NegCLIPModel
from modeling_negclip.polarity_split import content_mask, split_by_tags
from tests.conftest import tiny_clip_config

NEGATION_WORDS = ["no", "not", "without", "never", "none", "n't", "isn't", "neither", "nor", "but", "except"]
texts = st.one_of(
    st.text(max_size=400),
    st.text(alphabet="!?.,;:-'\"()[]{} ", max_size=50),
    st.lists(st.sampled_from(NEGATION_WORDS), max_size=60).map(" ".join),
)



@pytest.fixture(scope="module")
def random_head_model():
    """A tiny NegCLIP whose random head tags tokens all three ways."""
    torch.manual_seed(0)
    model = NegCLIPModel(NegCLIPConfig(clip_config=tiny_clip_config(), negation_head_heads=2)).eval()
    with torch.no_grad():
        model.negation_head.classifier.weight.normal_(std=5.0)
        model.negation_head.classifier.bias.zero_()
    return model


def is_subsequence(part: list[int], whole: list[int]) -> bool:
    items = iter(whole)
    return all(any(token == x for x in items) for token in part)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(texts, min_size=1, max_size=4))
def test_split_prompts_never_crashes_and_cuts_the_prompt_in_order(batch, tokenizer, random_head_model):
    model = random_head_model
    for split in model.split_prompts(batch, tokenizer):
        for part in (split.positive, split.negated, split.cues):
            pieces = part.split(" ") if part else []
            position = 0
            for piece in pieces:  # every piece is cut from the prompt, in order
                found = split.prompt.find(piece, position)
                assert found >= 0, (piece, split.prompt)
                position = found + len(piece)
    inputs = tokenizer(batch, padding=True, truncation=True, max_length=77, return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs)
    assert torch.isfinite(out.text_embeds).all() and torch.isfinite(out.negated_text_embeds).all()


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_split_by_tags_partitions_content_tokens_in_order(data):
    rows = data.draw(st.integers(1, 4))
    lengths = data.draw(st.lists(st.integers(0, 12), min_size=rows, max_size=rows))
    width = max(lengths) + 2
    ids = torch.full((rows, width), 49407)
    mask = torch.zeros(rows, width, dtype=torch.long)
    for r, n in enumerate(lengths):
        ids[r, 0] = 49406
        ids[r, 1 : n + 1] = torch.tensor(data.draw(st.lists(st.integers(0, 49405), min_size=n, max_size=n)), dtype=torch.long)
        mask[r, : n + 2] = 1
    tags = torch.tensor(data.draw(st.lists(st.lists(st.integers(0, 2), min_size=width, max_size=width), min_size=rows, max_size=rows)))
    is_split, split = split_by_tags(ids, mask, tags, eos_token_id=49407)
    content = content_mask(ids, mask, 49407)
    for k, row in enumerate(split.split_rows.tolist()):
        tokens = ids[row][content[row]].tolist()
        row_tags = tags[row][content[row]].tolist()
        positive = split.positive_ids[k][split.positive_mask[k].bool()].tolist()
        negated = split.negated_ids[k][split.negated_mask[k].bool()].tolist()
        assert positive[0] == negated[0] == 49406 and positive[-1] == negated[-1] == 49407
        assert positive[1:-1] == [t for t, g in zip(tokens, row_tags) if g == 0]
        assert negated[1:-1] == [t for t, g in zip(tokens, row_tags) if g == 2]
        assert negated[1:-1] and is_subsequence(positive[1:-1], tokens)
    assert is_split.tolist() == [bool(((tags[r] == 2) & content[r]).any()) for r in range(rows)]


ASCII_TO_TYPOGRAPHIC = {"'": "\u2018\u2019\u02bc\u201a\u201b", '"': "\u201c\u201d\u201e\u201f"}
quoted_texts = st.lists(
    st.one_of(st.sampled_from(NEGATION_WORDS + ["cat", "dog's", "red", "hat", "isn't", "don't"]), st.sampled_from(["'", '"'])),
    min_size=1, max_size=12,
).map(" ".join)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prompt=quoted_texts, data=st.data())
def test_typographic_quotes_split_and_score_as_ascii_ones(prompt, data, tokenizer, random_head_model):
    typographic = "".join(data.draw(st.sampled_from(ASCII_TO_TYPOGRAPHIC[c])) if c in ASCII_TO_TYPOGRAPHIC else c for c in prompt)
    fold = str.maketrans({c: a for a, cs in ASCII_TO_TYPOGRAPHIC.items() for c in cs})
    model = random_head_model
    ascii_split, typographic_split = model.split_prompts([prompt, typographic], tokenizer)
    for part in ("positive", "negated", "cues"):
        assert getattr(typographic_split, part).translate(fold) == getattr(ascii_split, part)
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        scores = model(**tokenizer([prompt, typographic], padding=True, return_tensors="pt"), pixel_values=pixels).logits_per_text
    torch.testing.assert_close(scores[0], scores[1], rtol=0, atol=1e-5)  # same ids: rounding across batch rows only


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prompt=st.text(st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Zs"]), min_size=1, max_size=80))
def test_no_printable_unicode_prompt_crashes_scoring(prompt, tokenizer, random_head_model):
    pixels = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = random_head_model(**tokenizer([prompt], truncation=True, max_length=77, return_tensors="pt"), pixel_values=pixels)
    assert torch.isfinite(out.logits_per_image).all()
    random_head_model.split_prompts([prompt], tokenizer)
