"""NegCLIP configuration: a wrapped `CLIPConfig` plus the negation head and the polarity weight.

This file imports nothing but transformers, so a Hub checkpoint that carries it loads with
`trust_remote_code=True` where the NegCLIP package is not installed.
"""

from transformers import CLIPConfig, PretrainedConfig

NEGATION_LABELS = ("affirmed", "negation_cue", "negated")
AFFIRMED_ID, NEGATION_CUE_ID, NEGATED_ID = 0, 1, 2
IGNORE_INDEX = -100  # a token without a label (PyTorch's cross-entropy default): specials, unlabelled words
NEGATION_HEAD_ENCODERS = ("lstm", "transformer")
# What a checkpoint saved before each of these fields existed was trained with.
LEGACY_HEAD_FIELDS = {
    "negation_head_source_layer": None, "negation_head_encoder": "transformer", "negation_head_token_embedding_size": 0,
}


class NegCLIPConfig(PretrainedConfig):
    r"""
    Configuration of a [`NegCLIPModel`]: a `CLIPModel` plus a token-classification head that tags each prompt
    token as affirmed, negation cue or negated, and the weight of the negated similarity.

    Args:
        clip_config (`dict` or `CLIPConfig`, *optional*):
            Configuration of the wrapped `CLIPModel` (its `text_config` and `vision_config` nested as in
            `CLIPConfig`). Defaults to `CLIPConfig()`, shaped like `openai/clip-vit-base-patch32`.
        negation_head_encoder (`str`, *optional*, defaults to `"lstm"`):
            The head's sequence layers: `"lstm"` (bidirectional LSTM layers, each direction half the head width,
            with a residual connection and a layer norm around them) or `"transformer"` (bidirectional transformer
            encoder layers). An LSTM reads the prompt in order, which suits scopes that run from a cue to a boundary;
            on the offline shapes base it generalised to unseen prompts better (the project's docs/experiments.md gives the
            measurements and commands). Checkpoints saved before this field existed had transformer layers and load
            with `"transformer"`.
        negation_head_layers (`int`, *optional*, defaults to 2):
            Bidirectional layers of the negation head. CLIP's text encoder is causal, so a token cannot see a cue
            that follows it ("a jacket is not present"); these layers let it. At least 1.
        negation_head_hidden_size (`int`, *optional*, defaults to 192):
            Width of the head layers, whatever CLIP's width: tagging three labels needs little, and a fixed width
            keeps the head's cost a small share of a large text encoder (CLIP-B/32's is 512 wide).
        negation_head_heads (`int`, *optional*, defaults to 4):
            Attention heads of each transformer head layer; must divide `negation_head_hidden_size`.
        negation_head_intermediate_size (`int`, *optional*):
            Feed-forward width of each transformer head layer. Defaults to twice `negation_head_hidden_size`.
        negation_head_dropout (`float`, *optional*, defaults to 0.1):
            Dropout inside the head layers, in [0, 1).
        negation_head_source_layer (`int`, *optional*, defaults to 0):
            How many of CLIP's text encoder layers run before the head reads their states (through CLIP's final
            layer norm): 0 (the token and position embeddings only) up to the text encoder's `num_hidden_layers`.
            `None` means all of them, i.e. CLIP's `last_hidden_state`, which is what checkpoints saved before this
            field existed were trained on (they load with `None`). A low layer is cheaper: a prompt that is split
            stops there (its positive and negated parts are encoded from scratch), and only the prompts that are not
            split run the remaining layers. 0 is the default: on the offline shapes base, a head reading the
            embeddings generalised to unseen prompts better than one reading layer 1 (the project's docs/experiments.md gives the
            measurements and commands).
        negation_head_token_embedding_size (`int`, *optional*, defaults to 0):
            Width of the head's own trainable token embeddings, read beside CLIP's frozen ones (0: none). CLIP's
            embeddings of a small or narrowly trained CLIP know few words, and a linear map of frozen vectors gives
            the head little room to learn word classes of real text; its own table costs `vocab_size x` this many
            parameters (3.2 million at 64, more than the rest of NegCLIP) and a lookup. Off by default: at 64 wide it
            moved the splitter's figures within a seed's spread (the project's docs/experiments.md).
        negation_cue_words (`list[str]`, *optional*):
            The cue gate: the head reads only prompts holding a token of one of these words; the others are tagged
            all affirmed and score exactly as CLIP scores them. Set it, with `negation_cue_token_ids`, through
            `NegCLIPModel.set_negation_cue_words(tokenizer)` (the project's training script does). `None` (the
            default, and what checkpoints saved before the gate existed load with): the head reads every prompt.
        negation_cue_token_ids (`list[int]`, *optional*):
            The tokenizer ids the gate looks for: the first BPE token of each of `negation_cue_words`.
        negated_weight_init (`float`, *optional*, defaults to 1.0):
            Initial weight `w` of the negated similarity `c` in `logit = scale * (cos(image, positive) - w * (c - t)
            - v * knee(c - u))`, `t` a learned threshold (0 at first; `v`, `u`: the knee, see `NegCLIPModel`).
            Learned; must be >= 0.
        freeze_clip (`bool`, *optional*, defaults to `True`):
            Whether the wrapped CLIP's parameters are frozen, so training moves only the head and the polarity parameters.
        id2label (`dict[int, str]`, *optional*):
            The token labels; defaults to `{0: "affirmed", 1: "negation_cue", 2: "negated"}`, which is the only
            label set the split understands.
    """

    model_type = "negclip"
    sub_configs_defaults = {"clip_config": CLIPConfig}

    clip_config: dict | CLIPConfig | None = None
    negation_head_encoder: str = "lstm"
    negation_head_layers: int = 2
    negation_head_hidden_size: int = 192
    negation_head_heads: int = 4
    negation_head_intermediate_size: int | None = None
    negation_head_dropout: float = 0.1
    negation_head_source_layer: int | None = 0
    negation_head_token_embedding_size: int = 0
    negation_cue_words: list[str] | None = None
    negation_cue_token_ids: list[int] | None = None
    negated_weight_init: float = 1.0
    freeze_clip: bool = True

    def __post_init__(self, **kwargs):
        if self.id2label is None:
            self.id2label = dict(enumerate(NEGATION_LABELS))
            self.label2id = {label: i for i, label in self.id2label.items()}
        super().__post_init__(**kwargs)
        self._check_values()

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs) -> "NegCLIPConfig":
        """`PretrainedConfig.from_dict`; a config saved before a head field existed gets what its head was trained
        with: `negation_head_source_layer=None` (the last layer), `negation_head_encoder="transformer"` and no token
        embeddings of its own."""
        config_dict = {**LEGACY_HEAD_FIELDS, **config_dict}
        return super().from_dict(config_dict, **kwargs)

    def _check_values(self):
        """Raise a `ValueError` quoting the first bad field."""
        labels = tuple(self.id2label[i] for i in sorted(self.id2label))
        if labels != NEGATION_LABELS:
            raise ValueError(f"NegCLIPConfig: id2label must name {NEGATION_LABELS} in order, got {self.id2label!r}")
        if self.negation_head_encoder not in NEGATION_HEAD_ENCODERS:
            raise ValueError(
                f"NegCLIPConfig: negation_head_encoder must be one of {NEGATION_HEAD_ENCODERS}, got {self.negation_head_encoder!r}"
            )
        if not isinstance(self.negation_head_layers, int) or self.negation_head_layers < 1:
            raise ValueError(f"NegCLIPConfig: negation_head_layers must be an int >= 1, got {self.negation_head_layers!r}")
        hidden = self.negation_head_hidden_size
        if not isinstance(hidden, int) or isinstance(hidden, bool) or hidden < 1:
            raise ValueError(f"NegCLIPConfig: negation_head_hidden_size must be an int >= 1, got {hidden!r}")
        if self.negation_head_encoder == "lstm" and hidden % 2:
            raise ValueError(f"NegCLIPConfig: an lstm head needs an even negation_head_hidden_size (two directions), got {hidden}")
        heads = self.negation_head_heads
        if self.negation_head_encoder == "transformer" and (not isinstance(heads, int) or heads < 1 or hidden % heads):
            raise ValueError(
                f"NegCLIPConfig: negation_head_heads={self.negation_head_heads!r} must be an int >= 1 dividing "
                f"negation_head_hidden_size {hidden}"
            )
        if self.negation_head_intermediate_size is not None and (
            not isinstance(self.negation_head_intermediate_size, int) or self.negation_head_intermediate_size < 1
        ):
            raise ValueError(
                "NegCLIPConfig: negation_head_intermediate_size must be None or an int >= 1, got "
                f"{self.negation_head_intermediate_size!r}"
            )
        size = self.negation_head_token_embedding_size
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"NegCLIPConfig: negation_head_token_embedding_size must be an int >= 0, got {size!r}")
        layers = self.clip_config.text_config.num_hidden_layers
        source = self.negation_head_source_layer
        if source is not None and (not isinstance(source, int) or isinstance(source, bool) or not 0 <= source <= layers):
            raise ValueError(
                f"NegCLIPConfig: negation_head_source_layer={source!r} must be None or an int from 0 to the text "
                f"encoder's {layers} layers"
            )
        self._check_cue_gate()
        if not 0.0 <= self.negation_head_dropout < 1.0:
            raise ValueError(f"NegCLIPConfig: negation_head_dropout must be in [0, 1), got {self.negation_head_dropout!r}")
        if not self.negated_weight_init >= 0.0:
            raise ValueError(f"NegCLIPConfig: negated_weight_init must be >= 0, got {self.negated_weight_init!r}")

    def _check_cue_gate(self):
        check_negation_cue_gate(
            self.negation_cue_words, self.negation_cue_token_ids, self.clip_config.text_config.vocab_size
        )


def check_negation_cue_gate(words: list[str] | None, ids: list[int] | None, vocab_size: int) -> None:
    """Raise a `ValueError` unless the cue gate's words and token ids are both None, or both non-empty with every id
    below `vocab_size`: what the config and `NegCLIPModel.set_negation_cue_words` accept."""
    if (words is None) != (ids is None):
        raise ValueError("NegCLIPConfig: negation_cue_words and negation_cue_token_ids are set together or not at all")
    if ids is None:
        return
    if not words or not all(isinstance(word, str) and word.strip() for word in words):
        raise ValueError(f"NegCLIPConfig: negation_cue_words must be a non-empty list of words, got {words!r}")
    if not ids or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < vocab_size for i in ids):
        raise ValueError(
            f"NegCLIPConfig: negation_cue_token_ids must be a non-empty list of token ids below the vocabulary "
            f"size {vocab_size}, got {ids!r}"
        )

__all__ = ["NegCLIPConfig", "NEGATION_LABELS"]
