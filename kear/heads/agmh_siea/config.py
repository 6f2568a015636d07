"""Settings of the AGMH stepwise interactive external attention head."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SIEASettings:
    """Stepwise interactive external attention.

    Args:
        memories: key memories whose similarity maps are fused step by step.
        slots: slots per memory.
        descriptors: pooled descriptors, each a distribution over the tokens, combined into one vector.
        dispersion_weight: weight of the attention dispersion loss, which penalises overlap between the
            descriptors' token distributions (0 turns it off).
        eps: epsilon of the L1 normalisation.
    """

    memories: int = 3
    slots: int = 64
    descriptors: int = 4
    dispersion_weight: float = 0.0
    eps: float = 1e-6
