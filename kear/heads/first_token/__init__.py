"""KEAR's head: the first token's state ([CLS] in BERT's terms)."""

from .config import FirstTokenSettings
from .head import FirstTokenHead

__all__ = ["FirstTokenHead", "FirstTokenSettings"]
