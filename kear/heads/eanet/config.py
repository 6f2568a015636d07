"""Settings of the EANet head."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EANetSettings:
    """EANet external attention.

    Args:
        slots: memory slots ``S`` (EANet's default 64).
        heads: channel groups sharing the same two memories (1 is the single-head original).
        pooling: how the attended sequence becomes one vector: ``mean`` of real tokens or the ``first`` token.
        eps: epsilon of the L1 normalisation.
    """

    slots: int = 64
    heads: int = 1
    pooling: str = "mean"
    eps: float = 1e-6
