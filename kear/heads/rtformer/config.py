"""Settings of the RTFormer head."""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.settings import check_bool, check_choice, check_int, check_number

# the poolings of kear.heads.ops.pool
POOLINGS = ("mean", "first")
# memory slots per hidden channel at most: RTFormer uses 0.125 to 1; far more only costs memory
MAX_MEMORY_RATIO = 8.0


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

    Checked when built: ``memory_ratio`` a number in (0, :data:`MAX_MEMORY_RATIO`]; ``heads`` and ``groups``
    integers >= 1 (dividing the hidden size and the slots, checked when the model is built); ``pooling`` one of
    :data:`POOLINGS`; ``eps`` a finite number > 0.
    """

    memory_ratio: float = 0.25
    heads: int = 8
    grouped: bool = False
    groups: int = 8
    pooling: str = "mean"
    eps: float = 1e-6

    def __post_init__(self) -> None:
        check_number(self.memory_ratio, "memory_ratio", above=0, maximum=MAX_MEMORY_RATIO)
        check_int(self.heads, "heads", 1)
        check_bool(self.grouped, "grouped")
        check_int(self.groups, "groups", 1)
        check_choice(self.pooling, "pooling", POOLINGS)
        check_number(self.eps, "eps", above=0)
