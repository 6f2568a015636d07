"""EANet external attention: ``A = norm(F M_k^T)``, ``out = A M_v``, then an output projection, a residual
connection and layer norm, and pooling."""

from __future__ import annotations

import torch
from torch import nn

from ..base import Head, HeadOutput, register_head
from ..ops import MemoryAttention, pool
from .config import EANetSettings


@register_head
class EANetHead(Head):
    name = "eanet"
    settings_class = EANetSettings

    def __init__(self, hidden_size: int, settings: EANetSettings) -> None:
        super().__init__(hidden_size, settings)
        self.query = nn.Linear(hidden_size, hidden_size)
        self.memory = MemoryAttention(hidden_size, settings.slots, settings.heads, eps=settings.eps)
        self.output = nn.Linear(hidden_size, hidden_size)
        self.norm = nn.LayerNorm(hidden_size)

    def maps(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor):
        """The attention maps before and after the L1 step (for inspection and tests)."""
        return self.memory.maps(self.query(hidden_states), attention_mask)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> HeadOutput:
        attended = self.memory(self.query(hidden_states), attention_mask)
        states = self.norm(hidden_states + self.output(attended))
        return HeadOutput(pool(states, attention_mask, self.settings.pooling))
