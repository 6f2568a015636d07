"""Settings of the AGMH stepwise interactive external attention head."""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.settings import check_number

from ..base import check_counts


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

    Checked when built: ``memories``, ``slots`` and ``descriptors`` integers >= 1; ``dispersion_weight`` a finite
    number >= 0; ``eps`` a finite number > 0.
    """

    memories: int = 3
    slots: int = 64
    descriptors: int = 4
    dispersion_weight: float = 0.0
    eps: float = 1e-6

    def __post_init__(self) -> None:
        check_counts(self, "memories", "slots", "descriptors")
        check_number(self.dispersion_weight, "dispersion_weight", minimum=0)
        check_number(self.eps, "eps", above=0)
