"""Shapes-world rows -> CLIP training batches, shared by `train_base_clip` and `train_conclip_baseline`.

A row of `shapes_world.build_world_dataset` holds a PIL `image`, its scene `objects` and one fixed
affirmative `caption`. The collators here turn a list of rows into the keyword arguments of
`CLIPModel.forward` (`pixel_values`, `input_ids`, `attention_mask`, `return_loss=True`), so the
stock `Trainer` can feed them as they are; the raw columns are read by the collator, hence
`remove_unused_columns=False` in the training arguments.

Captions are drawn afresh for every batch from the scene's objects (a new template, object order
and wording each epoch: cheap augmentation). The draws are seeded: from `seed` in the main process,
and from `seed` and the DataLoader worker's own seed (new every epoch) in a worker process.

- `WorldCaptionCollator`: one affirmative caption per image, naming all or (optionally) some of
  its objects (base CLIP pretraining; like real CLIP it never sees negation).
- `HardNegativeCollator`: per image one positive caption (affirmative or a true negated caption)
  and one hard negative: a false negated caption that negates an object of the image, CoN-CLIP
  style (Singh et al. 2024, "Learn "No" to Say "Yes" Better"), or a false affirmative caption that
  names an absent look-alike ("a blue square" under a blue circle), the distractor NegBench pairs
  with "no blue square". `input_ids` holds the `n` positives first, then the `n` hard negatives,
  row `i` and row `n + i` belonging to image `i`.
- `QuestionCollator`: per image the decisions a negation benchmark asks, in every template of the
  world: a NegBench four-option question and Omni-NegCLIP's presence and absence pairs
  (`negation_benchmark_items.mcq_options` / `presence_absence_pairs`), what NegCLIP's polarity fit
  learns from.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections.abc import Sequence

import torch
from PIL import Image
from transformers import BatchFeature, CLIPProcessor, PreTrainedTokenizerBase
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from .caption_truth import caption_truth, mention_codes, object_codes
from .negation_benchmark_items import MCQ_TYPES, mcq_options, presence_absence_pairs
from .negation_captions import (
    AFFIRMATION,
    HYBRID,
    NEGATION,
    make_caption,
    sample_hard_absent,
    sample_negated_caption,
    templates_of,
)
from .shapes_world import Mention, Scene, affirmative_mentions, caption_of_mentions

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


# Frames of CLIP's zero-shot prompts (Radford et al., 2021, the ImageNet prompt set) and the zero-shot pipeline's
# default. A real CLIP has read such frames around its captions, and the pipeline puts every label in one; a CLIP
# trained on bare shape captions reads "This is a photo of" and a final "." as noise.
CLIP_PROMPT_TEMPLATES = (
    "a photo of {}.", "This is a photo of {}.", "a picture of {}.", "an image of {}.", "a rendering of {}.", "{}.",
)


class WorldCaptionCollator(_SeededCollator):
    """Rows -> `pixel_values` `(n, 3, S, S)`, `input_ids` / `attention_mask` `(n, T)`, `return_loss`.

    Real captions name some of what a photo shows, rarely all of it. A caption naming every object
    teaches CLIP to match whole scenes only: "a red circle" then scores low against a red circle
    with two other objects around it, so similarity says little about presence, which negation
    needs. With `partial_caption_prob`, a caption names a random non-empty part of the objects.

    Args:
        processor (`CLIPProcessor`): tokenizer + image processor.
        caption_mode (`str`, *optional*, defaults to `"fresh"`): `"fresh"` draws a new affirmative
            caption from the row's `objects` at every batch; `"fixed"` uses the row's `caption`.
        partial_caption_prob (`float`, *optional*, defaults to 0.0): share (0..1) of fresh captions
            of multi-object scenes that name a random proper subset of the objects.
        seed (`int`, *optional*, defaults to 0): seed of the fresh captions.
        prompt_template_prob (`float`, *optional*, defaults to 0.0): share (0..1) of fresh captions put in one
            of `CLIP_PROMPT_TEMPLATES`.
        with_codes (`bool`, *optional*, defaults to `False`): add `object_codes` and `mention_codes`
            (`caption_truth`), from which the loss tells which captions are true for which images.
    """

    def __init__(
        self,
        processor: CLIPProcessor,
        caption_mode: str = "fresh",
        partial_caption_prob: float = 0.0,
        seed: int = 0,
        with_codes: bool = False,
        prompt_template_prob: float = 0.0,
    ):
        if caption_mode not in CAPTION_MODES:
            raise ValueError(f"caption_mode must be one of {CAPTION_MODES}, got '{caption_mode}'")
        if not 0.0 <= partial_caption_prob <= 1.0:
            raise ValueError(f"partial_caption_prob must be in [0, 1], got {partial_caption_prob}")
        if not 0.0 <= prompt_template_prob <= 1.0:
            raise ValueError(f"prompt_template_prob must be in [0, 1], got {prompt_template_prob}")
        if caption_mode == "fixed" and (partial_caption_prob or prompt_template_prob):
            raise ValueError("partial_caption_prob and prompt_template_prob need caption_mode='fresh' (a fixed caption cannot change)")
        if caption_mode == "fixed" and with_codes:
            raise ValueError("with_codes needs caption_mode='fresh' (what a fixed caption names is not recorded)")
        super().__init__(processor, seed)
        self.caption_mode = caption_mode
        self.partial_caption_prob = partial_caption_prob
        self.prompt_template_prob = prompt_template_prob
        self.with_codes = with_codes

    def captioned_scene(self, scene: Scene, rng: random.Random) -> Scene:
        """`scene`, or with probability `partial_caption_prob` a random proper part of its objects."""
        if len(scene.objects) < 2 or rng.random() >= self.partial_caption_prob:
            return scene
        return Scene(tuple(rng.sample(scene.objects, rng.randint(1, len(scene.objects) - 1))))

    def fresh_captions(self, scenes: Sequence[Scene]) -> tuple[list[str], list[list[Mention]]]:
        """A new affirmative caption per scene (of the part `captioned_scene` keeps) and what it names."""
        rng = self.rng
        captions, mentions = [], []
        for scene in scenes:
            mentions.append(affirmative_mentions(self.captioned_scene(scene, rng), rng))
            captions.append(caption_of_mentions(mentions[-1], rng))
            if self.prompt_template_prob and rng.random() < self.prompt_template_prob:
                captions[-1] = rng.choice(CLIP_PROMPT_TEMPLATES).format(captions[-1])
        return captions, mentions

    def captions_and_mentions(self, scenes: Sequence[Scene], rows: Sequence[dict]) -> tuple[list[str], list | None]:
        """The batch's captions, and what each names (None for the dataset's fixed captions)."""
        if self.caption_mode == "fixed":
            return [row["caption"] for row in rows], None
        return self.fresh_captions(scenes)

    def captions(self, rows: Sequence[dict]) -> list[str]:
        return self.captions_and_mentions([Scene.from_dicts(row["objects"]) for row in rows], rows)[0]

    def __call__(self, rows: Sequence[dict]) -> dict[str, torch.Tensor | bool]:
        scenes = [Scene.from_dicts(row["objects"]) for row in rows]
        captions, mentions = self.captions_and_mentions(scenes, rows)
        batch = encode_images_and_texts(self.processor, [row["image"] for row in rows], captions)
        out = {
            "pixel_values": batch["pixel_values"],
            "input_ids": batch["input_ids"],
            "attention_mask": batch["attention_mask"],
            "return_loss": True,
        }
        if self.with_codes:
            out["object_codes"] = object_codes(scenes)
            out["mention_codes"] = mention_codes(mentions)
        return out


def false_affirmative_caption(scene: Scene, rng: random.Random) -> dict:
    """An affirmative caption that is false only because it names an absent look-alike
    (`sample_hard_absent`), alone or after a present object."""
    present = [Mention.of(obj) for obj in rng.sample(scene.objects, rng.randint(0, min(1, len(scene.objects))))]
    return make_caption(rng.choice(templates_of(AFFIRMATION)), [*present, sample_hard_absent(scene, rng)])


@dataclasses.dataclass(frozen=True)
class CaptionFacts:
    """A caption and what it claims: `affirmed` objects are present, `negated` ones absent."""

    prompt: str
    affirmed: tuple[Mention, ...] = ()
    negated: tuple[Mention, ...] = ()

    @classmethod
    def from_record(cls, record: dict) -> CaptionFacts:
        return cls(
            record["prompt"],
            tuple(map(Mention.from_dict, record["affirmed"])),
            tuple(map(Mention.from_dict, record["negated"])),
        )


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
        self,
        processor: CLIPProcessor,
        affirmative_prob: float = 0.5,
        seed: int = 0,
        false_affirmative_prob: float = 0.0,
    ):
        for name, value in (("affirmative_prob", affirmative_prob), ("false_affirmative_prob", false_affirmative_prob)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        super().__init__(processor, seed)
        self.affirmative_prob = affirmative_prob
        self.false_affirmative_prob = false_affirmative_prob

    def caption_facts(self, scenes: Sequence[Scene]) -> tuple[list[CaptionFacts], list[CaptionFacts]]:
        """One positive and one hard negative per scene."""
        rng = self.rng
        positives, negatives = [], []
        for scene in scenes:
            if rng.random() < self.affirmative_prob:
                mentions = tuple(affirmative_mentions(scene, rng))
                positives.append(CaptionFacts(caption_of_mentions(mentions, rng), affirmed=mentions))
            else:
                positives.append(CaptionFacts.from_record(sample_negated_caption(scene, rng, truth=True)))
            if rng.random() < self.false_affirmative_prob:
                negatives.append(CaptionFacts.from_record(false_affirmative_caption(scene, rng)))
            else:
                negatives.append(CaptionFacts.from_record(sample_negated_caption(scene, rng, truth=False)))
        return positives, negatives

    def captions(self, rows: Sequence[dict]) -> tuple[list[str], list[str]]:
        positives, negatives = self.caption_facts([Scene.from_dicts(row["objects"]) for row in rows])
        return [c.prompt for c in positives], [c.prompt for c in negatives]

    def __call__(self, rows: Sequence[dict]) -> dict[str, torch.Tensor | bool]:
        scenes = [Scene.from_dicts(row["objects"]) for row in rows]
        positives, negatives = self.caption_facts(scenes)
        captions = positives + negatives
        batch = encode_images_and_texts(self.processor, [row["image"] for row in rows], [c.prompt for c in captions])
        return {
            "pixel_values": batch["pixel_values"],
            "input_ids": batch["input_ids"],  # (2n, T): positives, then hard negatives
            "attention_mask": batch["attention_mask"],
            "return_loss": True,
        }


def all_phrasings() -> list[tuple[str, str, str]]:
    """Every (affirmation, negation, hybrid) triple of the world's templates with one negated object."""
    return list(itertools.product(templates_of(AFFIRMATION), templates_of(NEGATION, 1), templates_of(HYBRID, 1)))


