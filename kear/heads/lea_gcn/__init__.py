"""LEA-GCN's dual-channel pooling: single-query attention pooling plus multi-head external attention pooling."""

from .config import LEAGCNSettings
from .head import LEAGCNHead

__all__ = ["LEAGCNHead", "LEAGCNSettings"]
