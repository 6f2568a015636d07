"""Two pooling channels, summed: attention pooling with one learned query, and the mean of a multi-head external
attention over the tokens; both masked."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..base import Head, HeadOutput, register_head
from ..ops import MemoryAttention, masked_mean
from .config import LEAGCNSettings


@register_head
class LEAGCNHead(Head):
    name = "lea_gcn"
    settings_class = LEAGCNSettings

    def __init__(self, hidden_size: int, settings: LEAGCNSettings) -> None:
        super().__init__(hidden_size, settings)
        self.pool_query = nn.Parameter(torch.randn(hidden_size) * 0.02)
        self.pool_key = nn.Linear(hidden_size, hidden_size)
        self.query = nn.Linear(hidden_size, hidden_size)
        self.memory = MemoryAttention(hidden_size, settings.slots, settings.heads, eps=settings.eps)
        self.output = nn.Linear(hidden_size, hidden_size)

    def maps(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor):
        return self.memory.maps(self.query(hidden_states), attention_mask)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> HeadOutput:
        scores = self.pool_key(hidden_states) @ self.pool_query / math.sqrt(self.hidden_size)
        weights = scores.float().masked_fill(~attention_mask.bool(), float("-inf")).softmax(-1)
        attention_pooled = torch.einsum("nl,nlh->nh", weights.to(hidden_states.dtype), hidden_states)
        external = self.output(self.memory(self.query(hidden_states), attention_mask))
        return HeadOutput(attention_pooled + masked_mean(external, attention_mask))
