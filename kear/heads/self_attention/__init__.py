"""One extra self-attention layer on top of the encoder: the baseline the memory-unit heads are compared with."""

from .config import SelfAttentionSettings
from .head import SelfAttentionHead

__all__ = ["SelfAttentionHead", "SelfAttentionSettings"]
