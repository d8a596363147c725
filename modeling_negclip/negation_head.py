"""NegCLIP's negation head: bidirectional layers (LSTM or transformer) and a 3-way token classifier over CLIP's
text states. Only torch and the sibling config here: this file travels with every checkpoint.
"""

import torch
from torch import nn

from .configuration_negclip import NegCLIPConfig


class NegCLIPTokenClassifier(nn.Linear):
    """The head's last layer: a `nn.Linear` with its own type so `_init_weights` can start it at "affirmed"."""


class NegCLIPBiLSTM(nn.Module):
    """Bidirectional LSTM layers (each direction half the width) with a residual connection and a layer norm.

    Padded positions are packed away (`pack_padded_sequence`), so the backward direction of each prompt starts at
    its own last token and a row's tags do not depend on how far the batch is padded."""

    def __init__(self, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.lstm = nn.LSTM(
            hidden_size, hidden_size // 2, num_layers=num_layers, batch_first=True, bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden_size)

    def forward(self, states: torch.Tensor, src_key_padding_mask: torch.Tensor) -> torch.Tensor:
        lengths = (~src_key_padding_mask).sum(dim=1)  # (B,)
        positions = torch.arange(states.shape[1], device=states.device)
        if not torch.equal(positions[None, :] < lengths[:, None], ~src_key_padding_mask) or not bool((lengths > 0).all()):
            raise ValueError(
                "The LSTM negation head needs right-padded prompts (attention_mask 1s, then 0s, at least one 1 per row); "
                "CLIP's tokenizer pads on the right"
            )
        lengths = lengths.cpu()  # pack_padded_sequence takes lengths on the CPU
        packed = nn.utils.rnn.pack_padded_sequence(states, lengths, batch_first=True, enforce_sorted=False)
        outputs, _ = self.lstm(packed)
        outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True, total_length=states.shape[1])
        return self.norm(self.dropout(outputs) + states)  # (B, T, H)


class NegCLIPNegationHead(nn.Module):
    """Bidirectional layers over CLIP's (causal) text states, then a 3-way token classifier.

    The input is each token's CLIP state after `config.negation_head_source_layer` layers (through CLIP's final
    layer norm) joined with its input token embedding: the state knows the context before the token, the
    embedding keeps the token's identity sharp (a small or weakly trained text encoder blurs it), and the
    bidirectional layers (`config.negation_head_encoder`: LSTM or transformer) add the context after it. At source
    layer 0 (the default) the state is the token and position embedding through the final layer norm, and the
    head's own layers supply all the context. With `config.negation_head_token_embedding_size > 0` the head also
    reads token embeddings of its own, trained with it.
    """

    def __init__(self, config: NegCLIPConfig):
        super().__init__()
        clip_hidden, hidden = config.clip_config.text_config.hidden_size, config.negation_head_hidden_size
        self.embedding_norm = nn.LayerNorm(clip_hidden)  # token embeddings are tiny (std ~0.02) next to the states
        own = config.negation_head_token_embedding_size
        self.token_embedding = nn.Embedding(config.clip_config.text_config.vocab_size, own) if own else None
        self.input_projection = nn.Linear(2 * clip_hidden + own, hidden)
        if config.negation_head_encoder == "lstm":
            self.encoder = NegCLIPBiLSTM(hidden, config.negation_head_layers, config.negation_head_dropout)
        else:
            layer = nn.TransformerEncoderLayer(
                d_model=hidden,
                nhead=config.negation_head_heads,
                dim_feedforward=config.negation_head_intermediate_size or 2 * hidden,
                dropout=config.negation_head_dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            self.encoder = nn.TransformerEncoder(
                layer, config.negation_head_layers, norm=nn.LayerNorm(hidden), enable_nested_tensor=False
            )
        self.classifier = NegCLIPTokenClassifier(hidden, config.num_labels)

    def forward(
        self, hidden_states: torch.Tensor, token_embeddings: torch.Tensor, attention_mask: torch.Tensor,
        input_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        parts = [hidden_states, self.embedding_norm(token_embeddings)]
        if self.token_embedding is not None:
            if input_ids is None:
                raise ValueError("this negation head reads its own token embeddings: pass input_ids")
            parts.append(self.token_embedding(input_ids))
        joined = torch.cat(parts, dim=-1)  # (B, T, 2H + own)
        states = self.input_projection(joined)  # (B, T, head width)
        states = self.encoder(states, src_key_padding_mask=~attention_mask.bool())  # (B, T, head width)
        return self.classifier(states)  # (B, T, 3)


__all__ = ["NegCLIPBiLSTM", "NegCLIPNegationHead", "NegCLIPTokenClassifier"]
