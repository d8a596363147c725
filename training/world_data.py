"""Shapes-world rows -> CLIP training batches, shared by `train_base_clip` and `train_conclip_baseline`.

A row of `shapes_world.build_world_dataset` holds a PIL `image`, its scene `objects` and one fixed
affirmative `caption`. The collators here turn a list of rows into the keyword arguments of
`CLIPModel.forward` (`pixel_values`, `input_ids`, `attention_mask`, `return_loss=True`), so the
stock `Trainer` can feed them as they are; the raw columns are read by the collator, hence
`remove_unused_columns=False` in the training arguments.

Captions are drawn afresh for every batch from the scene's objects (a new template, object order
and wording each epoch: cheap augmentation). The draws are seeded: from `seed` in the main process,
and from `seed` and the DataLoader worker's own seed (new every epoch) in a worker process.

- `WorldCaptionCollator`: one affirmative caption per image (base CLIP pretraining; like real CLIP
  it never sees negation).
- `HardNegativeCollator`: per image one positive caption (affirmative or a true negated caption)
  and one hard negative: a false negated caption that negates an object of the image, CoN-CLIP
  style (Singh et al. 2024, "Learn "No" to Say "Yes" Better"), or a false affirmative caption that
  names an absent look-alike ("a blue square" under a blue circle), the distractor NegBench pairs
  with "no blue square". `input_ids` holds the `n` positives first, then the `n` hard negatives,
  row `i` and row `n + i` belonging to image `i`.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

import torch
from PIL import Image
from transformers import BatchFeature, CLIPProcessor, PreTrainedTokenizerBase
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from .negation_captions import AFFIRMATION, absent_mentions, make_caption, sample_negated_caption, templates_of
from .shapes_world import SHAPES, Mention, Scene, affirmative_caption, render_scene

CAPTION_MODES = ("fresh", "fixed")


def build_clip_processor(tokenizer: PreTrainedTokenizerBase, image_size: int) -> CLIPProcessor:
    """A standard `CLIPProcessor` for `image_size` images: resize the shortest edge, centre crop,
    CLIP's mean/std. The PIL image processor, because the default one needs torchvision."""
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    return CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)


def encode_images_and_texts(
    processor: CLIPProcessor, images: Sequence[Image.Image] | None = None, texts: Sequence[str] | None = None
) -> BatchFeature:
    """`processor(images=..., text=...)` with padding to the longest text (at most 77 tokens).

    Shapes-world images are rendered at the crop size already; the resize and crop are then skipped
    (same pixels, about half the cost).
    """
    kwargs = {}
    if images:
        crop = processor.image_processor.crop_size
        if all(image.size == (crop["width"], crop["height"]) for image in images):
            kwargs.update(do_resize=False, do_center_crop=False)
    return processor(
        images=list(images) if images else None,
        text=list(texts) if texts else None,
        padding=True,
        truncation=True,
        return_tensors="pt",
        **kwargs,
    )


def shape_twin(scene: Scene, rng: random.Random) -> Scene:
    """`scene` with every object's shape changed (same colours, sizes and places): an image that
    only the shapes tell apart from the original. Its (shape, colour) pairs stay distinct."""
    objects, pairs = [], set()
    for obj in scene.objects:
        shape = rng.choice([s for s in SHAPES if s != obj.shape and (s, obj.colour) not in pairs])
        pairs.add((shape, obj.colour))
        objects.append(dataclasses.replace(obj, shape=shape))
    return Scene(tuple(objects))


class _SeededCollator:
    """Holds the caption RNG: seeded by `seed`, re-seeded per DataLoader worker (and so per epoch)."""

    def __init__(self, processor: CLIPProcessor, seed: int = 0):
        self.processor = processor
        self.seed = seed
        self._rng: random.Random | None = None
        self._worker_seed: int | None = None

    @property
    def rng(self) -> random.Random:
        info = torch.utils.data.get_worker_info()
        worker_seed = None if info is None else info.seed
        if self._rng is None or worker_seed != self._worker_seed:
            self._rng = random.Random(f"world-captions:{self.seed}:{worker_seed}")
            self._worker_seed = worker_seed
        return self._rng


