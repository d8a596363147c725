"""Train a small CLIP from scratch on the shapes world: the base model NegCLIP plugs into.

A standard `CLIPModel` (OpenAI's 49,408-token BPE vocabulary, 77 positions, small widths) learns
from affirmative captions only, as real CLIP did (Radford et al. 2021): it never sees negation.
The stock `Trainer` runs it; `compute_loss` is overridden only to score each image against the
captions of the GLOBAL batch (`contrastive.ClipLoss`, embeddings gathered from every process with
gradients), since `CLIPModel`'s own loss only sees the local batch, and to leave out of that loss
the pairs where a caption is true for another image ("a red circle" under every red circle:
`--skip_false_negatives`, `caption_truth`). The output directory is a plain CLIP checkpoint
(`model.safetensors`, `config.json`) with its processor (tokenizer + image processor):
`CLIPModel.from_pretrained(dir)` and `AutoProcessor.from_pretrained(dir)` load it as they would
`openai/clip-vit-base-patch32`. A quick held-out check ends the run (`evaluate_world`).

    python -m training.train_base_clip --output_dir outputs/base_clip
    python -m training.train_base_clip args.json                      # the same arguments as JSON
    accelerate launch -m training.train_base_clip --output_dir outputs/base_clip
    torchrun --nproc_per_node 2 -m training.train_base_clip ...       # 2 CPU processes (gloo)

References: transformers `examples/pytorch/contrastive-image-text/run_clip.py` (argument
dataclasses, numbered `main`); open_clip's training loop (global-batch loss, AdamW with beta2 0.98,
eps 1e-6, weight decay 0.1, warmup then cosine).
"""

from __future__ import annotations

import logging
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F
from transformers import CLIPConfig, CLIPModel, CLIPProcessor, HfArgumentParser, Trainer, set_seed

from .world.caption_truth import affirmative_truth
from .text.clip_tokenizer import CLIP_MAX_LENGTH, load_clip_tokenizer
from .contrastive import ClipLoss
from .world.negation_captions import sample_negated_caption
from .world.shapes_world import (
    COLOURS,
    DEFAULT_EVAL_SEED,
    DEFAULT_IMAGE_SIZE,
    DEFAULT_TRAIN_SEED,
    MAX_IMAGE_SIZE,
    MIN_IMAGE_SIZE,
    SHAPES,
    build_world_dataset,
    scenes_from_dataset,
    with_article,
    world_image_size,
)
from .training_arguments import CpuFallbackTrainingArguments
from .world.world_data import CAPTION_MODES, WorldCaptionCollator, build_clip_processor, encode_images_and_texts

logger = logging.getLogger(__name__)

MAX_LOGIT_SCALE = 100.0  # CLIP clamps the learned temperature at 100
# A 16 px patch covers 2 x 2 cells of the world's grid: 9 patches at 48 px. Against 8 px patches (36) an
# epoch takes about 60% of the time, and in the same wall time the base learned presence better (more epochs).
BASE_PATCH_SIZE = 16


