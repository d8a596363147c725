"""Train NegCLIP's negation head on a frozen CLIP with the stock HF Trainer.

    accelerate launch -m training.train_negation_head --clip_model outputs/quickstart/base_clip \\
        --output_dir outputs/negation_head

The checkpoint's head reads only prompts holding a negation cue word (`--negation_cue_gate`, on by default; the
others are tagged affirmed and score as CLIP). It trains on every prompt (docs/experiments.md, the cue gate).
`--clip_model` is any CLIPModel checkpoint (a local dir, or `openai/clip-vit-base-patch32` online).
Only the head trains; the saved folder is a NegCLIP checkpoint (remote code, safetensors, processor)
that loads with `AutoModel.from_pretrained(dir, trust_remote_code=True)`. After training, the head
and the regex baseline are evaluated on the same held-out data (`evaluate_negation_head`).

The default recipe (5 epochs at 2e-3, batch 128; the main job: 3 epochs, 8,000 synthetic prompts) trains on
synthetic prompts whose slots take a word of CLIP's long tail 30% of the time (`--open_vocabulary_rate`), negations
composed into human captions (`--num_composed`: the real caption's length, words and clauses, with coordinated lists
and nominal cues), NegBench's VOC (partial labels), MSR-VTT and synthetic captions (`--num_negbench_synthetic`),
CD-SCO's and SFU Review's training parts mapped to the prompt convention (`--cdsco_scope first_phrase`: a scope
ends where the phrase after its cue does, `--use_sfu`) and, for a
shapes-world CLIP, world captions. Every real set is read from `--data_dir` (default `../shared/data`) and left out
where absent; their evaluation parts are never trained on.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from transformers import AutoProcessor, HfArgumentParser, set_seed

from modeling_negclip import NegCLIPConfig, NegCLIPModel

from .evaluate_negation_head import evaluate_head_and_regex, format_head_table
from .sharing.hub import NegCLIPCardTrainer
from .text.clip_tokenizer import with_folded_quotes
from .text.negation_head_data import (
    CDSCO_SCOPE_MODES,
    NegationHeadCollator,
    as_word_dataset,
    build_head_training_set,
    synthetic_rows,
)
from .training_arguments import CpuFallbackTrainingArguments


@dataclass
class HeadModelArguments:
    clip_model: str = field(metadata={"help": "CLIPModel checkpoint to wrap (local dir or Hub id); stays frozen."})
    negation_head_encoder: str = field(
        default=NegCLIPConfig.negation_head_encoder,
        metadata={"help": "The head's bidirectional layers: 'lstm' or 'transformer'."},
    )
    negation_head_layers: int = field(
        default=NegCLIPConfig.negation_head_layers, metadata={"help": "Bidirectional layers in the head."}
    )
    negation_head_hidden_size: int = field(
        default=NegCLIPConfig.negation_head_hidden_size, metadata={"help": "Width of the head layers."}
    )
    negation_head_heads: int = field(
        default=NegCLIPConfig.negation_head_heads, metadata={"help": "Attention heads per transformer head layer."}
    )
    negation_head_dropout: float = field(
        default=NegCLIPConfig.negation_head_dropout, metadata={"help": "Dropout inside the head layers."}
    )
    negation_head_source_layer: int | None = field(
        default=NegCLIPConfig.negation_head_source_layer,
        metadata={"help": "CLIP text layers run before the head reads their states: 0 (embeddings only) up to the "
                          "text layer count (the last layer, CLIP's final states); fewer is cheaper at inference."},
    )
    negation_head_token_embedding_size: int = field(
        default=NegCLIPConfig.negation_head_token_embedding_size,
        metadata={"help": "Width of the head's own trainable token embeddings beside CLIP's frozen ones (0: none)."},
    )
    negation_cue_gate: bool = field(
        default=True,
        metadata={"help": "At inference the head reads only prompts holding a negation cue word "
                          "(modeling_negclip.negation_cues); the others are tagged affirmed without it."},
    )

    def __post_init__(self):
        if self.negation_head_layers < 1:
            raise ValueError(f"--negation_head_layers must be >= 1, got {self.negation_head_layers}")


@dataclass
class HeadDataArguments:
    num_train: int = field(default=20000, metadata={"help": "Synthetic training prompts (train templates and nouns)."})
    num_heldout: int = field(default=2000, metadata={"help": "Synthetic held-out prompts (unseen templates and nouns)."})
    negation_data_seed: int = field(default=0, metadata={"help": "Seed of the synthetic data."})
    open_vocabulary_rate: float = field(
        default=0.3,
        metadata={"help": "Probability that a synthetic slot takes a word of CLIP's long tail (held-out words excluded)."},
    )
    use_negbench: bool = field(default=True, metadata={"help": "Add NegBench VOC2007's train part (partial labels) if present."})
    num_negbench: int | None = field(
        default=6000, metadata={"help": "Cap on NegBench training captions, a seeded sample (None: all ~15k, which are repetitive)."}
    )
    cdsco_scope: str | None = field(
        default="first_phrase",
        metadata={"help": "Add CD-SCO's training split (if present) with this scope mapping: 'first_phrase' (the scope "
                          "after the cue up to the next phrase: the prompt convention), 'after_cue' (all of the scope "
                          "after the cue) or 'ignore'; 'none' leaves it out. SFU Review's part is mapped the same way."},
    )
    num_composed: int = field(
        default=12000,
        metadata={"help": "Negations composed into human captions (../shared/data/captions, its training part); 0: none."},
    )
    num_negbench_synthetic: int | None = field(
        default=4000,
        metadata={"help": "NegBench synthetic captions (a seeded sample of their training part, with MSR-VTT's); 0: "
                          "neither set, None: all of them."},
    )
    use_sfu: bool = field(
        default=True, metadata={"help": "Add SFU Review's training part (mapped as --cdsco_scope says) if present."}
    )
    max_train_length: int = field(
        default=40,
        metadata={"help": "Tokens per training prompt (2..77): a batch pads to its longest prompt, and the 1% of "
                          "prompts (long CD-SCO sentences) above 40 tokens would pad every batch; their tail goes unlabelled."},
    )
    num_world_captions: int = field(default=0, metadata={"help": "Shapes-world captions to add (for a shapes-world CLIP)."})
    data_dir: str | None = field(default=None, metadata={"help": "Shared data folder (default ../shared/data)."})
    evaluate_after_training: bool = field(default=True, metadata={"help": "Run the head-vs-regex evaluation at the end."})

    def __post_init__(self):
        if self.num_train < 1 or self.num_heldout < 1:
            raise ValueError(f"--num_train and --num_heldout must be >= 1, got {self.num_train}, {self.num_heldout}")
        if not 0.0 <= self.open_vocabulary_rate <= 1.0:
            raise ValueError(f"--open_vocabulary_rate must be in [0, 1], got {self.open_vocabulary_rate}")
        if not 2 <= self.max_train_length <= 77:
            raise ValueError(f"--max_train_length must be in 2..77 (CLIP's positions), got {self.max_train_length}")
        if self.cdsco_scope in (None, "none"):
            self.cdsco_scope = None
        elif self.cdsco_scope not in CDSCO_SCOPE_MODES:
            raise ValueError(f"--cdsco_scope must be one of {CDSCO_SCOPE_MODES} or 'none', got {self.cdsco_scope!r}")


@dataclass
class HeadTrainingArguments(CpuFallbackTrainingArguments):
    """TrainingArguments with defaults that train the head in minutes on a CPU."""

    learning_rate: float = field(default=2e-3, metadata={"help": "Peak learning rate."})
    num_train_epochs: float = field(default=5.0, metadata={"help": "Epochs over the training prompts."})
    per_device_train_batch_size: int = field(default=128, metadata={"help": "Prompts per device per step."})
    per_device_eval_batch_size: int = field(default=256, metadata={"help": "Prompts per device per eval step."})
    warmup_steps: float = field(default=0.05, metadata={"help": "Warmup (a fraction of the steps if < 1)."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    logging_steps: float = field(default=50, metadata={"help": "Log every N steps."})
    eval_strategy: str = field(default="epoch", metadata={"help": "When to compute the held-out loss."})
    save_strategy: str = field(default="epoch", metadata={"help": "When to write a resumable checkpoint."})
    save_total_limit: int | None = field(default=1, metadata={"help": "Checkpoints to keep."})
    prediction_loss_only: bool = field(default=True, metadata={"help": "The Trainer's eval reports the loss only."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "The collator tokenises the word columns."})
    ddp_find_unused_parameters: bool | None = field(default=False, metadata={"help": "Every head parameter gets a gradient."})


def parse_args(argv: list[str] | None = None):
    parser = HfArgumentParser((HeadModelArguments, HeadDataArguments, HeadTrainingArguments))
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(json_file=argv[0])
    return parser.parse_args_into_dataclasses(args=argv)


def main(argv: list[str] | None = None) -> dict:
    # 1. Arguments and seed.
    model_args, data_args, training_args = parse_args(argv)
    set_seed(training_args.seed)

    # 2. The frozen CLIP wrapped with a fresh head (the only trainable part here), and its processor.
    processor = AutoProcessor.from_pretrained(model_args.clip_model)
    processor.tokenizer = with_folded_quotes(processor.tokenizer)  # what the checkpoint saves and users load
    model = NegCLIPModel.from_clip(
        model_args.clip_model,
        negation_head_encoder=model_args.negation_head_encoder,
        negation_head_layers=model_args.negation_head_layers,
        negation_head_hidden_size=model_args.negation_head_hidden_size,
        negation_head_heads=model_args.negation_head_heads,
        negation_head_dropout=model_args.negation_head_dropout,
        negation_head_source_layer=model_args.negation_head_source_layer,
        negation_head_token_embedding_size=model_args.negation_head_token_embedding_size,
    )
    if model_args.negation_cue_gate:
        model.set_negation_cue_words(processor.tokenizer)
    for parameter in model.polarity_parameters():  # fitted later with images (train_polarity_weight)
        parameter.requires_grad_(False)

    # 3. Data: training prompts from every source; held-out synthetic prompts for the eval loss.
    train_set, counts = build_head_training_set(
        data_args.num_train,
        data_args.negation_data_seed,
        use_negbench=data_args.use_negbench,
        num_world_captions=data_args.num_world_captions,
        data_dir=data_args.data_dir,
        open_vocabulary_rate=data_args.open_vocabulary_rate,
        num_negbench=data_args.num_negbench,
        cdsco_scope=data_args.cdsco_scope,
        num_composed=data_args.num_composed,
        num_negbench_synthetic=data_args.num_negbench_synthetic,
        use_sfu=data_args.use_sfu,
    )
    eval_set = as_word_dataset(synthetic_rows(data_args.num_heldout, data_args.negation_data_seed, "heldout"))

    # 4. Train the head with the stock Trainer.
    trainer = NegCLIPCardTrainer(
        model=model,
        args=training_args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        data_collator=NegationHeadCollator(processor.tokenizer, max_length=data_args.max_train_length),
        processing_class=processor,
    )
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_metrics("train", {**train_result.metrics, "train_steps": trainer.state.global_step})

    # 5. Evaluate the head beside the regex baseline on the same held-out data.
    summary = {"training_rows": counts, "train_runtime_s": trainer.state.log_history[-1].get("train_runtime")}
    if data_args.evaluate_after_training and trainer.is_world_process_zero():
        summary["evaluation"] = evaluate_head_and_regex(
            model, processor.tokenizer, data_args.num_heldout, data_args.negation_data_seed, data_args.data_dir
        )
        print(format_head_table(summary["evaluation"]))

    # 6. Save a NegCLIP checkpoint (remote code, safetensors, processor); with --push_to_hub the Trainer
    #    also uploads it with the generated model card.
    trainer.card_context = {"base_model": model_args.clip_model, "head_results": summary.get("evaluation")}
    trainer.save_model(training_args.output_dir)
    if trainer.is_world_process_zero():
        Path(training_args.output_dir, "negation_head_results.json").write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