class WorldCaptionCollator(_SeededCollator):
    """Rows -> `pixel_values` `(m, 3, S, S)`, `input_ids` / `attention_mask` `(m, T)`, `return_loss`.

    `m = n + int(n * shape_twins)`: the first rows may bring a shape twin (`shape_twin`), rendered
    on the fly and appended after the `n` rows with its own caption. Colour alone tells most scenes
    of a batch apart, so a small ViT learns colour at once and shape only slowly; twins make shape
    the only clue for their pair.

    Args:
        processor (`CLIPProcessor`): tokenizer + image processor.
        caption_mode (`str`, *optional*, defaults to `"fresh"`): `"fresh"` draws a new affirmative
            caption from the row's `objects` at every batch; `"fixed"` uses the row's `caption`.
        shape_twins (`float`, *optional*, defaults to 0.0): share of rows (0..1) that get a twin.
        seed (`int`, *optional*, defaults to 0): seed of the fresh captions and the twins.
    """

    def __init__(self, processor: CLIPProcessor, caption_mode: str = "fresh", shape_twins: float = 0.0, seed: int = 0):
        if caption_mode not in CAPTION_MODES:
            raise ValueError(f"caption_mode must be one of {CAPTION_MODES}, got '{caption_mode}'")
        if not 0.0 <= shape_twins <= 1.0:
            raise ValueError(f"shape_twins must be in [0, 1], got {shape_twins}")
        super().__init__(processor, seed)
        self.caption_mode = caption_mode
        self.shape_twins = shape_twins

    def captions(self, rows: Sequence[dict]) -> list[str]:
        if self.caption_mode == "fixed":
            return [row["caption"] for row in rows]
        rng = self.rng
        return [affirmative_caption(Scene.from_dicts(row["objects"]), rng) for row in rows]

    def twins(self, rows: Sequence[dict]) -> tuple[list[Image.Image], list[str]]:
        """Shape twins of the first `int(len(rows) * shape_twins)` rows: images and captions."""
        rng = self.rng
        images, captions = [], []
        for row in rows[: int(len(rows) * self.shape_twins)]:
            twin = shape_twin(Scene.from_dicts(row["objects"]), rng)
            images.append(render_scene(twin, row["image"].size[0]))
            captions.append(affirmative_caption(twin, rng))
        return images, captions

    def __call__(self, rows: Sequence[dict]) -> dict[str, torch.Tensor | bool]:
        twin_images, twin_captions = self.twins(rows)
        images = [row["image"] for row in rows] + twin_images
        batch = encode_images_and_texts(self.processor, images, self.captions(rows) + twin_captions)
        return {
            "pixel_values": batch["pixel_values"],
            "input_ids": batch["input_ids"],
            "attention_mask": batch["attention_mask"],
            "return_loss": True,
        }


def false_affirmative_caption(scene: Scene, rng: random.Random) -> dict:
    """An affirmative caption that is false only because it names an absent look-alike: an object
    sharing the colour, the shape or both (crosswise) with present ones, alone or after a present one."""
    hardness = rng.choice(["binding", "shape", "colour"])
    absent = rng.choice(absent_mentions(scene, hardness) or absent_mentions(scene, "hard") or absent_mentions(scene))
    present = [Mention.of(obj) for obj in rng.sample(scene.objects, rng.randint(0, min(1, len(scene.objects))))]
    return make_caption(rng.choice(templates_of(AFFIRMATION)), [*present, absent])


class HardNegativeCollator(_SeededCollator):
    """Rows -> `pixel_values` `(n, 3, S, S)`, `input_ids` / `attention_mask` `(2n, T)`, `return_loss`.

    Rows `0..n-1` of `input_ids` are positives (true for their image): an affirmative caption with
    probability `affirmative_prob`, else a true negated caption ("a red circle but no square").
    Rows `n..2n-1` are hard negatives of the same image: a false negated caption negating one of
    its objects ("no red circle" under a red circle), or, with probability `false_affirmative_prob`,
    a false affirmative naming an absent look-alike (`false_affirmative_caption`).

    Args:
        processor (`CLIPProcessor`): tokenizer + image processor.
        affirmative_prob (`float`, *optional*, defaults to 0.5): share of affirmative positives.
        seed (`int`, *optional*, defaults to 0): seed of the captions.
        false_affirmative_prob (`float`, *optional*, defaults to 0.0): share of false affirmative
            hard negatives.
    """

    def __init__(
        self, processor: CLIPProcessor, affirmative_prob: float = 0.5, seed: int = 0, false_affirmative_prob: float = 0.0
    ):
        for name, value in (("affirmative_prob", affirmative_prob), ("false_affirmative_prob", false_affirmative_prob)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        super().__init__(processor, seed)
        self.affirmative_prob = affirmative_prob
        self.false_affirmative_prob = false_affirmative_prob

    def captions(self, rows: Sequence[dict]) -> tuple[list[str], list[str]]:
        rng = self.rng
        positives, negatives = [], []
        for row in rows:
            scene = Scene.from_dicts(row["objects"])
            if rng.random() < self.affirmative_prob:
                positives.append(affirmative_caption(scene, rng))
            else:
                positives.append(sample_negated_caption(scene, rng, truth=True)["prompt"])
            if rng.random() < self.false_affirmative_prob:
                negatives.append(false_affirmative_caption(scene, rng)["prompt"])
            else:
                negatives.append(sample_negated_caption(scene, rng, truth=False)["prompt"])
        return positives, negatives

    def __call__(self, rows: Sequence[dict]) -> dict[str, torch.Tensor | bool]:
        positives, negatives = self.captions(rows)
        batch = encode_images_and_texts(self.processor, [row["image"] for row in rows], positives + negatives)
        return {
            "pixel_values": batch["pixel_values"],
            "input_ids": batch["input_ids"],  # (2n, T): positives, then hard negatives
            "attention_mask": batch["attention_mask"],
            "return_loss": True,
        }


__all__ = [
    "CAPTION_MODES",
    "HardNegativeCollator",
    "WorldCaptionCollator",
    "build_clip_processor",
    "encode_images_and_texts",
    "false_affirmative_caption",
    "shape_twin",
]
