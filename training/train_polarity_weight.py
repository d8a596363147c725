"""Fit NegCLIP's polarity parameters (`w`, `t`, the knee's `v` and `u`, the null positive, the negated-concept
adapter) on training images, with the head and CLIP frozen.

    accelerate launch -m training.train_polarity_weight --negclip_model outputs/quickstart/negation_head \\
        --world_dir outputs/quickstart/world --output_dir outputs/quickstart/negclip
    accelerate launch -m training.train_polarity_weight --negclip_model DIR --negbench_images /data/VOCdevkit ...

With `--negbench_images` (real photos instead of the world) the fit learns from NegBench's VOC 2007 questions
of the part the benchmark does not score (`negbench_mcq.NegBenchChoiceCollator`): the choice loss alone.

Each image comes with three choices (`world_data.QuestionCollator`): a NegBench-style question, its
true caption among three look-alikes ("no blue square" against "a blue square", "a blue square but
no red circle", "no red circle"), and Omni-NegCLIP's presence and absence pairs. The loss is
  - `choice_loss`: each choice picks its true caption among its own options, the decisions negation
    is judged on; plus
  - `truth_aware_loss`, text->image: each true caption picks its image among the batch's images it
    is false for, never among those it also holds for ("no blue square" holds for most images). It
    keeps the scores comparable across images, which retrieval ranks by.
The image->text direction of the contrastive loss is left out: it pits an image's true caption
against other images' negated captions, which the negated term rewards for naming absent things, so
it held `w` small and `t` high, and false captions beat true ones in the questions (issue 4).
Only `w`, `t`, the knee (`v`, `u`), the null positive (the positive embedding of prompts like "no
blue square", which negate all they name) and the negated-concept adapter `A` (the negated part's embedding `n`
is scored as `n + A n`; a square matrix, with a learning rate of its own) learn.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from datasets import load_from_disk
from transformers import AutoProcessor, HfArgumentParser, set_seed
from transformers.utils import logging

from modeling_negclip import NegCLIPModel

from .sharing.hub import NegCLIPCardTrainer
from .negbench.negbench_mcq import NegBenchChoiceCollator, load_rgb, read_negbench_questions
from .training_arguments import CpuFallbackTrainingArguments
from .world.world_data import QuestionCollator, encode_images_and_texts

logger = logging.get_logger(__name__)


def truth_aware_loss(logits_per_image: torch.Tensor, caption_truth: torch.Tensor, image_to_text: bool = True) -> torch.Tensor:
    """CLIP's two-way contrastive loss on `n` images and their `n` true captions, with the batch's
    false captions as distractors and no caption that is true for an image counted against it.

    logits_per_image `(n, C)`, C >= n, columns 0..n-1 the images' own true captions (diagonal), the
    rest more captions (hard negatives); caption_truth `(n, C)` bool, caption `c` true for image `i`.
    image->text: image `i` picks its caption among it and the captions false for `i`; text->image:
    caption `i` picks its image among it and the images it is false for. A negated caption is true
    for most images ("no blue square"), so plain in-batch contrast would push true pairs apart.
    `image_to_text=False` keeps the text->image direction only.
    """
    n, num_captions = logits_per_image.shape
    if caption_truth.shape != logits_per_image.shape or num_captions < n:
        raise ValueError(f"logits {tuple(logits_per_image.shape)} and truth {tuple(caption_truth.shape)}: need equal (n, C >= n)")
    own = torch.eye(n, num_captions, dtype=torch.bool, device=logits_per_image.device)
    if not caption_truth[own].all():
        raise ValueError("caption_truth: every image's own caption (the diagonal) must be true")
    excluded = caption_truth.bool() & ~own  # true captions of other images: neither pushed up nor down
    logits = logits_per_image.masked_fill(excluded, float("-inf"))
    targets = torch.arange(n, device=logits.device)
    text_to_image = torch.nn.functional.cross_entropy(logits[:, :n].t(), targets)
    if not image_to_text:
        return text_to_image
    return (torch.nn.functional.cross_entropy(logits, targets) + text_to_image) / 2


def choice_loss(
    logits_per_image: torch.Tensor, choice_image: torch.Tensor, choice_options: torch.Tensor, choice_target: torch.Tensor
) -> torch.Tensor:
    """Mean cross-entropy of `G` choices: choice `g` scores the captions `choice_options[g]` against
    image `choice_image[g]`, and its true caption is column `choice_target[g]`.

    logits_per_image `(n, C)`; choice_image `(G,)`; choice_options `(G, C)` bool; choice_target `(G,)`.
    """
    num_choices, num_captions = choice_options.shape
    if logits_per_image.shape[1] != num_captions or choice_image.shape != (num_choices,) or choice_target.shape != (num_choices,):
        raise ValueError(
            f"logits {tuple(logits_per_image.shape)}, choice_image {tuple(choice_image.shape)}, choice_options "
            f"{tuple(choice_options.shape)}, choice_target {tuple(choice_target.shape)}: need (n, C), (G,), (G, C), (G,)"
        )
    rows = torch.arange(num_choices, device=choice_options.device)
    if not choice_options[rows, choice_target].all():
        raise ValueError("choice_target: every choice's true caption must be among its options")
    logits = logits_per_image[choice_image].masked_fill(~choice_options, float("-inf"))
    return torch.nn.functional.cross_entropy(logits, choice_target)


class PolarityTrainer(NegCLIPCardTrainer):
    """The stock Trainer with `choice_loss` + text->image `truth_aware_loss` on `QuestionCollator` batches, or the
    choice loss alone on `NegBenchChoiceCollator` batches (photos: no `caption_truth`)."""

    def __init__(self, *args, choice_loss_weight: float = 3.0, contrastive_image_to_text: bool = False,
                 adapter_learning_rate: float = 1e-3, **kwargs):
        super().__init__(*args, **kwargs)
        self.choice_loss_weight = choice_loss_weight
        self.contrastive_image_to_text = contrastive_image_to_text
        self.adapter_learning_rate = adapter_learning_rate

    def create_optimizer(self, model=None):
        """The stock optimizer, with the negated-concept adapter (a D x D matrix) in a group of its own: the
        scalars' learning rate would move each of its entries as far as a whole threshold."""
        optimizer = super().create_optimizer(model)
        adapter = self.model.negated_adapter
        if adapter.requires_grad and not any(group.get("negated_adapter") for group in optimizer.param_groups):
            for group in optimizer.param_groups:
                group["params"] = [p for p in group["params"] if p is not adapter]
            optimizer.add_param_group(
                {"params": [adapter], "lr": self.adapter_learning_rate, "weight_decay": 0.0, "negated_adapter": True}
            )
        return optimizer

    def training_step(self, model, inputs, num_items_in_batch=None):
        negclip = self.accelerator.unwrap_model(model)
        negclip.clip.eval()  # frozen: as at inference (no dropout in the head), and as the cached encodings are
        negclip.negation_head.eval()
        return super().training_step(model, inputs, num_items_in_batch)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = {key: value for key, value in inputs.items() if key != "return_loss"}
        caption_truth = inputs.pop("caption_truth", None)  # None: photos, whose truth across images is unknown
        choice = [inputs.pop(key) for key in ("choice_image", "choice_options", "choice_target")]
        outputs = model(**inputs)
        loss = 0.0
        if caption_truth is not None:
            loss = truth_aware_loss(outputs.logits_per_image, caption_truth, image_to_text=self.contrastive_image_to_text)
        if self.choice_loss_weight:
            loss = loss + self.choice_loss_weight * choice_loss(outputs.logits_per_image, *choice)
        return (loss, outputs) if return_outputs else loss


