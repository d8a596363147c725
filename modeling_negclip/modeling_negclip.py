"""NegCLIP: a negation-aware plug-in around a frozen `CLIPModel`.

1. A light bidirectional head (`negation_head.py`; `config.negation_head_encoder`: LSTM, the default, or
   transformer layers) on CLIP's token embeddings, or its text states after its first few layers
   (`config.negation_head_source_layer`, default 0: the embeddings) tags each token affirmed / negation cue /
   negated. With a cue gate (`config.negation_cue_token_ids`, see `negation_cues.py`) it reads only the prompts
   holding a negation cue token; the others are tagged all affirmed.
2. A prompt with a negated token is split on token ids into a positive and a negated sequence, each encoded
   from scratch by CLIP's own text encoder (one batched call per part); its full encoding stops at the head's
   source layer. The prompts that are not split continue through CLIP's remaining layers, so each prompt
   costs one text encoding plus, if split, its (shorter) parts.
3. Dual-polarity similarity: `logit = scale * (cos(image, positive) - w * (c - t) - v * knee(c - u))` with
   `c = cos(image, n + A n)`, `n` the negated part's embedding and `A` a learned square matrix (the negated-concept
   adapter, 0 at first: CLIP's caption embedding is not the best query for "is it there?"), learned `w, v >= 0`
   and thresholds `t`, `u`, and `knee` a softplus about `max(0, x)`: a negated concept counts against an image
   by how far its similarity rises above what an absent concept gets, and `v` more once it is clearly there.
   A prompt with no negated token scores exactly as `CLIPModel` scores it. A prompt that negates all it names
   ("no blue square") has an empty positive part; it takes a learned null positive embedding, CLIP's
   empty-prompt embedding until fitted on images with `w`.

References: CLIP (Radford et al., 2021); NegBench (Alhamoud et al., CVPR 2025); CoN-CLIP (Singh et al., 2024).
Imports only torch, transformers (and safetensors, which transformers requires) and sibling files, so checkpoints
load with `trust_remote_code=True`.
"""

import json
import os
from contextlib import contextmanager
import unicodedata
from dataclasses import dataclass
from typing import Any

import torch
from safetensors import safe_open
from torch import nn
from transformers import CLIPModel, PreTrainedModel, PreTrainedTokenizerBase
from transformers import initialization as init
from transformers.masking_utils import create_causal_mask
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.models.clip.modeling_clip import image_text_contrastive_loss
from transformers.utils import ModelOutput, logging

from .configuration_negclip import (
    AFFIRMED_ID,
    IGNORE_INDEX,
    NEGATED_ID,
    NEGATION_CUE_ID,
    NegCLIPConfig,
    check_negation_cue_gate,
)
from .negation_cues import DEFAULT_NEGATION_CUE_WORDS, cue_rows, fold_typographic_quotes, negation_cue_token_ids
from .negation_head import NegCLIPNegationHead, NegCLIPTokenClassifier
from .polarity_split import content_mask, eos_positions, split_by_tags, start_end_ids
from .prompt_cache import NegCLIPPromptCache, NegCLIPPromptParts

logger = logging.get_logger(__name__)

# Logit margin by which a fresh head prefers "affirmed": with a zero classifier weight it tags every token
# affirmed, so a freshly wrapped model scores exactly as CLIP.
_AFFIRMED_PRIOR = 4.0
# Logit margin by which a prompt the cue gate keeps from the head is tagged affirmed: certain, but finite in fp16.
_GATED_OUT_MARGIN = 1e4
# The knee of the negated term before the fit: its extra slope, where it starts, and how soft the bend is (in
# cosine). The slope starts above 0: clamped at 0, a weight that the first steps push down never comes back.
_KNEE_WEIGHT_INIT = 1.0
_KNEE_THRESHOLD_INIT = 0.45
_KNEE_SOFTNESS = 0.03


