"""RTFormer's multi-head external attention, with its GPU-friendly grouped variant, as a pooling head."""

from .config import RTFormerSettings
from .head import RTFormerHead

__all__ = ["RTFormerHead", "RTFormerSettings"]
