"""Pooling heads: how an encoder's states become one vector per choice, before the choice scorer.

KEAR's own head takes the first token's state (``first_token``). Other heads live in their own folders with
the same skeleton (``config.py`` for their settings, ``head.py`` for the module) and register themselves by
name, so a new head is a new folder; the model config names the head and its settings, and they are saved
with the model.

These are pooling heads over the encoder's output. KEAR's *external attention* is something else: knowledge
retrieved as text and put into the input (see :mod:`kear.inputs`).
"""

from __future__ import annotations

from typing import Any

from .base import HEADS, Head, HeadOutput, register_head
from .first_token import FirstTokenHead

__all__ = ["HEADS", "FirstTokenHead", "Head", "HeadOutput", "build_head", "register_head"]


def build_head(name: str, hidden_size: int, settings: dict[str, Any] | None = None) -> Head:
    """The head registered as ``name``, for encoder states of ``hidden_size``, with its settings."""
    if name not in HEADS:
        raise ValueError(f"unknown head '{name}'; choose from {', '.join(sorted(HEADS))}")
    cls = HEADS[name]
    return cls(hidden_size, cls.settings_class(**(settings or {})))