def token_classification_loss(token_logits: torch.Tensor, token_labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over labelled tokens; -100 marks tokens to ignore (specials, unlabelled words)."""
    return nn.functional.cross_entropy(token_logits.flatten(0, 1).float(), token_labels.flatten(), ignore_index=IGNORE_INDEX)


@dataclass
class NegCLIPTextOutput(ModelOutput):
    r"""
    text_embeds (`torch.Tensor` of shape `(text_batch_size, output_dim)`):
        Projected (not normalised) embedding of each prompt's positive part; for a prompt that was not split,
        exactly CLIP's text embedding of the prompt.
    negated_text_embeds (`torch.Tensor` of shape `(text_batch_size, output_dim)`):
        Projected embedding of each prompt's negated part after the negated-concept adapter (`n + A n`); zeros where
        `is_split` is False.
    is_split (`torch.BoolTensor` of shape `(text_batch_size,)`):
        Which prompts contain a negated token and were split.
    token_logits (`torch.Tensor` of shape `(text_batch_size, sequence_length, 3)`):
        The negation head's scores for affirmed / negation cue / negated (certain "affirmed" for prompts the cue
        gate kept from the head).
    text_model_output (`BaseModelOutputWithPooling`):
        CLIP's text encoder output on the prompt each row is scored by: `pooler_output` equals `text_embeds`;
        `last_hidden_state` `(text_batch_size, sequence_length, hidden_size)` holds CLIP's final states of the
        prompt where it was not split, and of the packed positive part where it was (left-aligned, positions
        not aligned with `input_ids`, zeros after the part's own width). A split prompt's full encoding stops at
        the head's source layer, so its own final states are never computed.
    """

    text_embeds: torch.Tensor | None = None
    negated_text_embeds: torch.Tensor | None = None
    is_split: torch.Tensor | None = None
    token_logits: torch.Tensor | None = None
    text_model_output: BaseModelOutputWithPooling | None = None


@dataclass
class NegCLIPOutput(ModelOutput):
    r"""
    loss (`torch.Tensor` of shape `(1,)`, *optional*):
        Contrastive loss on the dual-polarity logits (when `return_loss` and images are given) plus the token
        classification loss (when `token_labels` are given).
    logits_per_image (`torch.Tensor` of shape `(image_batch_size, text_batch_size)`):
        Dual-polarity image-text scores; equal to `CLIPModel`'s for prompts that were not split.
    logits_per_text (`torch.Tensor` of shape `(text_batch_size, image_batch_size)`):
        The transpose of `logits_per_image`.
    text_embeds (`torch.Tensor` of shape `(text_batch_size, output_dim)`):
        Normalised embeddings of the positive prompts (CLIP's own for prompts not split).
    image_embeds (`torch.Tensor` of shape `(image_batch_size, output_dim)`):
        Normalised image embeddings, as `CLIPModel` gives them.
    negated_text_embeds (`torch.Tensor` of shape `(text_batch_size, output_dim)`):
        Normalised embeddings of the negated prompts; zeros where `is_split` is False.
    token_logits (`torch.Tensor` of shape `(text_batch_size, sequence_length, 3)`):
        The negation head's scores for affirmed / negation cue / negated (certain "affirmed" for prompts the cue
        gate kept from the head).
    is_split (`torch.BoolTensor` of shape `(text_batch_size,)`):
        Which prompts were split into a positive and a negated part.
    text_model_output / vision_model_output (`BaseModelOutputWithPooling`):
        CLIP's encoder outputs on the prompts as scored (see `NegCLIPTextOutput`; `None` with
        `encode_split=False`) and on the images.
    """

    loss: torch.Tensor | None = None
    logits_per_image: torch.Tensor | None = None
    logits_per_text: torch.Tensor | None = None
    text_embeds: torch.Tensor | None = None
    image_embeds: torch.Tensor | None = None
    negated_text_embeds: torch.Tensor | None = None
    token_logits: torch.Tensor | None = None
    is_split: torch.Tensor | None = None
    text_model_output: BaseModelOutputWithPooling | None = None
    vision_model_output: BaseModelOutputWithPooling | None = None

    def to_tuple(self) -> tuple[Any]:
        return tuple(
            self[k] if k not in ["text_model_output", "vision_model_output"] else getattr(self, k).to_tuple()
            for k in self.keys()
        )


@dataclass
class NegCLIPSplit:
    """A prompt's split, as strings cut from the prompt itself (original case and spacing).

    positive: what CLIP encodes as the prompt (all of it when nothing is negated); negated: the negated words;
    cues: the negation cues cut out (empty when nothing is negated: a lone cue, as in "not", stays in `positive`).
    """

    prompt: str
    positive: str
    negated: str
    cues: str


class NegCLIPPreTrainedModel(PreTrainedModel):
    config: NegCLIPConfig
    config_class = NegCLIPConfig
    base_model_prefix = "clip"
    input_modalities = ("image", "text")
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = ["CLIPTextEmbeddings", "CLIPEncoderLayer", "CLIPVisionEmbeddings"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    # The loss is a mean over the batch, not scaled by the Trainer's item count (see TRANSFORMERS5.md).
    accepts_loss_kwargs = False
    # Saved before they existed, these load with their initial value (`_init_weights`), which is what such a
    # checkpoint scored with: no "newly initialized, consider training" report. (A missing null positive or knee
    # weight needs a fix-up in `from_pretrained`, so it stays in the loading info.)
    _keys_to_ignore_on_load_missing = [r"^negated_threshold$", r"^negated_knee_threshold$", r"^negated_adapter$"]

    @torch.no_grad()
    def _init_weights(self, module):
        """Head layers as transformers does by default; the classifier starts out tagging everything affirmed."""
        if isinstance(module, NegCLIPTokenClassifier):
            init.zeros_(module.weight)
            init.copy_(module.bias, torch.tensor([_AFFIRMED_PRIOR, 0.0, 0.0]))
        elif isinstance(module, NegCLIPModel):
            init.constant_(module.negated_weight, self.config.negated_weight_init)
            init.zeros_(module.null_positive_embeds)  # from_clip / from_pretrained set CLIP's empty prompt
            init.zeros_(module.negated_threshold)
            init.constant_(module.negated_knee_weight, _KNEE_WEIGHT_INIT)
            init.constant_(module.negated_knee_threshold, _KNEE_THRESHOLD_INIT)
            init.zeros_(module.negated_adapter)
        else:
            super()._init_weights(module)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Also name this class for the zero-shot pipeline's auto class in `config.json`'s `auto_map`."""
        module = type(self).__module__.split(".")[-1]
        auto_map = dict(getattr(self.config, "auto_map", None) or {})
        auto_map["AutoModelForZeroShotImageClassification"] = f"{module}.{type(self).__name__}"
        self.config.auto_map = auto_map
        return super().save_pretrained(save_directory, *args, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """`PreTrainedModel.from_pretrained`, but safetensors only and no silently re-initialised weights."""
        _check_checkpoint_dir(pretrained_model_name_or_path)
        if kwargs.get("use_safetensors") is False:
            raise ValueError("NegCLIP loads safetensors weights only; pickle checkpoints (.bin) are refused")
        kwargs["use_safetensors"] = True
        want_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(pretrained_model_name_or_path, *model_args, output_loading_info=True, **kwargs)
        if "null_positive_embeds" in info["missing_keys"]:  # saved before it existed: the empty prompt, as then
            model.reset_null_positive()
        # A missing threshold, knee threshold or adapter has its initial value (`_init_weights`) and is not in the
        # loading info (`_keys_to_ignore_on_load_missing`). Only the knee's weight starts above what a checkpoint
        # saved before it had: none.
        if "negated_knee_weight" in info["missing_keys"]:
            with torch.no_grad():
                model.negated_knee_weight.zero_()
        info["missing_keys"] = set(info["missing_keys"]) - {"null_positive_embeds", "negated_knee_weight"}
        if info["missing_keys"]:
            missing = sorted(info["missing_keys"])
            raise ValueError(
                f"Checkpoint '{pretrained_model_name_or_path}' lacks {len(missing)} NegCLIP weight(s), e.g. {missing[:3]}; "
                "to wrap a plain CLIP checkpoint use NegCLIPModel.from_clip(...)"
            )
        return (model, info) if want_info else model


def _check_checkpoint_dir(path) -> None:
    """Clear errors for a local checkpoint dir: missing config, wrong model type, pickle-only weights."""
    if not os.path.isdir(path):
        return  # a Hub repo id: transformers reports what is missing
    config_file = os.path.join(path, "config.json")
    if not os.path.isfile(config_file):
        raise FileNotFoundError(f"'{path}' is not a NegCLIP checkpoint: it has no config.json")
    with open(config_file, encoding="utf-8") as handle:
        try:
            model_type = json.load(handle).get("model_type")
        except json.JSONDecodeError as error:
            raise ValueError(f"'{config_file}' is not valid JSON: {error}") from error
    if model_type != NegCLIPConfig.model_type:
        hint = " (a plain CLIP checkpoint: wrap it with NegCLIPModel.from_clip)" if model_type == "clip" else ""
        raise ValueError(f"'{path}' holds model_type={model_type!r}, not 'negclip'{hint}")
    files = sorted(os.listdir(path))
    weights = [name for name in files if name.endswith(".safetensors")]
    if not weights and "model.safetensors.index.json" not in files:
        # Pickled weights by transformers' and PyTorch's names; training_args.bin, optimizer.pt, ... hold no weights.
        pickles = [name for name in files if name.startswith(("pytorch_model", "model")) and name.endswith((".bin", ".pt", ".pth", ".ckpt"))]
        detail = f"only pickle weights {pickles}, which NegCLIP refuses to unpickle" if pickles else "no weights file"
        raise FileNotFoundError(f"'{path}' has {detail}; expected model.safetensors")
    for name in weights:
        try:
            with safe_open(os.path.join(path, name), framework="pt") as handle:
                handle.keys()
        except Exception as error:  # safetensors raises its own error types
            raise OSError(f"'{os.path.join(path, name)}' is not a readable safetensors file (truncated or corrupt?): {error}") from error


class NegCLIPModel(NegCLIPPreTrainedModel):
    """`CLIPModel` + negation head + dual-polarity similarity. See the module docstring."""

    def __init__(self, config: NegCLIPConfig):
        super().__init__(config)
        self.clip = CLIPModel._from_config(config.clip_config)
        self.negation_head = NegCLIPNegationHead(config)
        self.negated_weight = nn.Parameter(torch.tensor(float(config.negated_weight_init)))
        # Similarity to the negated part above which it counts against the image (learned with w; 0 at first).
        self.negated_threshold = nn.Parameter(torch.tensor(0.0))
        # The knee: above `u` each unit of the negated part's similarity costs `v` more, so a clearly present
        # negated concept is punished harder than the linear term alone would, while absence earns what it did.
        self.negated_knee_weight = nn.Parameter(torch.tensor(_KNEE_WEIGHT_INIT))
        self.negated_knee_threshold = nn.Parameter(torch.tensor(_KNEE_THRESHOLD_INIT))
        # The positive embedding of a prompt that negates everything it names ("no blue square"): CLIP's
        # embedding of the empty prompt at first (`reset_null_positive`), then learned with `w`.
        self.null_positive_embeds = nn.Parameter(torch.zeros(config.clip_config.projection_dim))
        # The negated-concept adapter: the negated part's embedding e becomes e + A e before its similarity to an
        # image is taken, a query for "is this there?" rather than CLIP's caption embedding. A = 0 at first.
        projection_dim = config.clip_config.projection_dim
        self.negated_adapter = nn.Parameter(torch.zeros(projection_dim, projection_dim))
        self.post_init()
        if config.freeze_clip:
            self.clip.requires_grad_(False)
        self._frozen_text_cache = None  # see caching_frozen_text

    @classmethod
    def from_clip(cls, clip: "CLIPModel | str | os.PathLike", **config_overrides) -> "NegCLIPModel":
        """Wrap a `CLIPModel` (object, local dir or Hub id) with its weights unchanged and a fresh head."""
        if isinstance(clip, (str, os.PathLike)):
            clip = CLIPModel.from_pretrained(clip, use_safetensors=True)
        if not isinstance(clip, CLIPModel):
            raise TypeError(f"from_clip expects a CLIPModel or a path to one, got {type(clip).__name__}")
        config = NegCLIPConfig(clip_config=clip.config.to_dict(), **config_overrides)
        model = cls(config)
        model.clip.load_state_dict(clip.state_dict())
        model.reset_null_positive()
        return model.to(clip.dtype)

    def polarity_parameters(self) -> list[nn.Parameter]:
        """What the polarity fit learns (`train_polarity_weight`): w, t, the knee's v and u, the null positive and
        the negated-concept adapter."""
        return [
            self.negated_weight,
            self.negated_threshold,
            self.negated_knee_weight,
            self.negated_knee_threshold,
            self.null_positive_embeds,
            self.negated_adapter,
        ]

    @torch.no_grad()
    def reset_knee(self) -> None:
        """Put the knee where a new model starts it (a checkpoint saved before the knee loads without one)."""
        self.negated_knee_weight.fill_(_KNEE_WEIGHT_INIT)
        self.negated_knee_threshold.fill_(_KNEE_THRESHOLD_INIT)

    @torch.no_grad()
    def reset_null_positive(self) -> None:
        """Set `null_positive_embeds` to CLIP's embedding of the empty prompt (start and end token only),
        which is what an empty positive part would be encoded as."""
        text_config = self.config.clip_config.text_config
        ids = start_end_ids(text_config.bos_token_id, text_config.eos_token_id, text_config.vocab_size)
        input_ids = torch.tensor([ids], device=self.null_positive_embeds.device)
        pooled = self.clip.get_text_features(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)).pooler_output
        self.null_positive_embeds.copy_(pooled[0].to(self.null_positive_embeds.dtype))

    def set_negation_cue_words(self, tokenizer, words=DEFAULT_NEGATION_CUE_WORDS) -> None:
        """Turn on the cue gate for these words (ids from `tokenizer`, saved in the config); `None` turns it off,
        so the head reads every prompt."""
        if words is None:
            self.config.negation_cue_words = self.config.negation_cue_token_ids = None
            return
        words = list(words)
        ids = negation_cue_token_ids(tokenizer, words)
        check_negation_cue_gate(words, ids, self.config.clip_config.text_config.vocab_size)
        self.config.negation_cue_words, self.config.negation_cue_token_ids = words, ids

    def negation_cue_rows(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B,) True for the prompts the head reads: those holding a cue token, or all of them without a gate."""
        ids = self.config.negation_cue_token_ids
        if ids is None:
            return torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        return cue_rows(input_ids, attention_mask, torch.tensor(ids, device=input_ids.device))

    @property
    def _eos_token_id(self) -> int:
        return self.config.clip_config.text_config.eos_token_id

    def _check_text_inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        if input_ids is None:
            raise ValueError("NegCLIP needs input_ids (tokenized prompts)")
        if input_ids.dim() != 2 or input_ids.shape[0] == 0:
            raise ValueError(f"input_ids must have shape (batch > 0, sequence), got {tuple(input_ids.shape)}")
        positions = self.config.clip_config.text_config.max_position_embeddings
        if input_ids.shape[1] > positions:
            raise ValueError(
                f"input_ids has {input_ids.shape[1]} tokens but CLIP's text encoder has {positions} positions; "
                f"tokenize with truncation=True, max_length={positions}"
            )
        if attention_mask is None:
            return torch.ones_like(input_ids)
        if attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask shape {tuple(attention_mask.shape)} differs from input_ids shape {tuple(input_ids.shape)}"
            )
        return attention_mask

    def tag_tokens(
        self,
        token_logits: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        read_rows: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Per-token label ids; start, end and padding tokens, and every token of a prompt the cue gate keeps from
        the head, are affirmed. `read_rows`: `negation_cue_rows` of these prompts, when already computed."""
        tags = token_logits.argmax(dim=-1)
        taggable = content_mask(input_ids, attention_mask, self._eos_token_id)
        if self.config.negation_cue_token_ids is not None:
            read_rows = self.negation_cue_rows(input_ids, attention_mask) if read_rows is None else read_rows
            taggable = taggable & read_rows[:, None]
        return torch.where(taggable, tags, AFFIRMED_ID)

    @property
    def _head_source_layer(self) -> int:
        source = self.config.negation_head_source_layer
        return self.config.clip_config.text_config.num_hidden_layers if source is None else source

    def _run_text_layers(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor, layers) -> torch.Tensor:
        """CLIP text encoder `layers` on `(B, T, H)` states, with the causal + padding mask `CLIPTextModel.forward`
        builds (copied from there: it cannot start or stop at a given layer)."""
        if not len(layers):
            return hidden_states
        # Positional: the cache argument is `past_key_values` before transformers 5.24 and `cache` after.
        mask = create_causal_mask(self.clip.text_model.config, hidden_states, attention_mask, None)
        for layer in layers:
            hidden_states = layer(hidden_states, mask, is_causal=True)
        return hidden_states

    def _finish_text_encoding(
        self, hidden_states: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> BaseModelOutputWithPooling:
        """From the states after the head's source layer: CLIP's remaining text layers, final layer norm, EOS
        pooling (`eos_positions`: CLIPTextModel's rule) and text projection; `CLIPModel.get_text_features`
        split in two, so prompts that are split need not run the second half."""
        text_model = self.clip.text_model
        hidden_states = self._run_text_layers(
            hidden_states, attention_mask, text_model.encoder.layers[self._head_source_layer :]
        )
        last_hidden_state = text_model.final_layer_norm(hidden_states)  # (B, T, H)
        rows = torch.arange(last_hidden_state.shape[0], device=last_hidden_state.device)
        pooled = last_hidden_state[rows, eos_positions(input_ids, self._eos_token_id).to(rows.device)]  # (B, H)
        return BaseModelOutputWithPooling(last_hidden_state=last_hidden_state, pooler_output=self.clip.text_projection(pooled))

    def get_token_logits(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        read_all_prompts: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The negation head's scores `(B, T, 3)`, and CLIP's text states `(B, T, H)` after the head's source layer
        (`config.negation_head_source_layer`, before the final layer norm), from which encoding can continue.

        Prompts the cue gate keeps from the head (`negation_cue_rows`) get certain "affirmed" scores, uncomputed,
        unless `read_all_prompts` (what training the head does: learning that a cue-less prompt is all affirmed
        made it better on prompts with cues, as the project's docs/experiments.md measures)."""
        attention_mask = self._check_text_inputs(input_ids, attention_mask)
        token_logits, states, _ = self._token_logits_and_read_rows(input_ids, attention_mask, position_ids, read_all_prompts)
        return token_logits, states

    def _token_logits_and_read_rows(
        self, input_ids, attention_mask, position_ids, read_all_prompts
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`get_token_logits` plus the `negation_cue_rows` it computed, so that the gate runs once per forward. The
        inputs are checked already (`_check_text_inputs`)."""
        text_model = self.clip.text_model
        token_embeddings = text_model.embeddings.token_embedding(input_ids)  # (B, T, H)
        states = text_model.embeddings(input_ids=input_ids, position_ids=position_ids, inputs_embeds=token_embeddings)
        states = self._run_text_layers(states, attention_mask, text_model.encoder.layers[: self._head_source_layer])
        read = self.negation_cue_rows(input_ids, attention_mask)  # (B,)
        if read_all_prompts or bool(read.all()):
            head_states = text_model.final_layer_norm(states)  # for the last layer: CLIP's last_hidden_state
            return self.negation_head(head_states, token_embeddings, attention_mask, input_ids), states, read
        token_logits = states.new_full((*input_ids.shape, self.config.num_labels), -_GATED_OUT_MARGIN)
        token_logits[..., AFFIRMED_ID] = 0.0  # (B, T, 3)
        rows = read.nonzero(as_tuple=True)[0]
        if len(rows):
            head_states = text_model.final_layer_norm(states[rows])
            head_logits = self.negation_head(head_states, token_embeddings[rows], attention_mask[rows], input_ids[rows])
            token_logits = token_logits.index_copy(0, rows, head_logits.to(token_logits.dtype))
        return token_logits, states, read

    def get_text_polarity_features(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        read_all_prompts: bool = False,
    ) -> NegCLIPTextOutput:
        """Tag, split and encode prompts: positive and negated embeddings (projected, not normalised).
        `read_all_prompts`: the head's scores for every prompt (see `get_token_logits`); the tags follow the gate.

        Prompts that are not split continue from the head's source layer through CLIP's remaining layers, which
        reproduces `CLIPModel.get_text_features`; the positive and negated parts of split prompts are encoded
        from scratch, one `get_text_features` call per part, each padded only to its own longest row.
        Within `caching_frozen_text()` each prompt's frozen encoding is computed once (no token logits and no
        hidden states then).
        """
        attention_mask = self._check_text_inputs(input_ids, attention_mask)
        if self._frozen_text_cache is not None and not read_all_prompts and position_ids is None:
            parts = self._frozen_text_cache.lookup(input_ids, attention_mask, self._encode_frozen_parts)
        else:
            parts = self._encode_frozen_parts(input_ids, attention_mask, position_ids, read_all_prompts)
        # A positive part with no content token ("no blue square" -> start, end) takes the learned null positive.
        null_positive = self.null_positive_embeds.to(parts.positive_embeds.dtype)
        text_embeds = torch.where((parts.is_split & parts.positive_is_empty)[:, None], null_positive, parts.positive_embeds)
        rows = parts.is_split.nonzero(as_tuple=True)[0]  # only split rows: a zero row's norm has no gradient
        negated = negated_query(parts.concept_embeds[rows], self.negated_adapter)
        negated_embeds = torch.zeros_like(parts.concept_embeds).index_copy(0, rows, negated)
        last_hidden_state = parts.last_hidden_state
        return NegCLIPTextOutput(
            text_embeds=text_embeds,
            negated_text_embeds=negated_embeds,
            is_split=parts.is_split,
            token_logits=parts.token_logits,
            text_model_output=BaseModelOutputWithPooling(last_hidden_state=last_hidden_state, pooler_output=text_embeds),
        )

    def _encode_frozen_parts(self, input_ids, attention_mask, position_ids=None, read_all_prompts=False) -> NegCLIPPromptParts:
        """What the head and the frozen CLIP make of prompts, before any polarity parameter (null positive, adapter)."""
        token_logits, states, read = self._token_logits_and_read_rows(input_ids, attention_mask, position_ids, read_all_prompts)
        if read.any():
            tags = self.tag_tokens(token_logits, input_ids, attention_mask, read_rows=read)
            is_split, split = split_by_tags(input_ids, attention_mask, tags, self._eos_token_id)
        else:  # the gate kept every prompt from the head: nothing to tag or split
            is_split, split = torch.zeros_like(read), None

        if split is None or not len(split.split_rows):  # nothing split: exactly CLIP's encoding of the whole batch
            text_outputs = self._finish_text_encoding(states, input_ids, attention_mask)
            pooled = text_outputs.pooler_output
            return NegCLIPPromptParts(
                pooled, torch.zeros_like(pooled), is_split, torch.zeros_like(is_split), token_logits, text_outputs.last_hidden_state
            )

        positive, positive_states = self._encode_part(split.positive_ids, split.positive_mask)  # (S, P), (S, Tp, H)
        concept, _ = self._encode_part(split.negated_ids, split.negated_mask)
        positive_embeds = positive.new_zeros(input_ids.shape[0], positive.shape[-1])
        positive_embeds = positive_embeds.index_copy(0, split.split_rows, positive)  # (B, P)
        concept_embeds = torch.zeros_like(positive_embeds).index_copy(0, split.split_rows, concept)
        positive_is_empty = torch.zeros_like(is_split)
        positive_is_empty[split.split_rows] = split.positive_mask.sum(dim=1) <= 2  # start and end tokens only
        last_hidden_state = None
        if positive_states is not None:
            extra = input_ids.shape[1] - positive_states.shape[1]  # >= 0: a packed part is never wider than its prompt
            positive_states = nn.functional.pad(positive_states, (0, 0, 0, extra))  # (S, T, H)
            last_hidden_state = positive_states.new_zeros(*input_ids.shape, positive_states.shape[-1])
            last_hidden_state = last_hidden_state.index_copy(0, split.split_rows, positive_states)  # (B, T, H)
        kept = (~is_split).nonzero(as_tuple=True)[0]
        if len(kept):
            unsplit = self._finish_text_encoding(states[kept], input_ids[kept], attention_mask[kept])
            if last_hidden_state is not None:
                last_hidden_state = last_hidden_state.index_copy(0, kept, unsplit.last_hidden_state)
            positive_embeds = positive_embeds.index_copy(0, kept, unsplit.pooler_output)
        return NegCLIPPromptParts(positive_embeds, concept_embeds, is_split, positive_is_empty, token_logits, last_hidden_state)

    def _encode_part(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """CLIP's projected embedding `(S, P)` of packed parts and its final states `(S, T, H)`; within
        `caching_frozen_text()` each distinct part is encoded once, and no states are kept."""
        if self._frozen_text_cache is None:
            out = self.clip.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
            return out.pooler_output, out.last_hidden_state
        encode = lambda ids, mask: self.clip.get_text_features(input_ids=ids, attention_mask=mask).pooler_output  # noqa: E731
        return self._frozen_text_cache.part_embeds(input_ids, attention_mask, encode), None

    @contextmanager
    def caching_frozen_text(self):
        """Within this block each distinct prompt's frozen encoding (the head's split and CLIP's embeddings of its
        parts) is computed once and reused: a fit of the polarity parameters alone sees the same captions again and
        again. Refused while CLIP or the head trains: their encodings would go stale."""
        polarity = {id(p) for p in self.polarity_parameters()}
        training = [name for name, p in self.named_parameters() if p.requires_grad and id(p) not in polarity]
        if training:
            raise ValueError(f"caching_frozen_text needs CLIP and the head frozen; these train: {training[:3]}")
        self._frozen_text_cache = NegCLIPPromptCache()
        try:
            yield self._frozen_text_cache
        finally:
            self._frozen_text_cache = None

    def get_negated_concept_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, P) projected (not normalised) query embeddings of concepts as negated parts are scored: CLIP's text
        embedding `n` of the tokens ("red circle", with start and end tokens) plus the adapter's `A n`."""
        pooled = self.clip.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output
        return negated_query(pooled, self.negated_adapter)

    def get_text_features(self, input_ids, attention_mask=None, position_ids=None, **kwargs) -> BaseModelOutputWithPooling:
        """As `CLIPModel.get_text_features`; `pooler_output` is the positive prompt's projected embedding and
        `last_hidden_state` is described in `NegCLIPTextOutput.text_model_output`."""
        return self.get_text_polarity_features(input_ids, attention_mask, position_ids).text_model_output

    def get_image_features(self, pixel_values, interpolate_pos_encoding: bool = False, **kwargs) -> BaseModelOutputWithPooling:
        """Exactly `CLIPModel.get_image_features`: the negation plug-in never touches images."""
        return self.clip.get_image_features(pixel_values=pixel_values, interpolate_pos_encoding=interpolate_pos_encoding, **kwargs)

    def compute_logits(
        self,
        image_embeds: torch.Tensor,
        text_embeds: torch.Tensor,
        negated_text_embeds: torch.Tensor,
        is_split: torch.Tensor,
    ) -> torch.Tensor:
        """Dual-polarity `logits_per_text` (T, I) from NORMALISED embeddings, e.g. cached image embeddings."""
        logits = text_embeds @ image_embeds.t()  # (T, I), the same product CLIPModel computes
        rows = is_split.nonzero(as_tuple=True)[0]  # only split prompts pay for the negated product
        if len(rows):
            similarity = negated_text_embeds[rows] @ image_embeds.t()  # (S, I)
            # Evidence that the negated concept is present: its similarity above the threshold t, and a soft
            # hinge above the knee u (softplus with a width of _KNEE_SOFTNESS in cosine).
            knee = _KNEE_SOFTNESS * nn.functional.softplus((similarity - self.negated_knee_threshold) / _KNEE_SOFTNESS)
            penalty = self.negated_weight.clamp(min=0) * (similarity - self.negated_threshold)
            penalty = penalty + self.negated_knee_weight.clamp(min=0) * knee
            logits = logits.index_put((rows,), logits[rows] - penalty)
        elif any(p.requires_grad for p in self.polarity_parameters()):
            # Keep the polarity parameters in the graph (zero gradient), as DDP and backward expect.
            logits = logits + 0.0 * sum(p.sum() for p in self.polarity_parameters())
        return logits * self.clip.logit_scale.exp()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.FloatTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        token_labels: torch.LongTensor | None = None,
        return_loss: bool | None = None,
        interpolate_pos_encoding: bool = False,
        encode_split: bool = True,
        return_dict: bool | None = None,
        image_embeds: torch.FloatTensor | None = None,
    ) -> NegCLIPOutput | tuple:
        r"""
        token_labels (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
            Gold token tags (0 affirmed, 1 negation cue, 2 negated, -100 ignored); adds the token loss. The head
            then reads every prompt, the ones the cue gate keeps from it at inference too.
        return_loss (`bool`, *optional*):
            Add the contrastive loss on the dual-polarity logits (needs as many images as prompts).

        encode_split (`bool`, *optional*, defaults to `True`):
            `False` computes only the token logits (and the token loss): what training the head needs. Only CLIP's
            first `config.negation_head_source_layer` text layers run. Images cannot be scored then.

        image_embeds (`torch.FloatTensor` of shape `(image_batch_size, projection_dim)`, *optional*):
            Image embeddings (`get_image_features(...).pooler_output`, e.g. computed once for a frozen CLIP) in place
            of `pixel_values`; normalised here.

        The split always uses the head's own predictions, never `token_labels`, so training sees what
        inference does.
        """
        if pixel_values is not None and image_embeds is not None:
            raise ValueError("give pixel_values or image_embeds, not both")
        if not encode_split:
            if pixel_values is not None or image_embeds is not None:
                raise ValueError("encode_split=False gives token logits only; images need the split (encode_split=True)")
            # CLIP's first layers only.
            token_logits, _ = self.get_token_logits(input_ids, attention_mask, position_ids, token_labels is not None)
            text = NegCLIPTextOutput(token_logits=token_logits)
            text_embeds = negated_embeds = None
        else:
            text = self.get_text_polarity_features(input_ids, attention_mask, position_ids, token_labels is not None)
            text_embeds = _normalise(text.text_embeds)
            negated_embeds = _normalise(text.negated_text_embeds)

        vision_outputs = logits_per_text = None
        if pixel_values is not None:
            if pixel_values.dim() != 4 or pixel_values.shape[0] == 0:
                raise ValueError(
                    f"pixel_values must have shape (batch > 0, channels, height, width), got {tuple(pixel_values.shape)}"
                )
            vision_outputs = self.get_image_features(pixel_values, interpolate_pos_encoding=interpolate_pos_encoding)
            image_embeds = vision_outputs.pooler_output
        elif image_embeds is not None:
            projection_dim = self.config.clip_config.projection_dim
            if image_embeds.dim() != 2 or image_embeds.shape[0] == 0 or image_embeds.shape[1] != projection_dim:
                raise ValueError(f"image_embeds must have shape (batch > 0, {projection_dim}), got {tuple(image_embeds.shape)}")
        if image_embeds is not None:
            image_embeds = _normalise(image_embeds)
            logits_per_text = self.compute_logits(image_embeds, text_embeds, negated_embeds, text.is_split)

        losses = []
        if return_loss and logits_per_text is not None:
            if logits_per_text.shape[0] != logits_per_text.shape[1]:
                raise ValueError(
                    f"return_loss needs one image per prompt, got {logits_per_text.shape[0]} prompts and "
                    f"{logits_per_text.shape[1]} images"
                )
            losses.append(image_text_contrastive_loss(logits_per_text))
        if token_labels is not None:
            if token_labels.shape != input_ids.shape:
                raise ValueError(f"token_labels shape {tuple(token_labels.shape)} differs from input_ids {tuple(input_ids.shape)}")
            losses.append(token_classification_loss(text.token_logits, token_labels))

        output = NegCLIPOutput(
            loss=sum(losses) if losses else None,
            logits_per_image=logits_per_text.t() if logits_per_text is not None else None,
            logits_per_text=logits_per_text,
            text_embeds=text_embeds,
            image_embeds=image_embeds,
            negated_text_embeds=negated_embeds,
            token_logits=text.token_logits,
            is_split=text.is_split,
            text_model_output=text.text_model_output,
            vision_model_output=vision_outputs,
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        return output if return_dict else output.to_tuple()

    @torch.no_grad()
    def split_prompts(self, texts: list[str], tokenizer) -> list[NegCLIPSplit]:
        """Each prompt's positive, negated and cue parts as strings, for people and for debugging.

        `tokenizer`: CLIP's fast tokenizer, or a processor holding one. Typographic quotes are read as ASCII ones
        (see `negation_cues.fold_typographic_quotes`); the parts are cut from the prompt as given."""
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            raise ValueError("split_prompts needs at least one prompt, got an empty list")
        if not all(isinstance(text, str) for text in texts):
            raise TypeError(f"split_prompts needs a list of strings, got {[type(t).__name__ for t in texts][:5]}")
        tokenizer = _text_tokenizer(tokenizer)
        if any(_letters_all_non_latin(text) for text in texts):
            logger.warning_once(
                "Some prompts have letters but no Latin ones: NegCLIP reads English negation cues only, so they are not split "
                "and score as plain CLIP scores them."
            )
        positions = self.config.clip_config.text_config.max_position_embeddings
        folded = [fold_typographic_quotes(text) for text in texts]
        encoded = tokenizer(
            folded, padding=True, truncation=True, max_length=positions,
            return_offsets_mapping=True, return_overflowing_tokens=False, return_tensors="pt",
        )
        full_lengths = tokenizer(folded, truncation=False, verbose=False)["input_ids"]
        if any(len(ids) > positions for ids in full_lengths):
            logger.warning_once(f"Some prompts exceed CLIP's {positions} token positions and were truncated, as CLIP does.")
        device = self.negated_weight.device
        input_ids = encoded["input_ids"].to(device)
        attention_mask = encoded["attention_mask"].to(device)
        token_logits, _ = self.get_token_logits(input_ids, attention_mask)
        tags = self.tag_tokens(token_logits, input_ids, attention_mask).cpu()
        content = content_mask(input_ids, attention_mask, self._eos_token_id).cpu()
        splits = []
        for row, prompt in enumerate(texts):
            spans = {label: [] for label in (AFFIRMED_ID, NEGATION_CUE_ID, NEGATED_ID)}
            positions = content[row].nonzero(as_tuple=True)[0].tolist()
            for position in positions:
                spans[int(tags[row, position])].append(tuple(encoded["offset_mapping"][row, position].tolist()))
            negated = _join_spans(prompt, spans[NEGATED_ID])
            if negated:
                positive, cues = _join_spans(prompt, spans[AFFIRMED_ID]), _join_spans(prompt, spans[NEGATION_CUE_ID])
            else:  # not split: scored as CLIP scores the whole (possibly truncated) prompt, a lone cue included
                offsets = encoded["offset_mapping"][row]
                positive = prompt[offsets[positions[0], 0] : offsets[positions[-1], 1]] if positions else ""
                cues = ""
            splits.append(NegCLIPSplit(prompt, positive, negated, cues))
        return splits


def _text_tokenizer(tokenizer):
    """The tokenizer itself, or a processor's; a clear error for anything else."""
    tokenizer = getattr(tokenizer, "tokenizer", tokenizer)  # a CLIPProcessor holds its tokenizer
    if not isinstance(tokenizer, PreTrainedTokenizerBase) or not tokenizer.is_fast:
        raise TypeError(
            f"split_prompts needs CLIP's fast tokenizer (or a processor holding one), got {type(tokenizer).__name__}; "
            "load it with AutoProcessor.from_pretrained(checkpoint, trust_remote_code=True)"
        )
    return tokenizer


def _letters_all_non_latin(text: str) -> bool:
    """True for a prompt written in another script ("一只猫"): it has letters, none of them Latin."""
    letters = [char for char in text if char.isalpha()]
    return bool(letters) and not any("LATIN" in unicodedata.name(char, "") for char in letters)


def negated_query(embeds: torch.Tensor, adapter: torch.Tensor) -> torch.Tensor:
    """The negated-concept adapter's map, `n + A n` for each row `n` of `embeds` (A: `(P, P)`)."""
    return embeds + embeds @ adapter.to(embeds.dtype).t()


def _normalise(embeds: torch.Tensor) -> torch.Tensor:
    """L2-normalise as CLIPModel does (its `_get_vector_norm`), leaving all-zero rows at zero."""
    norm = torch.pow(torch.sum(torch.pow(embeds, 2), dim=-1, keepdim=True), 0.5)
    return embeds / torch.where(norm == 0, torch.ones_like(norm), norm)


def _join_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """Cut character spans from `text`; touching or shared spans (byte pieces of one character) join
    directly, others with one space."""
    pieces, last_end = [], None
    for start, end in spans:
        if pieces and start <= last_end:
            pieces[-1] += text[last_end:end]
        else:
            pieces.append(text[start:end])
        last_end = max(end, last_end or 0)
    return " ".join(pieces)


__all__ = ["NegCLIPModel", "NegCLIPPreTrainedModel", "NegCLIPOutput", "NegCLIPTextOutput", "NegCLIPSplit"]
