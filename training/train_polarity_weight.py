"""Fit NegCLIP's polarity weight `w` and null positive (head and CLIP frozen) on images with hard negatives.

    accelerate launch -m training.train_polarity_weight --negclip_model outputs/quickstart/negation_head \\
        --world_dir outputs/quickstart/world --output_dir outputs/quickstart/negclip

Each image comes with a true caption (affirmative or negated) and a hard negative: a negated caption
that negates an object the image shows, or an affirmative one naming an absent look-alike. The loss
(`truth_aware_loss`) is CLIP's two-way contrastive loss on NegCLIP's dual-polarity logits, except
that a caption true for an image (known from the scenes) is never counted against it: "no blue
square" holds for most images, and plain in-batch contrast would push those true pairs apart (it
drove `w` toward 0 the longer it trained). Only `w`, the threshold `t` and the null positive (the
positive embedding of prompts like "no blue square", which negate all they name) learn.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import torch
from datasets import load_from_disk
from transformers import AutoProcessor, HfArgumentParser, TrainingArguments, set_seed

from modeling_negclip import NegCLIPModel

from .hub import NegCLIPCardTrainer
from .world_data import HardNegativeCollator


def truth_aware_loss(logits_per_image: torch.Tensor, caption_truth: torch.Tensor) -> torch.Tensor:
    """CLIP's two-way contrastive loss on `n` images and their `n` true captions, with the batch's
    false captions as distractors and no caption that is true for an image counted against it.

    logits_per_image `(n, C)`, C >= n, columns 0..n-1 the images' own true captions (diagonal), the
    rest more captions (hard negatives); caption_truth `(n, C)` bool, caption `c` true for image `i`.
    image->text: image `i` picks its caption among it and the captions false for `i`; text->image:
    caption `i` picks its image among it and the images it is false for. A negated caption is true
    for most images ("no blue square"), so plain in-batch contrast would push true pairs apart.
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
    image_to_text = torch.nn.functional.cross_entropy(logits, targets)
    text_to_image = torch.nn.functional.cross_entropy(logits[:, :n].t(), targets)
    return (image_to_text + text_to_image) / 2


class PolarityTrainer(NegCLIPCardTrainer):
    """The stock Trainer with the truth-aware loss (the batch holds 2n captions for n images)."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = {key: value for key, value in inputs.items() if key != "return_loss"}
        caption_truth = inputs.pop("caption_truth")
        outputs = model(**inputs)
        loss = truth_aware_loss(outputs.logits_per_image, caption_truth)
        return (loss, outputs) if return_outputs else loss


@dataclass
class PolarityArguments:
    negclip_model: str = field(metadata={"help": "NegCLIP checkpoint with a trained negation head."})
    world_dir: str = field(metadata={"help": "Folder holding the shapes-world `train` dataset (save_to_disk)."})
    num_images: int = field(default=4096, metadata={"help": "Training images to use (0 = all)."})
    affirmative_prob: float = field(default=0.3, metadata={"help": "Share of affirmative true captions."})
    false_affirmative_prob: float = field(
        default=0.5, metadata={"help": "Share of hard negatives that are affirmative captions naming an absent look-alike."}
    )

    def __post_init__(self):
        for name in ("affirmative_prob", "false_affirmative_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"--{name} must be in [0, 1], got {getattr(self, name)}")


@dataclass
class PolarityTrainingArguments(TrainingArguments):
    learning_rate: float = field(default=0.05, metadata={"help": "Learning rate of the single weight."})
    num_train_epochs: float = field(default=2.0, metadata={"help": "Epochs over the images (the fit settles in about 2)."})
    per_device_train_batch_size: int = field(default=64, metadata={"help": "Images per device per step."})
    weight_decay: float = field(default=0.0, metadata={"help": "No decay on the polarity weight."})
    logging_steps: float = field(default=20, metadata={"help": "Log every N steps."})
    save_strategy: str = field(default="no", metadata={"help": "A one-parameter fit needs no checkpoints."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "The collator reads the raw columns."})
    ddp_find_unused_parameters: bool | None = field(default=False, metadata={"help": "w, t and the null positive always get a gradient."})


def main(argv: list[str] | None = None) -> float:
    # 1. Arguments.
    parser = HfArgumentParser((PolarityArguments, PolarityTrainingArguments))
    argv = sys.argv[1:] if argv is None else argv
    args, training_args = parser.parse_args_into_dataclasses(args=argv)
    set_seed(training_args.seed)

    # 2. The model: everything frozen but the polarity weight, its threshold and the null positive.
    model = NegCLIPModel.from_pretrained(args.negclip_model)
    model.requires_grad_(False)
    model.negated_weight.requires_grad_(True)
    model.null_positive_embeds.requires_grad_(True)
    model.negated_threshold.requires_grad_(True)
    processor = AutoProcessor.from_pretrained(args.negclip_model, trust_remote_code=True)  # its config has auto_map

    # 3. Images with a true caption and a hard negative each.
    train_set = load_from_disk(f"{args.world_dir}/train")
    if args.num_images:
        train_set = train_set.select(range(min(args.num_images, len(train_set))))
    collator = HardNegativeCollator(
        processor,
        args.affirmative_prob,
        seed=training_args.seed,
        false_affirmative_prob=args.false_affirmative_prob,
        with_truth=True,
    )

    # 4. Fit w and save the full NegCLIP checkpoint.
    trainer = PolarityTrainer(
        model=model, args=training_args, train_dataset=train_set, data_collator=collator, processing_class=processor
    )
    trainer.train()
    # With --push_to_hub, saving also uploads the checkpoint with the generated model card.
    trainer.card_context = {"base_model": args.negclip_model}
    trainer.save_model(training_args.output_dir)
    return model.negated_weight.item()


if __name__ == "__main__":
    main()
