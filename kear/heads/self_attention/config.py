"""Settings of the extra self-attention layer."""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.settings import check_choice, check_number

from ..base import check_counts

# the poolings of kear.heads.ops.pool
POOLINGS = ("mean", "first")


@dataclass
class SelfAttentionSettings:
    """One Transformer encoder layer (multi-head self-attention and feed-forward).

    Args:
        heads: attention heads.
        feedforward: feed-forward width as a multiple of the hidden size.
        dropout: dropout inside the layer.
        pooling: ``first`` token (as KEAR's head) or ``mean`` of real tokens.

    Checked when built: ``heads`` and ``feedforward`` integers >= 1 (``heads`` must also divide the encoder's
    hidden size, checked when the model is built); ``dropout`` a number in [0, 1); ``pooling`` one of
    :data:`POOLINGS`.
    """

    heads: int = 8
    feedforward: int = 4
    dropout: float = 0.1
    pooling: str = "first"

    def __post_init__(self) -> None:
        check_counts(self, "heads", "feedforward")
        check_number(self.dropout, "dropout", minimum=0, below=1)
        check_choice(self.pooling, "pooling", POOLINGS)
