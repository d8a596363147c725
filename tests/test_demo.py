"""The demo page (training/demo): gallery reading, search, messages for bad input, and the page in headless Chromium.

The search runs on a tiny CLIP trained here in seconds to tell three solid colours apart, wrapped in a NegCLIP whose
head is the rule tagger: so "without red" has a right answer that a wrong ranking would miss.
"""

import pytest
import torch
from PIL import Image
from transformers import CLIPModel, CLIPProcessor
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from conftest import rule_tagger, tiny_clip_config
from modeling_negclip import NegCLIPModel
from training.demo.__main__ import main as demo_main
from training.demo.gallery import folder_gallery, scene_name, world_gallery
from training.demo.search import NegCLIPSearch, tagged_spans
from training.demo.screenshot import browser_missing, drive_page, free_port
from training.world.shapes_world import build_world_dataset, scenes_from_dataset

COLOURS = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (30, 180, 60)}


def colour_image(rgb, seed):
    noise = torch.randint(-20, 21, (32, 32, 3), generator=torch.Generator().manual_seed(seed))
    return Image.fromarray((torch.tensor(rgb) + noise).clamp(0, 255).to(torch.uint8).numpy())


@pytest.fixture(scope="module")
def colour_processor(tokenizer):
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)


@pytest.fixture(scope="module")
def colour_negclip(colour_processor, tokenizer):
    """A tiny CLIP fitted contrastively on '<colour>' captions of noisy solid-colour images, wrapped in NegCLIP."""
    torch.manual_seed(0)
    clip = CLIPModel(tiny_clip_config())
    names = list(COLOURS)
    optimiser = torch.optim.Adam(clip.parameters(), lr=2e-3)
    text = colour_processor.tokenizer(names, padding=True, return_tensors="pt")
    for step in range(60):
        images = [colour_image(COLOURS[name], seed=step * 3 + i) for i, name in enumerate(names)]
        pixels = colour_processor.image_processor(images, return_tensors="pt")["pixel_values"]
        loss = clip(**text, pixel_values=pixels, return_loss=True).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model = NegCLIPModel.from_clip(clip.eval(), negation_head_heads=2).eval()
    model.tag_tokens = rule_tagger(tokenizer)  # cue word -> cue, the word after it -> negated
    with torch.no_grad():
        model.negated_weight.fill_(5.0)
    return model


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    for name, rgb in COLOURS.items():
        for i in range(3):
            colour_image(rgb, seed=100 + i).save(folder / f"{name}_{i}.png")
    (folder / "broken.png").write_bytes(b"not a png")
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture(scope="module")
def search(colour_negclip, colour_processor, image_folder):
    return NegCLIPSearch(colour_negclip, colour_processor, folder_gallery(image_folder), top_k=4)


def test_folder_gallery_skips_and_names_unreadable_files(image_folder):
    gallery = folder_gallery(image_folder)
    assert len(gallery.images) == 9 and gallery.names[0] == "blue_0.png"
    assert sorted(s.split(" ")[0] for s in gallery.skipped) == ["broken.png", "notes.txt"]
    assert "9 images" in gallery.describe() and "2 files skipped" in gallery.describe()


def test_a_folder_without_images_is_refused(tmp_path):
    (tmp_path / "a.txt").write_text("text")
    with pytest.raises(ValueError, match="no readable images .1 files skipped"):
        folder_gallery(tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        folder_gallery(tmp_path / "absent")


def test_world_gallery_names_each_scene_by_its_objects(tmp_path):
    dataset = build_world_dataset(5, seed=3, image_size=32)
    dataset.save_to_disk(str(tmp_path / "eval"))
    gallery = world_gallery(tmp_path, num_images=3)
    assert len(gallery.images) == 3
    assert gallery.names == [scene_name(scene) for scene in scenes_from_dataset(dataset)[:3]]
    with pytest.raises(FileNotFoundError, match="world folder"):
        world_gallery(tmp_path / "absent", 3)


def test_negclip_column_lacks_the_negated_colour_and_clip_column_is_plain_clip(search):
    result = search.search("  blue without red ")
    assert (result.positive, result.negated, result.cues) == ("blue", "red", "without")
    assert result.spans == [("blue", "affirmed"), (" ", None), ("without", "cue"), (" ", None), ("red", "negated")]
    top = [search.gallery.names[r.index] for r in result.negclip]
    assert not any(name.startswith("red") for name in top[:3]), top
    plain = search.clip_scorer.score(search.image_embeds, ["blue without red"])[0]
    assert [r.index for r in result.clip] == plain.topk(4).indices.tolist()
    unsplit = search.search("red")
    assert unsplit.negated == "" and [r.index for r in unsplit.negclip] == [r.index for r in unsplit.clip]


@pytest.mark.parametrize("prompt", ["a cat, not a dog", "“no” hats – isn’t it 🙂", "x" * 400])
def test_tagged_spans_cover_the_prompt(colour_negclip, tokenizer, prompt):
    assert "".join(text for text, _ in tagged_spans(colour_negclip, tokenizer, prompt)) == prompt


def test_an_empty_query_gets_a_message_not_a_traceback(search):
    pytest.importorskip("gradio")
    from training.demo.app import run_query

    spans, summary, clip, negclip = run_query(search, "   ")
    assert spans == [] and clip == [] and negclip == [] and "Type a query" in summary


def test_cli_refuses_bad_paths_with_a_message(tmp_path, capsys, image_folder):
    with pytest.raises(SystemExit):
        demo_main(["--model", str(tmp_path / "absent")])
    assert "absent" in capsys.readouterr().err


def test_page_in_headless_chromium(search, tmp_path):
    missing = browser_missing()
    if missing:
        pytest.skip(missing)
    from training.demo.app import build_demo, launch

    port = free_port()
    demo = build_demo(search, ["blue without red"], "colour-negclip")
    launch(demo, "127.0.0.1", port, block=False)
    try:
        reading = drive_page(f"http://127.0.0.1:{port}/", "blue without red", str(tmp_path / "page.png"))
    finally:
        demo.close()
    assert "without" in reading.split and "Negated concepts: red" in reading.summary
    assert len(reading.negclip) == 4 and "red" not in reading.negclip[0], reading.negclip
    assert len(reading.clip) == 4
    assert (tmp_path / "page.png").stat().st_size > 10_000
