"""Settings of the RTFormer head."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RTFormerSettings:
    """RTFormer's external attention.

    Args:
        memory_ratio: memory slots as a ratio of the hidden size (RTFormer uses 0.125 to 1).
        heads: channel groups sharing one memory (the multi-head variant; ignored when ``grouped``).
        grouped: the GPU-friendly variant: one full-width memory, the L1 normalisation within groups of slots.
        groups: groups of slots for the grouped variant.
        pooling: ``mean`` of real tokens or the ``first`` token.
        eps: epsilon of the L1 normalisation.
    """

    memory_ratio: float = 0.25
    heads: int = 8
    grouped: bool = False
    groups: int = 8
    pooling: str = "mean"
    eps: float = 1e-6
