"""CoN-CLIP-style baseline: fine-tune a CLIP's text encoder with negated hard-negative captions.

Related work NegCLIP is compared against (Singh et al. 2024, "Learn "No" to Say "Yes" Better:
Improving Vision-Language Models via Negations", CoN-CLIP): the image encoder stays frozen and the
text encoder learns from a contrastive loss in which every image of the batch also brings a HARD
NEGATIVE caption, a false negated caption of that image ("no red circle" under a red circle). The
positives mix affirmative captions and true negated captions ("a red circle but no square").

Loss (`conclip_loss`), over the GLOBAL batch of N images (embeddings gathered from every process):
image -> text cross-entropy over the N positives and the N hard negatives, `(N, 2N)` logits, plus
text -> image cross-entropy of the positives, `(N, N)`; the mean of the two.

The output directory is a standard `CLIPModel` checkpoint with the base's processor, and
`training_cost.json` (trainable parameters, seconds, steps) for the cost comparison.

    python -m training.train_conclip_baseline --base_model_dir outputs/base_clip --output_dir outputs/conclip
    accelerate launch -m training.train_conclip_baseline ...   # or torchrun --nproc_per_node 2 -m ...
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F
from transformers import AutoProcessor, CLIPModel, set_seed

from .contrastive import gather_features
from .world.shapes_world import build_world_dataset, world_image_size
from .train_base_clip import (
    ClipTrainingArguments,
    GlobalBatchClipTrainer,
    WorldDataArguments,
    decoded_rows,
    evaluate_world,
    parse_args,
)
from .world.world_data import HardNegativeCollator

logger = logging.getLogger(__name__)

COST_FILE_NAME = "training_cost.json"


@dataclass
class ConclipModelArguments:
    """The base CLIP to fine-tune and what of it is trained."""

    base_model_dir: str = field(
        default="outputs/base_clip",
        metadata={"help": "A CLIPModel checkpoint with its processor (train_base_clip's output)."},
    )
    train_logit_scale: bool = field(
        default=False, metadata={"help": "Also train the temperature (CoN-CLIP trains the text encoder only)."}
    )

    def __post_init__(self):
        if not os.path.isdir(self.base_model_dir):
            raise ValueError(f"base_model_dir '{self.base_model_dir}' is not a directory")


@dataclass
class ConclipDataArguments(WorldDataArguments):
    """Training scenes, the caption mix, and the held-out check."""

    num_train_scenes: int = field(default=8000, metadata={"help": "Number of training scenes (rendered once)."})
    affirmative_prob: float = field(
        default=0.5, metadata={"help": "Share of affirmative positives; the rest are true negated captions."}
    )
    false_affirmative_prob: float = field(
        default=0.0,
        metadata={"help": "Share of hard negatives that are false affirmatives naming an absent look-alike "
                          "(\"a red square\" beside a red circle); the rest negate a present object."},
    )
    evaluate_base: bool = field(
        default=True, metadata={"help": "Also run the held-out check on the base model, before training."}
    )

    def __post_init__(self):
        super().__post_init__()
        for name in ("affirmative_prob", "false_affirmative_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


@dataclass
class ConclipTrainingArguments(ClipTrainingArguments):
    """Defaults for a ~2 minute fine-tune of the text encoder on a 2-core CPU."""

    output_dir: str | None = field(default="outputs/conclip", metadata={"help": "Where the checkpoint goes."})
    per_device_train_batch_size: int = field(
        default=128, metadata={"help": "Images per process and step (each brings 2 captions)."}
    )
    learning_rate: float = field(default=3e-4, metadata={"help": "Peak AdamW learning rate."})
    num_train_epochs: float = field(default=3.0, metadata={"help": "Passes over the training scenes."})


def conclip_loss(
    image_embeds: torch.Tensor,
    text_embeds: torch.Tensor,
    negative_text_embeds: torch.Tensor,
    logit_scale: torch.Tensor | float,
) -> torch.Tensor:
    """CoN-CLIP's contrastive loss with hard negatives.

    Args:
        image_embeds (`torch.Tensor` of shape `(N, D)`): L2-normalised image embeddings.
        text_embeds (`torch.Tensor` of shape `(N, D)`): L2-normalised positives, row `i` true for image `i`.
        negative_text_embeds (`torch.Tensor` of shape `(M, D)`): L2-normalised hard negatives (any `M`).
        logit_scale (`torch.Tensor` or `float`): the exponentiated temperature.

    Returns:
        `torch.Tensor`, scalar: mean of image -> text cross-entropy over `[positives; negatives]`
        (`(N, N + M)` logits) and text -> image cross-entropy of the positives (`(N, N)` logits).
        With `M = 0` it is CLIP's loss.
    """
    labels = torch.arange(image_embeds.shape[0], device=image_embeds.device)
    all_text_embeds = torch.cat([text_embeds, negative_text_embeds], dim=0)  # (N + M, D)
    logits_per_image = logit_scale * image_embeds @ all_text_embeds.T  # (N, N + M)
    logits_per_text = logit_scale * text_embeds @ image_embeds.T  # (N, N)
    return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2


class HardNegativeClipTrainer(GlobalBatchClipTrainer):
    """`GlobalBatchClipTrainer` for `HardNegativeCollator` batches: `input_ids` holds the local
    positives, then as many hard negatives; all three embedding sets are gathered, in rank order."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = {name: value for name, value in inputs.items() if name != "return_loss"}
        outputs = model(**inputs, return_loss=False)  # (n, D) images, (2n, D) texts
        n = outputs.image_embeds.shape[0]
        image_embeds, text_embeds, negative_text_embeds = gather_features(
            outputs.image_embeds, outputs.text_embeds[:n], outputs.text_embeds[n:]
        )  # (N, D) each
        loss = conclip_loss(image_embeds, text_embeds, negative_text_embeds, self.logit_scale(model))
        return (loss, outputs) if return_outputs else loss


