"""Hub sharing for NegCLIP scripts: the stock Trainer, but the pushed README is NegCLIP's generated card."""

from __future__ import annotations

import os

from transformers import Trainer
from transformers.trainer import TRAINING_ARGS_NAME

from .model_card import write_model_card


# What a fast tokenizer's last call leaves in its backend and init kwargs, which `save_pretrained` would write into
# the checkpoint: a saved `max_length` makes every later `processor(text=..., padding=True)` warn.
_CALL_STATE_KEYS = ("max_length", "truncation_strategy", "stride", "pad_to_multiple_of", "pad_token_type_id")


def _reset_call_state(tokenizer) -> None:
    """Clear the truncation and padding a tokenizer's last call set, so a saved checkpoint loads plain."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return
    backend.no_truncation()
    backend.no_padding()
    for key in _CALL_STATE_KEYS:
        tokenizer.init_kwargs.pop(key, None)


class NegCLIPCardTrainer(Trainer):
    """`Trainer` whose `create_model_card` (called by `push_to_hub`) writes NegCLIP's card, and whose saved folders
    hold the training arguments as JSON (`training_args.json`) instead of the stock pickle `training_args.bin`: a
    checkpoint that refuses pickle weights should not ship a pickle (resuming does not read it).

    Set `card_context` (keyword arguments of `write_model_card`: `base_model`, `results`,
    `head_results`, `polarity_fit`) before pushing.
    """

    card_context: dict = {}

    def _save(self, output_dir: str | None = None, state_dict=None):
        _reset_call_state(getattr(self.processing_class, "tokenizer", self.processing_class))
        super()._save(output_dir, state_dict)
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        pickled = os.path.join(output_dir, TRAINING_ARGS_NAME)
        if self.args.should_save and os.path.isfile(pickled):
            os.remove(pickled)
            with open(os.path.join(output_dir, "training_args.json"), "w", encoding="utf-8") as handle:
                handle.write(self.args.to_json_string())

    def create_model_card(self, *args, **kwargs):
        if not self.is_world_process_zero():
            return
        context = {"results": {}, "base_model": "unknown", **self.card_context}
        write_model_card(self.args.output_dir, repo_id=self.hub_model_id, **context)
