"""The interface every pooling head implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from retrieval.settings import check_int

from .ops import pool


@dataclass
class HeadOutput:
    """A head's result: one vector per sequence, and optionally a loss to add to the task loss."""

    pooled: torch.Tensor  # [sequences, hidden]
    aux_loss: torch.Tensor | None = None


class Head(nn.Module):
    """Pools ``hidden_states [N, L, H]`` under ``attention_mask [N, L]`` into ``[N, H]``.

    Subclasses set ``name`` (what configs call them) and ``settings_class`` (a dataclass of their settings).
    Padded positions must not change the result: a padded batch gives the same vectors as the same sequences
    run unpadded.
    """

    name: ClassVar[str]
    settings_class: ClassVar[type]

    def __init__(self, hidden_size: int, settings: Any) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.settings = settings

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> HeadOutput:
        raise NotImplementedError


HEADS: dict[str, type[Head]] = {}


def register_head(cls: type[Head]) -> type[Head]:
    """Class decorator: make a head available by its ``name``."""
    HEADS[cls.name] = cls
    return cls


def check_counts(settings: object, *keys: str) -> None:
    """Raise :class:`SettingError` unless each of the ``keys`` of ``settings`` (slots, heads...) is an integer >= 1."""
    for key in keys:
        check_int(getattr(settings, key), key, 1)


class ResidualMemoryHead(Head):
    """Shared by EANet and RTFormer: ``norm(F + W_o EA(W_q F))`` over a memory the subclass builds, then pooled.

    Subclasses set ``self.query`` (a linear map of the states) and ``self.memory`` (a ``MemoryAttention``), then
    call ``_build_output``; the order of those three fixes how a seed initialises the weights.
    """

    def _build_output(self) -> None:
        self.output = nn.Linear(self.hidden_size, self.hidden_size)
        self.norm = nn.LayerNorm(self.hidden_size)

    def maps(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor):
        """The attention maps before and after the L1 step (for inspection and tests)."""
        return self.memory.maps(self.query(hidden_states), attention_mask)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> HeadOutput:
        attended = self.memory(self.query(hidden_states), attention_mask)
        states = self.norm(hidden_states + self.output(attended))
        return HeadOutput(pool(states, attention_mask, self.settings.pooling))
