"""Settings of the extra self-attention layer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SelfAttentionSettings:
    """One Transformer encoder layer (multi-head self-attention and feed-forward).

    Args:
        heads: attention heads.
        feedforward: feed-forward width as a multiple of the hidden size.
        dropout: dropout inside the layer.
        pooling: ``first`` token (as KEAR's head) or ``mean`` of real tokens.
    """

    heads: int = 8
    feedforward: int = 4
    dropout: float = 0.1
    pooling: str = "first"
