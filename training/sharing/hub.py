"""Hub sharing for NegCLIP scripts: the stock Trainer, but the pushed README is NegCLIP's generated card."""

from __future__ import annotations

import os

from transformers import Trainer
from transformers.trainer import TRAINING_ARGS_NAME

from .model_card import write_model_card


class NegCLIPCardTrainer(Trainer):
    """`Trainer` whose `create_model_card` (called by `push_to_hub`) writes NegCLIP's card, and whose saved folders
    hold the training arguments as JSON (`training_args.json`) instead of the stock pickle `training_args.bin`: a
    checkpoint that refuses pickle weights should not ship a pickle (resuming does not read it).

    Set `card_context` (keyword arguments of `write_model_card`: `base_model`, `results`,
    `head_results`, `polarity_fit`) before pushing.
    """

    card_context: dict = {}

    def _save(self, output_dir: str | None = None, state_dict=None):
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
