"""Stepwise interactive external attention: the similarity maps of several key memories are fused step by step,
``a_{h+1} = W_h [a_h; q_{h+1}]``, before the double normalisation; descriptors then pool the attended tokens."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..base import Head, HeadOutput, register_head
from ..ops import double_normalize
from .config import SIEASettings


@register_head
class SIEAHead(Head):
    name = "agmh_siea"
    settings_class = SIEASettings

    def __init__(self, hidden_size: int, settings: SIEASettings) -> None:
        super().__init__(hidden_size, settings)
        slots = settings.slots
        self.query = nn.Linear(hidden_size, hidden_size)
        self.keys = nn.ModuleList(nn.Linear(hidden_size, slots, bias=False) for _ in range(settings.memories))
        self.fuse = nn.ModuleList(nn.Linear(2 * slots, slots) for _ in range(settings.memories - 1))
        self.value = nn.Linear(slots, hidden_size, bias=False)
        self.output = nn.Linear(hidden_size, hidden_size)
        self.norm = nn.LayerNorm(hidden_size)
        self.descriptors = nn.Parameter(torch.randn(settings.descriptors, hidden_size) * 0.02)
        self.combine = nn.Linear(settings.descriptors * hidden_size, hidden_size)

    def _scores(self, states: torch.Tensor) -> torch.Tensor:
        query = self.query(states)
        fused = self.keys[0](query)
        for key, fuse in zip(self.keys[1:], self.fuse):
            fused = fuse(torch.cat([fused, key(query)], dim=-1))
        return fused

    def maps(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor):
        return double_normalize(self._scores(hidden_states), attention_mask, eps=self.settings.eps)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> HeadOutput:
        _, attention = self.maps(hidden_states, attention_mask)
        attended = self.value(attention.to(hidden_states.dtype))
        states = self.norm(hidden_states + self.output(attended))
        logits = torch.einsum("nlh,dh->ndl", states, self.descriptors) / math.sqrt(self.hidden_size)
        weights = logits.float().masked_fill(~attention_mask.bool()[:, None, :], float("-inf")).softmax(-1)
        described = torch.einsum("ndl,nlh->ndh", weights.to(states.dtype), states)
        pooled = self.combine(described.flatten(1))
        aux = None
        count = weights.shape[1]
        if self.settings.dispersion_weight > 0 and count > 1:
            overlap = torch.einsum("ndl,nel->nde", weights, weights)  # how much two descriptors share tokens
            off_diagonal = overlap.sum((-1, -2)) - overlap.diagonal(dim1=-2, dim2=-1).sum(-1)
            aux = self.settings.dispersion_weight * (off_diagonal / (count * (count - 1))).mean()
        return HeadOutput(pooled, aux)