@dataclass
class ModelArguments:
    """Widths of the CLIP built from scratch (vocabulary and positions are CLIP's own)."""

    text_hidden_size: int = field(default=128, metadata={"help": "Width of the text transformer."})
    text_intermediate_size: int | None = field(
        default=None, metadata={"help": "MLP width of the text transformer (default: 4 x text_hidden_size)."}
    )
    text_num_layers: int = field(default=4, metadata={"help": "Number of text transformer layers."})
    text_num_heads: int = field(default=4, metadata={"help": "Attention heads of the text transformer."})
    vision_hidden_size: int = field(default=128, metadata={"help": "Width of the vision transformer."})
    vision_intermediate_size: int | None = field(
        default=None, metadata={"help": "MLP width of the vision transformer (default: 4 x vision_hidden_size)."}
    )
    vision_num_layers: int = field(default=4, metadata={"help": "Number of vision transformer layers."})
    vision_num_heads: int = field(default=4, metadata={"help": "Attention heads of the vision transformer."})
    image_size: int = field(
        default=DEFAULT_IMAGE_SIZE,
        metadata={"help": f"Side of the rendered images and of the model input ({MIN_IMAGE_SIZE}..{MAX_IMAGE_SIZE})."},
    )
    patch_size: int = field(
        default=BASE_PATCH_SIZE,
        metadata={"help": "ViT patch side; must divide image_size (16: 2 x 2 grid cells, 10 tokens at 48 px)."},
    )
    projection_dim: int = field(default=128, metadata={"help": "Width of the shared image-text embedding."})
    logit_scale_init_value: float = field(
        default=2.6592, metadata={"help": "Initial log temperature (CLIP's log(1 / 0.07))."}
    )

    def __post_init__(self):
        for name in ("text_hidden_size", "text_num_layers", "text_num_heads", "vision_hidden_size",
                     "vision_num_layers", "vision_num_heads", "patch_size", "projection_dim"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.text_hidden_size % self.text_num_heads:
            raise ValueError(
                f"text_hidden_size {self.text_hidden_size} is not divisible by text_num_heads {self.text_num_heads}"
            )
        if self.vision_hidden_size % self.vision_num_heads:
            raise ValueError(
                f"vision_hidden_size {self.vision_hidden_size} "
                f"is not divisible by vision_num_heads {self.vision_num_heads}"
            )
        if not MIN_IMAGE_SIZE <= self.image_size <= MAX_IMAGE_SIZE:
            raise ValueError(f"image_size must be in {MIN_IMAGE_SIZE}..{MAX_IMAGE_SIZE}, got {self.image_size}")
        if self.image_size % self.patch_size:
            raise ValueError(f"patch_size {self.patch_size} does not divide image_size {self.image_size}")
        self.text_intermediate_size = self.text_intermediate_size or 4 * self.text_hidden_size
        self.vision_intermediate_size = self.vision_intermediate_size or 4 * self.vision_hidden_size


@dataclass
class WorldDataArguments:
    """Shapes-world training scenes and the held-out check, shared by this script and the CoN-CLIP baseline."""

    num_train_scenes: int = field(default=16000, metadata={"help": "Number of training scenes (rendered once)."})
    train_seed: int = field(default=DEFAULT_TRAIN_SEED, metadata={"help": "World seed of the training scenes."})
    eval_seed: int = field(default=DEFAULT_EVAL_SEED, metadata={"help": "World seed of the held-out scenes."})
    num_eval_scenes: int = field(
        default=500, metadata={"help": "Held-out scenes for retrieval R@1 and negation pairs (0 skips the check)."}
    )
    num_zero_shot_images: int = field(
        default=360, metadata={"help": "Held-out one-object images for 36-class zero-shot accuracy (0 skips it)."}
    )

    def __post_init__(self):
        if self.num_train_scenes < 1:
            raise ValueError(f"num_train_scenes must be >= 1, got {self.num_train_scenes}")
        if self.num_eval_scenes < 0 or self.num_zero_shot_images < 0:
            raise ValueError("num_eval_scenes and num_zero_shot_images must be >= 0")


@dataclass
class DataArguments(WorldDataArguments):
    """The shapes-world training set, its captions, and the held-out check."""

    caption_mode: str = field(
        default="fresh",
        metadata={"help": "'fresh': a new affirmative caption per scene at every batch; 'fixed': the dataset's one."},
    )
    partial_caption_prob: float = field(
        default=0.75,
        metadata={
            "help": "Share of fresh captions of multi-object scenes that name only some of the objects, as real "
            "captions do; CLIP then scores an object that is present high, whatever else the image shows, and "
            "learns which colour goes with which shape (docs/experiments.md: 0.5 against 0.75 and 0.9)."
        },
    )
    prompt_template_prob: float = field(
        default=0.1,
        metadata={
            "help": "Share of fresh captions put in a CLIP prompt frame (\"a photo of {}.\", \"This is a photo of {}.\", ...), "
            "as a real CLIP has read them: the zero-shot pipeline puts every label in one."
        },
    )
    skip_false_negatives: bool = field(
        default=True,
        metadata={
            "help": "Do not count a caption against another image of the global batch that it is also true for "
            "(\"a red circle\" under any red circle); plain in-batch contrast would teach that what is there is not."
        },
    )
    tokenizer_cache_dir: str | None = field(
        default=None,
        metadata={"help": "Where the offline CLIP tokenizer is built and cached (default ~/.cache/negclip)."},
    )

    def __post_init__(self):
        super().__post_init__()
        if self.caption_mode not in CAPTION_MODES:
            raise ValueError(f"caption_mode must be one of {CAPTION_MODES}, got '{self.caption_mode}'")
        if not 0.0 <= self.partial_caption_prob <= 1.0:
            raise ValueError(f"partial_caption_prob must be in [0, 1], got {self.partial_caption_prob}")
        if not 0.0 <= self.prompt_template_prob <= 1.0:
            raise ValueError(f"prompt_template_prob must be in [0, 1], got {self.prompt_template_prob}")
        if self.caption_mode == "fixed" and (self.partial_caption_prob or self.prompt_template_prob or self.skip_false_negatives):
            raise ValueError(
                "--caption_mode fixed keeps each scene's one caption; pass --partial_caption_prob 0 "
                "--prompt_template_prob 0 --skip_false_negatives false with it"
            )


@dataclass
class ClipTrainingArguments(CpuFallbackTrainingArguments):
    """`TrainingArguments` with defaults for contrastive training on a CPU, checked for this script."""

    output_dir: str | None = field(default="outputs/base_clip", metadata={"help": "Where the checkpoint goes."})
    per_device_train_batch_size: int = field(default=128, metadata={"help": "Scenes per process and step."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Peak AdamW learning rate."})
    num_train_epochs: float = field(default=3.0, metadata={"help": "Passes over the training scenes."})
    warmup_steps: float = field(default=0.1, metadata={"help": "Warmup steps (int) or share of all steps (< 1)."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "Learning-rate schedule after warmup."})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW weight decay (not on biases and norms)."})
    adam_beta2: float = field(default=0.98, metadata={"help": "AdamW beta2 (CLIP's 0.98)."})
    adam_epsilon: float = field(default=1e-6, metadata={"help": "AdamW epsilon (CLIP's 1e-6)."})
    logging_steps: float = field(default=10, metadata={"help": "Log the loss every N steps."})
    save_strategy: str = field(
        default="no", metadata={"help": "Intermediate checkpoints; the final model is always saved to output_dir."}
    )
    dataloader_drop_last: bool = field(
        default=True, metadata={"help": "Drop the last uneven batch (every process must gather equal shapes)."}
    )
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Must stay False: the collator reads the raw image and objects columns."}
    )
    ddp_find_unused_parameters: bool | None = field(
        default=False, metadata={"help": "Every trainable parameter gets a gradient, so DDP need not search."}
    )

    def __post_init__(self):
        if self.remove_unused_columns:
            raise ValueError("remove_unused_columns must be False: the collator needs the raw dataset columns")
        if self.per_device_train_batch_size < 2:
            raise ValueError("A contrastive batch needs per_device_train_batch_size >= 2")
        super().__post_init__()


def parse_args(
    argv: Sequence[str] | None,
    argument_classes: tuple[type, ...] = (ModelArguments, DataArguments, ClipTrainingArguments),
) -> tuple:
    """Parse command-line flags, or a single `.json` file holding the same names, into the dataclasses."""
    parser = HfArgumentParser(argument_classes)
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(json_file=os.path.abspath(argv[0]))
    return parser.parse_args_into_dataclasses(args=argv)


def build_clip_config(model_args: ModelArguments, tokenizer) -> CLIPConfig:
    """A small `CLIPConfig` on CLIP's own vocabulary, positions and special-token ids."""
    text_config = {
        "vocab_size": len(tokenizer),
        "max_position_embeddings": CLIP_MAX_LENGTH,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "hidden_size": model_args.text_hidden_size,
        "intermediate_size": model_args.text_intermediate_size,
        "num_hidden_layers": model_args.text_num_layers,
        "num_attention_heads": model_args.text_num_heads,
    }
    vision_config = {
        "image_size": model_args.image_size,
        "patch_size": model_args.patch_size,
        "hidden_size": model_args.vision_hidden_size,
        "intermediate_size": model_args.vision_intermediate_size,
        "num_hidden_layers": model_args.vision_num_layers,
        "num_attention_heads": model_args.vision_num_heads,
    }
    return CLIPConfig(
        text_config=text_config,
        vision_config=vision_config,
        projection_dim=model_args.projection_dim,
        logit_scale_init_value=model_args.logit_scale_init_value,
    )


def decoded_rows(dataset) -> list[dict]:
    """The dataset's rows with their images decoded once, for the Trainer to index, rather than a batch's PNG
    bytes decoded at every step (same rows, order and pixels; the main job's base stage)."""
    return [dataset[index] for index in range(len(dataset))]


class GlobalBatchClipTrainer(Trainer):
    """The stock `Trainer`, scoring each image against the captions of the global batch.

    With the collator's `mention_codes` / `object_codes`, a caption true for another image of the
    global batch ("a red circle" under every red circle) is not counted against it.
    The model still runs through the (possibly DDP-wrapped) `model(...)` call, so gradients are
    synchronised as usual; only the loss is computed here, from the normalised embeddings.
    """

    loss_is_scaled_for_ga = False  # compute_loss returns a per-batch mean: let the Trainer divide it

    def __init__(self, *args, clip_loss: ClipLoss | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.clip_loss = ClipLoss() if clip_loss is None else clip_loss

    def logit_scale(self, model) -> torch.Tensor:
        return self.accelerator.unwrap_model(model).logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)

    def global_caption_truth(self, inputs: dict) -> torch.Tensor | None:
        """`(N, N)` truth of every caption of the global batch for every image (`caption_truth`), from the
        collator's codes gathered from all processes; None when the batch holds no codes."""
        codes = [inputs.pop(name, None) for name in ("mention_codes", "object_codes")]
        if codes[0] is None or codes[1] is None:
            return None
        mentions, objects = (self.accelerator.gather(code) for code in codes)
        return affirmative_truth(mentions, objects)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = {name: value for name, value in inputs.items() if name != "return_loss"}
        caption_truth = self.global_caption_truth(inputs)
        outputs = model(**inputs, return_loss=False)  # CLIP's own loss is per process: not computed
        loss = self.clip_loss(outputs.image_embeds, outputs.text_embeds, self.logit_scale(model), caption_truth)
        return (loss, outputs) if return_outputs else loss


# ---------------------------------------------------------------------------------------------
# Quick held-out check
# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def _embed(model: CLIPModel, processor: CLIPProcessor, images=None, texts=None, batch_size: int = 256) -> torch.Tensor:
    """L2-normalised projected embeddings of `images` or `texts`, `(n, projection_dim)`."""
    items = images if images is not None else texts
    device = model.device
    chunks = []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        if images is not None:
            batch = encode_images_and_texts(processor, images=chunk)
            features = model.get_image_features(pixel_values=batch["pixel_values"].to(device))
        else:
            batch = encode_images_and_texts(processor, texts=chunk)
            features = model.get_text_features(
                input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)
            )
        chunks.append(F.normalize(features.pooler_output.float(), dim=-1))
    return torch.cat(chunks).cpu()


def zero_shot_prompts() -> tuple[list[str], list[tuple[str, str]]]:
    """The 36 "a photo of a red circle" prompts and their (colour, shape) classes."""
    classes = [(colour, shape) for colour in COLOURS for shape in SHAPES]
    return [f"a photo of {with_article(f'{colour} {shape}')}" for colour, shape in classes], classes


def evaluate_world(
    model: CLIPModel,
    processor: CLIPProcessor,
    num_scenes: int = 500,
    num_zero_shot_images: int = 360,
    seed: int = DEFAULT_EVAL_SEED,
    image_size: int | None = None,
) -> dict[str, float]:
    """Held-out checks on scenes of world seed `seed` (use one the model was not trained on).

    - `zero_shot_accuracy`: one-object images classified among the 36 colour + shape prompts
      (chance 1/36).
    - `text_to_image_r1` / `image_to_text_r1`: retrieval among `num_scenes` scenes (1 to 3 objects)
      and their affirmative captions (chance 1/num_scenes).
    - `negation_pair_accuracy`: how often an image scores a true negated caption above a false one
      that negates one of its objects (chance 0.5; a bag-of-words model does worse).
    """
    image_size = image_size or world_image_size(processor.image_processor.crop_size["height"])
    was_training = model.training
    model.eval()
    metrics: dict[str, float] = {}
    if num_zero_shot_images:
        singles = build_world_dataset(num_zero_shot_images, seed, image_size, max_objects=1)
        prompts, classes = zero_shot_prompts()
        image_embeds = _embed(model, processor, images=singles["image"][:])
        text_embeds = _embed(model, processor, texts=prompts)
        predicted = (image_embeds @ text_embeds.T).argmax(dim=-1)
        truth = torch.tensor([classes.index((o[0]["colour"], o[0]["shape"])) for o in singles["objects"]])
        metrics["zero_shot_accuracy"] = (predicted == truth).float().mean().item()
    if num_scenes:
        scenes_data = build_world_dataset(num_scenes, seed, image_size)
        image_embeds = _embed(model, processor, images=scenes_data["image"][:])
        text_embeds = _embed(model, processor, texts=scenes_data["caption"][:])
        similarity = text_embeds @ image_embeds.T  # (texts, images)
        target = torch.arange(num_scenes)
        metrics["text_to_image_r1"] = (similarity.argmax(dim=1) == target).float().mean().item()
        metrics["image_to_text_r1"] = (similarity.argmax(dim=0) == target).float().mean().item()
        rng = random.Random(f"negation-pairs:{seed}")
        scenes = scenes_from_dataset(scenes_data)
        true_texts = [sample_negated_caption(scene, rng, truth=True)["prompt"] for scene in scenes]
        false_texts = [sample_negated_caption(scene, rng, truth=False)["prompt"] for scene in scenes]
        true_embeds = _embed(model, processor, texts=true_texts)
        false_embeds = _embed(model, processor, texts=false_texts)
        margin = (image_embeds * true_embeds).sum(-1) - (image_embeds * false_embeds).sum(-1)
        metrics["negation_pair_accuracy"] = (margin > 0).float().mean().item()
    model.train(was_training)
    return metrics


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    # 1. Arguments, logging, seed.
    model_args, data_args, training_args = parse_args(argv)
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        level=logging.INFO if training_args.should_log else logging.WARNING,
        force=True,
    )
    logger.info("Processes: %d, device: %s", training_args.world_size, training_args.device)
    set_seed(training_args.seed)

    # 2. Tokenizer (OpenAI CLIP's BPE, built offline) and processor.
    tokenizer = load_clip_tokenizer(cache_dir=data_args.tokenizer_cache_dir)
    processor = build_clip_processor(tokenizer, model_args.image_size)

    # 3. Training scenes (rendered once; captions drawn per batch by the collator).
    start = time.perf_counter()
    train_dataset = decoded_rows(
        build_world_dataset(data_args.num_train_scenes, data_args.train_seed, model_args.image_size)
    )
    collator = WorldCaptionCollator(
        processor,
        caption_mode=data_args.caption_mode,
        partial_caption_prob=data_args.partial_caption_prob,
        prompt_template_prob=data_args.prompt_template_prob,
        seed=training_args.seed,
        with_codes=data_args.skip_false_negatives,
    )
    logger.info("Rendered %d training scenes in %.1f s", len(train_dataset), time.perf_counter() - start)

    # 4. A small CLIP from scratch.
    model = CLIPModel(build_clip_config(model_args, tokenizer))
    logger.info("CLIPModel with %.2f M parameters", model.num_parameters() / 1e6)

    # 5. Train on the global batch.
    trainer = GlobalBatchClipTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        data_collator=collator,
        processing_class=processor,
    )
    train_result = trainer.train()
    trainer.log_metrics("train", train_result.metrics)
    trainer.save_metrics("train", {**train_result.metrics, "train_steps": trainer.state.global_step})

    # 6. Save a standard CLIP checkpoint with its processor.
    trainer.save_model(training_args.output_dir)

    # 7. Quick held-out check (main process only).
    metrics: dict[str, float] = dict(train_result.metrics)
    if trainer.is_world_process_zero() and (data_args.num_eval_scenes or data_args.num_zero_shot_images):
        start = time.perf_counter()
        eval_metrics = evaluate_world(
            trainer.model, processor, data_args.num_eval_scenes, data_args.num_zero_shot_images, data_args.eval_seed
        )
        eval_metrics["eval_seconds"] = time.perf_counter() - start
        trainer.log_metrics("eval", eval_metrics)
        trainer.save_metrics("eval", eval_metrics)
        metrics.update(eval_metrics)
    return metrics


if __name__ == "__main__":
    main()
