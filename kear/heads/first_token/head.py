"""KEAR's head: the first token's state, which the choice scorer (dropout, then a linear layer) turns into a score."""

from __future__ import annotations

import torch

from ..base import Head, HeadOutput, register_head
from .config import FirstTokenSettings


@register_head
class FirstTokenHead(Head):
    name = "first_token"
    settings_class = FirstTokenSettings

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> HeadOutput:
        return HeadOutput(hidden_states[:, 0])
