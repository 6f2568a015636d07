"""Settings of the EANet head."""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.settings import check_choice, check_number

from ..base import check_counts

# the poolings of kear.heads.ops.pool
POOLINGS = ("mean", "first")


@dataclass
class EANetSettings:
    """EANet external attention.

    Args:
        slots: memory slots ``S`` (EANet's default 64).
        heads: channel groups sharing the same two memories (1 is the single-head original).
        pooling: how the attended sequence becomes one vector: ``mean`` of real tokens or the ``first`` token.
        eps: epsilon of the L1 normalisation.

    Checked when built: ``slots`` and ``heads`` integers >= 1 (``heads`` must also divide the encoder's hidden
    size, checked when the model is built); ``pooling`` one of :data:`POOLINGS`; ``eps`` a finite number > 0.
    """

    slots: int = 64
    heads: int = 1
    pooling: str = "mean"
    eps: float = 1e-6

    def __post_init__(self) -> None:
        check_counts(self, "slots", "heads")
        check_choice(self.pooling, "pooling", POOLINGS)
        check_number(self.eps, "eps", above=0)