def freeze_all_but_text(model: CLIPModel, train_logit_scale: bool = False) -> int:
    """Freeze the vision tower and its projection (and the temperature unless asked); returns the
    number of trainable parameters (text transformer + text projection)."""
    model.vision_model.requires_grad_(False)
    model.visual_projection.requires_grad_(False)
    model.logit_scale.requires_grad_(train_logit_scale)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def main(argv: Sequence[str] | None = None, callbacks: list | None = None) -> dict[str, float]:
    """Run the fine-tune; `callbacks` (`TrainerCallback`s) go to the Trainer, e.g. the time-to-target benchmark's."""
    # 1. Arguments, logging, seed.
    model_args, data_args, training_args = parse_args(
        argv, (ConclipModelArguments, ConclipDataArguments, ConclipTrainingArguments)
    )
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        level=logging.INFO if training_args.should_log else logging.WARNING,
        force=True,
    )
    set_seed(training_args.seed)

    # 2. The base CLIP and its processor; only the text encoder trains.
    model = CLIPModel.from_pretrained(model_args.base_model_dir)
    processor = AutoProcessor.from_pretrained(model_args.base_model_dir)
    trainable = freeze_all_but_text(model, model_args.train_logit_scale)
    logger.info("Trainable parameters: %d of %d", trainable, model.num_parameters())
    metrics: dict[str, float] = {}
    is_main = training_args.process_index == 0
    if is_main and data_args.evaluate_base and (data_args.num_eval_scenes or data_args.num_zero_shot_images):
        base_metrics = evaluate_world(
            model, processor, data_args.num_eval_scenes, data_args.num_zero_shot_images, data_args.eval_seed
        )
        metrics.update({f"base_{name}": value for name, value in base_metrics.items()})

    # 3. Training scenes (decoded once, as for the base), captions drawn per batch: positives, then hard negatives.
    image_size = world_image_size(model.config.vision_config.image_size)
    train_dataset = decoded_rows(build_world_dataset(data_args.num_train_scenes, data_args.train_seed, image_size))
    collator = HardNegativeCollator(
        processor,
        affirmative_prob=data_args.affirmative_prob,
        seed=training_args.seed,
        false_affirmative_prob=data_args.false_affirmative_prob,
    )

    # 4. Train on the global batch.
    trainer = HardNegativeClipTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        data_collator=collator,
        processing_class=processor,
        callbacks=callbacks,
    )
    start = time.perf_counter()
    train_result = trainer.train()
    seconds = time.perf_counter() - start
    trainer.log_metrics("train", train_result.metrics)
    trainer.save_metrics("train", {**train_result.metrics, "train_steps": trainer.state.global_step})
    metrics.update(train_result.metrics)

    # 5. Save a standard CLIP checkpoint with its processor, and the training cost.
    trainer.save_model(training_args.output_dir)
    cost = {"trainable_parameters": trainable, "seconds": round(seconds, 2), "steps": trainer.state.global_step}
    if trainer.is_world_process_zero():
        with open(os.path.join(training_args.output_dir, COST_FILE_NAME), "w") as file:
            json.dump(cost, file, indent=2)
    logger.info("Training cost: %s", cost)

    # 6. Quick held-out check (main process only), next to the base model's.
    if trainer.is_world_process_zero() and (data_args.num_eval_scenes or data_args.num_zero_shot_images):
        eval_metrics = evaluate_world(
            trainer.model, processor, data_args.num_eval_scenes, data_args.num_zero_shot_images, data_args.eval_seed
        )
        eval_metrics.update({name: value for name, value in metrics.items() if name.startswith("base_")})
        trainer.log_metrics("eval", eval_metrics)
        trainer.save_metrics("eval", eval_metrics)
        metrics.update(eval_metrics)
    return metrics


if __name__ == "__main__":
    main()
