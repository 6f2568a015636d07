"""EANet external attention: ``A = norm(F M_k^T)``, ``out = A M_v``, then an output projection, a residual
connection and layer norm, and pooling."""

from __future__ import annotations

from torch import nn

from ..base import ResidualMemoryHead, register_head
from ..ops import MemoryAttention
from .config import EANetSettings


@register_head
class EANetHead(ResidualMemoryHead):
    name = "eanet"
    settings_class = EANetSettings

    def __init__(self, hidden_size: int, settings: EANetSettings) -> None:
        super().__init__(hidden_size, settings)
        self.query = nn.Linear(hidden_size, hidden_size)
        self.memory = MemoryAttention(hidden_size, settings.slots, settings.heads, eps=settings.eps)
        self._build_output()
