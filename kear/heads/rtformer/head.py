"""RTFormer's external attention: a memory whose size is a ratio of the hidden size, shared by all heads, or,
in the grouped (GPU-friendly) variant, one full-width memory normalised within groups of slots."""

from __future__ import annotations

import torch
from torch import nn

from ..base import Head, HeadOutput, register_head
from ..ops import MemoryAttention, pool
from .config import RTFormerSettings


@register_head
class RTFormerHead(Head):
    name = "rtformer"
    settings_class = RTFormerSettings

    def __init__(self, hidden_size: int, settings: RTFormerSettings) -> None:
        super().__init__(hidden_size, settings)
        slots = max(1, round(settings.memory_ratio * hidden_size))
        if settings.grouped:
            slots = max(settings.groups, slots // settings.groups * settings.groups)
            self.memory = MemoryAttention(hidden_size, slots, heads=1, groups=settings.groups, eps=settings.eps)
        else:
            self.memory = MemoryAttention(hidden_size, slots, heads=settings.heads, eps=settings.eps)
        self.query = nn.Linear(hidden_size, hidden_size)
        self.output = nn.Linear(hidden_size, hidden_size)
        self.norm = nn.LayerNorm(hidden_size)

    def maps(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor):
        return self.memory.maps(self.query(hidden_states), attention_mask)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> HeadOutput:
        attended = self.memory(self.query(hidden_states), attention_mask)
        states = self.norm(hidden_states + self.output(attended))
        return HeadOutput(pool(states, attention_mask, self.settings.pooling))
