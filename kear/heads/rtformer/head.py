"""RTFormer's external attention: a memory whose size is a ratio of the hidden size, shared by all heads, or,
in the grouped (GPU-friendly) variant, one full-width memory normalised within groups of slots."""

from __future__ import annotations

from torch import nn

from ..base import ResidualMemoryHead, register_head
from ..ops import MemoryAttention
from .config import RTFormerSettings


@register_head
class RTFormerHead(ResidualMemoryHead):
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
        self._build_output()
