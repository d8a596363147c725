"""Hub sharing for NegCLIP scripts: the stock Trainer, but the pushed README is NegCLIP's generated card."""

from __future__ import annotations

from transformers import Trainer

from .model_card import write_model_card


class NegCLIPCardTrainer(Trainer):
    """`Trainer` whose `create_model_card` (called by `push_to_hub`) writes NegCLIP's card.

    Set `card_context` (keyword arguments of `write_model_card`: `base_model`, `results`,
    `head_results`, `polarity_fit`) before pushing.
    """

    card_context: dict = {}

    def create_model_card(self, *args, **kwargs):
        if not self.is_world_process_zero():
            return
        context = {"results": {}, "base_model": "unknown", **self.card_context}
        write_model_card(self.args.output_dir, repo_id=self.hub_model_id, **context)
