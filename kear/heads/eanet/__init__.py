"""EANet's external attention (Guo et al. 2021) as a pooling head: attention over a learned memory."""

from .config import EANetSettings
from .head import EANetHead

__all__ = ["EANetHead", "EANetSettings"]