@dataclass
class PolarityArguments:
    negclip_model: str = field(metadata={"help": "NegCLIP checkpoint with a trained negation head."})
    world_dir: str | None = field(default=None, metadata={"help": "Folder holding the shapes-world `train` dataset (save_to_disk)."})
    negbench_images: str | None = field(
        default=None,
        metadata={"help": "Instead of --world_dir: PASCAL VOC 2007 images (VOCdevkit), fit on NegBench's train-part questions."},
    )
    num_images: int = field(default=4096, metadata={"help": "Training images (or NegBench questions) to use (0 = all)."})
    choice_loss_weight: float = field(
        default=3.0, metadata={"help": "Weight of the per-image choice loss beside the contrastive one (0 = contrastive only)."}
    )
    contrastive_image_to_text: bool = field(
        default=False, metadata={"help": "Also the image->text direction of the contrastive loss (the fit before 2026-12-01)."}
    )
    knee: bool = field(default=True, metadata={"help": "Fit the knee (v, u); false keeps v = 0: the linear term alone."})
    adapter: bool = field(
        default=True, metadata={"help": "Fit the negated-concept adapter (false sets it to 0: CLIP's own embedding of the negated part)."}
    )
    adapter_learning_rate: float = field(default=1e-3, metadata={"help": "Learning rate of the negated-concept adapter."})
    cache_frozen_embeddings: bool = field(
        default=True,
        metadata={
            "help": "Embed each image once, and each distinct caption's split once, with the frozen CLIP and head, "
            "then fit on those (same loss and result; false runs the frozen towers at every step)."
        },
    )

    def __post_init__(self):
        if self.choice_loss_weight < 0:
            raise ValueError(f"--choice_loss_weight must be >= 0, got {self.choice_loss_weight}")
        if (self.world_dir is None) == (self.negbench_images is None):
            raise ValueError("Give exactly one of --world_dir (shapes world) and --negbench_images (real photos)")
        if self.negbench_images is not None and (self.choice_loss_weight == 0 or self.contrastive_image_to_text):
            raise ValueError(
                "--negbench_images fits on NegBench's questions alone (no contrast across photos): it needs "
                "--choice_loss_weight > 0 and --contrastive_image_to_text false"
            )


