"""Settings of the LEA-GCN dual-channel head."""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.settings import check_number

from ..base import check_counts


@dataclass
class LEAGCNSettings:
    """Dual-channel external attention pooling.

    Args:
        slots: memory slots of the external-attention channel; a setting of its own (the original code used the
            batch size).
        heads: channel groups sharing that memory.
        eps: epsilon of the L1 normalisation.

    Checked when built: ``slots`` and ``heads`` integers >= 1 (``heads`` must also divide the encoder's hidden
    size, checked when the model is built); ``eps`` a finite number > 0.
    """

    slots: int = 64
    heads: int = 4
    eps: float = 1e-6

    def __post_init__(self) -> None:
        check_counts(self, "slots", "heads")
        check_number(self.eps, "eps", above=0)
