"""Settings of the LEA-GCN dual-channel head."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LEAGCNSettings:
    """Dual-channel external attention pooling.

    Args:
        slots: memory slots of the external-attention channel; a setting of its own (the original code used the
            batch size).
        heads: channel groups sharing that memory.
        eps: epsilon of the L1 normalisation.
    """

    slots: int = 64
    heads: int = 4
    eps: float = 1e-6