@dataclass
class PolarityTrainingArguments(CpuFallbackTrainingArguments):
    learning_rate: float = field(default=0.05, metadata={"help": "Learning rate of the scalars and the null positive."})
    num_train_epochs: float = field(default=6.0, metadata={"help": "Epochs over the images (6: the adapter still gains after 2)."})
    per_device_train_batch_size: int = field(default=64, metadata={"help": "Images per device per step."})
    weight_decay: float = field(default=0.0, metadata={"help": "No decay on the polarity weight."})
    logging_steps: float = field(default=20, metadata={"help": "Log every N steps."})
    save_strategy: str = field(default="no", metadata={"help": "A fit of about a minute needs no intermediate checkpoints."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "The collator reads the raw columns."})
    ddp_find_unused_parameters: bool | None = field(default=False, metadata={"help": "Every polarity parameter gets a gradient at every step."})


@torch.no_grad()
def embed_images(model: NegCLIPModel, processor, images: Iterable, device, batch_size: int = 64) -> torch.Tensor:
    """(N, P) the frozen CLIP's image embeddings (`get_image_features`, not normalised), `batch_size` at a time."""
    model.to(device).eval()
    embeds, images = [], iter(images)
    while chunk := list(itertools.islice(images, batch_size)):
        pixels = encode_images_and_texts(processor, images=chunk)["pixel_values"].to(device, model.dtype)
        embeds.append(model.get_image_features(pixels).pooler_output.float().cpu())
    return torch.cat(embeds)


def main(argv: list[str] | None = None) -> float:
    # 1. Arguments.
    parser = HfArgumentParser((PolarityArguments, PolarityTrainingArguments))
    argv = sys.argv[1:] if argv is None else argv
    args, training_args = parser.parse_args_into_dataclasses(args=argv)
    set_seed(training_args.seed)

    # 2. The model: everything frozen but the polarity parameters (w, t, the knee, the null positive, the adapter).
    model = NegCLIPModel.from_pretrained(args.negclip_model)
    model.requires_grad_(False)
    # A knee at 0 (a checkpoint saved before it): the first steps push it below 0, where its clamp gives it no
    # gradient, so it starts where a new model's does.
    if model.negated_knee_weight.item() == 0.0:
        model.reset_knee()
    for parameter in model.polarity_parameters():
        parameter.requires_grad_(True)
    if not args.knee:
        with torch.no_grad():
            model.negated_knee_weight.zero_()
        model.negated_knee_weight.requires_grad_(False)
        model.negated_knee_threshold.requires_grad_(False)
    if not args.adapter:
        with torch.no_grad():
            model.negated_adapter.zero_()
        model.negated_adapter.requires_grad_(False)
    processor = AutoProcessor.from_pretrained(args.negclip_model, trust_remote_code=True)  # its config has auto_map

    # 3. Images with their questions: world scenes (with presence / absence pairs) or NegBench's photos; with
    # the cache, each image embedded once here by the frozen CLIP.
    device = training_args.device
    if args.negbench_images is not None:
        train_set = read_negbench_questions(args.negbench_images, "train", num_questions=args.num_images or None)
        if args.cache_frozen_embeddings:
            files = sorted({q["image_file"] for q in train_set})
            embeds = dict(zip(files, embed_images(model, processor, (load_rgb(f) for f in files), device).tolist()))
            train_set = [{**q, "image_embeds": embeds[q["image_file"]]} for q in train_set]
        collator = NegBenchChoiceCollator(processor)
    else:
        train_set = load_from_disk(f"{args.world_dir}/train")
        if args.num_images:
            train_set = train_set.select(range(min(args.num_images, len(train_set))))
        if args.cache_frozen_embeddings:
            embeds = embed_images(model, processor, (row["image"] for row in train_set), device)
            train_set = train_set.remove_columns("image").add_column("image_embeds", embeds.tolist())
        collator = QuestionCollator(processor, seed=training_args.seed)

    # 4. Fit w and save the full NegCLIP checkpoint.
    trainer = PolarityTrainer(
        model=model,
        args=training_args,
        train_dataset=train_set,
        data_collator=collator,
        processing_class=processor,
        choice_loss_weight=args.choice_loss_weight,
        contrastive_image_to_text=args.contrastive_image_to_text,
        adapter_learning_rate=args.adapter_learning_rate,
    )
    if args.cache_frozen_embeddings:
        with model.caching_frozen_text() as cache:
            train_result = trainer.train()
        logger.info("Frozen text encodings: %d distinct prompts, %d reuses", len(cache), cache.hits)
    else:
        train_result = trainer.train()
    trainer.save_metrics("train", {**train_result.metrics, "train_steps": trainer.state.global_step})
    # With --push_to_hub, saving also uploads the checkpoint with the generated model card.
    trainer.card_context = {"base_model": args.negclip_model, "polarity_fit": "negbench" if args.negbench_images else "world"}
    trainer.save_model(training_args.output_dir)
    return model.negated_weight.item()


if __name__ == "__main__":
    main()
