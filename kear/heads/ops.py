"""Operations the memory-unit heads share: masked softmax over tokens, double normalisation, masked pooling.

Memory-unit *external attention* (EANet and its descendants) attends from each token to a small learned
memory of ``S`` slots instead of to the other tokens: cost linear in the sequence length, parameters shared by
all inputs. (KEAR's *external attention* is something else: knowledge put into the input as text.)
"""

from __future__ import annotations

import torch
from torch import nn


def double_normalize(
    scores: torch.Tensor, mask: torch.Tensor, groups: int = 1, eps: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """EANet's double normalisation of token-to-slot scores ``[..., L, S]`` under ``mask [..., L]``.

    A softmax over the token axis (padded tokens get no weight), then an L1 normalisation over the slots (within
    ``groups`` equal groups of slots), in float32 whatever the input's precision. Returns both maps: after the
    softmax (each slot's weights over tokens sum to 1) and after the L1 step (each token's weights over the slots
    of a group sum to 1).
    """
    scores = scores.float().masked_fill(~mask.bool()[..., None], float("-inf"))
    over_tokens = scores.softmax(dim=-2)
    grouped = over_tokens.unflatten(-1, (groups, over_tokens.shape[-1] // groups))
    over_slots = (grouped / (grouped.sum(-1, keepdim=True) + eps)).flatten(-2)
    return over_tokens, over_slots


class MemoryAttention(nn.Module):
    """Attention over a learned memory: ``F M_k^T``, double normalisation, then ``A M_v``.

    Args:
        width: channels of the input.
        slots: memory slots ``S``.
        heads: channel groups that share the same memory (EANet's and RTFormer's multi-head variant).
        groups: groups of slots the L1 normalisation runs within (RTFormer's grouped variant).
        eps: the L1 step's epsilon.
    """

    def __init__(self, width: int, slots: int, heads: int = 1, groups: int = 1, eps: float = 1e-6) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"{width} channels do not split into {heads} heads")
        if slots % groups:
            raise ValueError(f"{slots} slots do not split into {groups} groups")
        self.heads, self.groups, self.eps = heads, groups, eps
        self.key = nn.Linear(width // heads, slots, bias=False)  # M_k
        self.value = nn.Linear(slots, width // heads, bias=False)  # M_v

    def maps(self, states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The attention maps ``[N, heads, L, S]`` before and after the L1 step."""
        n, length, width = states.shape
        per_head = states.view(n, length, self.heads, width // self.heads).transpose(1, 2)
        return double_normalize(self.key(per_head), mask[:, None, :], self.groups, self.eps)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        n, length, width = states.shape
        _, attention = self.maps(states, mask)
        out = self.value(attention.to(states.dtype))  # [N, heads, L, width / heads]
        return out.transpose(1, 2).reshape(n, length, width)


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the states of real tokens."""
    weights = mask.to(states.dtype)[..., None]
    return (states * weights).sum(1) / weights.sum(1).clamp(min=1)


def pool(states: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """``mean`` of the real tokens, or the ``first`` token."""
    if how == "first":
        return states[:, 0]
    if how == "mean":
        return masked_mean(states, mask)
    raise ValueError(f"unknown pooling '{how}' (mean or first)")
