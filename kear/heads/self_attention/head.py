"""One extra Transformer encoder layer over the encoder's states, with padded tokens masked, then pooling."""

from __future__ import annotations

import torch
from torch import nn

from ..base import Head, HeadOutput, register_head
from ..ops import pool
from .config import SelfAttentionSettings


@register_head
class SelfAttentionHead(Head):
    name = "self_attention"
    settings_class = SelfAttentionSettings

    def __init__(self, hidden_size: int, settings: SelfAttentionSettings) -> None:
        super().__init__(hidden_size, settings)
        self.layer = nn.TransformerEncoderLayer(
            hidden_size, settings.heads, settings.feedforward * hidden_size, settings.dropout, batch_first=True
        )

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> HeadOutput:
        states = self.layer(hidden_states, src_key_padding_mask=~attention_mask.bool())
        return HeadOutput(pool(states, attention_mask, self.settings.pooling))
