"""Fit NegCLIP's polarity weight `w` and null positive (head and CLIP frozen) on images with hard negatives.

    accelerate launch -m training.train_polarity_weight --negclip_model outputs/quickstart/negation_head \\
        --world_dir outputs/quickstart/world --output_dir outputs/quickstart/negclip

Each image comes with a true caption (affirmative or negated) and a hard negative: a negated caption
that negates an object the image shows, or an affirmative one naming an absent look-alike. The loss
is image->text cross-entropy over all captions of the batch plus text->image over the true ones, on
NegCLIP's dual-polarity logits. Only `w`, the threshold `t` and the null positive (the positive
embedding of prompts like "no blue square", which negate all they name) learn: `w` and `t` push down
captions whose negated object is present, the null positive places "no X" against affirmative ones.
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


def hard_negative_loss(logits_per_image: torch.Tensor) -> torch.Tensor:
    """`logits_per_image` (n, 2n): columns 0..n-1 true captions (diagonal), n..2n-1 hard negatives."""
    n = logits_per_image.shape[0]
    if logits_per_image.shape[1] != 2 * n:
        raise ValueError(f"expected (n, 2n) logits, got {tuple(logits_per_image.shape)}")
    targets = torch.arange(n, device=logits_per_image.device)
    image_to_text = torch.nn.functional.cross_entropy(logits_per_image, targets)
    text_to_image = torch.nn.functional.cross_entropy(logits_per_image[:, :n].t(), targets)
    return (image_to_text + text_to_image) / 2


class PolarityTrainer(NegCLIPCardTrainer):
    """The stock Trainer with the hard-negative loss (the batch holds 2n captions for n images)."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = {key: value for key, value in inputs.items() if key != "return_loss"}
        outputs = model(**inputs)
        loss = hard_negative_loss(outputs.logits_per_image)
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
    num_train_epochs: float = field(default=1.0, metadata={"help": "Epochs over the images."})
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
    processor = AutoProcessor.from_pretrained(args.negclip_model)

    # 3. Images with a true caption and a hard negative each.
    train_set = load_from_disk(f"{args.world_dir}/train")
    if args.num_images:
        train_set = train_set.select(range(min(args.num_images, len(train_set))))
    collator = HardNegativeCollator(
        processor, args.affirmative_prob, seed=training_args.seed, false_affirmative_prob=args.false_affirmative_prob
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