class QuestionCollator(_SeededCollator):
    """Rows -> `pixel_values` `(n, 3, S, S)`, `input_ids` / `attention_mask` `(8n, T)`, and per image three
    choices, each with exactly one true caption.

    For image `i`: a NegBench question of a random type (affirmation, negation or hybrid; `mcq_options`:
    the true caption and its swap, affirm-absent and negate-present look-alikes) and Omni-NegCLIP's
    presence and absence pairs (`presence_absence_pairs`). Every choice draws its templates from all of
    the world's templates (`all_phrasings`), not only the benchmark's four phrasings.

    Rows holding `image_embeds` (computed once) give those instead of `pixel_values`.
    Rows `0..n-1` of `input_ids` are the questions' true captions (so `caption_truth` has the
    `truth_aware_loss` layout), then the other captions. Extra keys:
        caption_truth   `(n, 8n)` bool, caption `c` true for image `i`;
        choice_image    `(3n,)` long, the image of each choice;
        choice_options  `(3n, 8n)` bool, the captions each choice picks among;
        choice_target   `(3n,)` long, the column of its true caption.
    """

    def __init__(self, processor: CLIPProcessor, seed: int = 0):
        super().__init__(processor, seed)
        self.phrasings = all_phrasings()

    def choices(self, scenes: Sequence[Scene]) -> list[list[list[tuple[dict, bool]]]]:
        """Per scene its three choices, each a list of (caption record, is it the true one)."""
        rng = self.rng
        out = []
        for scene in scenes:
            question = mcq_options(scene, rng.choice(MCQ_TYPES), rng, self.phrasings)
            choices = [[(record, kind == "correct") for kind, record in question]]
            for kind, (negated, contrast) in presence_absence_pairs(scene, rng, self.phrasings):
                choices.append([(negated, kind == "absence"), (contrast, kind == "presence")])
            out.append(choices)
        return out

    def __call__(self, rows: Sequence[dict]) -> dict[str, torch.Tensor | bool]:
        scenes = [Scene.from_dicts(row["objects"]) for row in rows]
        per_scene = self.choices(scenes)
        # Column i: image i's question's true caption (the truth-aware loss's diagonal); then every other option.
        captions = [next(record for record, true in choices[0] if true) for choices in per_scene]
        choice_image, choice_columns, choice_target = [], [], []
        for i, choices in enumerate(per_scene):
            for g, choice in enumerate(choices):
                columns = []
                for record, true in choice:
                    if g == 0 and true:
                        columns.append(i)
                    else:
                        columns.append(len(captions))
                        captions.append(record)
                    if true:
                        choice_target.append(columns[-1])
                choice_image.append(i)
                choice_columns.append(columns)
        facts = [CaptionFacts.from_record(record) for record in captions]
        cached = "image_embeds" in rows[0]  # embedded once by a frozen CLIP (train_polarity_weight)
        batch = encode_images_and_texts(self.processor, None if cached else [row["image"] for row in rows], [f.prompt for f in facts])
        options = torch.zeros(len(choice_columns), len(captions), dtype=torch.bool)
        for g, columns in enumerate(choice_columns):
            options[g, columns] = True
        images = {"image_embeds": torch.tensor([row["image_embeds"] for row in rows])} if cached else {"pixel_values": batch["pixel_values"]}
        return {
            **images,
            "input_ids": batch["input_ids"],  # (8n, T): the n questions' true captions, then the rest
            "attention_mask": batch["attention_mask"],
            "return_loss": True,
            "caption_truth": caption_truth(
                mention_codes([f.affirmed for f in facts]), mention_codes([f.negated for f in facts]), object_codes(scenes)
            ),
            "choice_image": torch.tensor(choice_image),
            "choice_options": options,
            "choice_target": torch.tensor(choice_target),
        }


__all__ = [
    "CAPTION_MODES",
    "CLIP_PROMPT_TEMPLATES",
    "CaptionFacts",
    "HardNegativeCollator",
    "QuestionCollator",
    "all_phrasings",
    "WorldCaptionCollator",
    "build_clip_processor",
    "encode_images_and_texts",
    "false_affirmative_caption",
]
