"""AGMH's stepwise interactive external attention (SIEA) as a pooling head, with several descriptors."""

from .config import SIEASettings
from .head import SIEAHead

__all__ = ["SIEAHead", "SIEASettings"]
