"""Pooling heads: how an encoder's states become one vector per choice, before the choice scorer.

KEAR's own head takes the first token's state (``first_token``). Other heads live in their own folders with
the same skeleton (``config.py`` for their settings, ``head.py`` for the module) and register themselves by
name, so a new head is a new folder; the model config names the head and its settings, and they are saved
with the model.

Besides KEAR's, the family of memory-unit *external attention* operators, which attend from every token to a
small learned memory instead of to the other tokens (linear in the sequence length):

* ``eanet``: EANet's external attention (Guo et al. 2021), single- or multi-head;
* ``rtformer``: RTFormer's multi-head external attention, memory size a ratio of the hidden size, and its
  grouped (GPU-friendly) variant;
* ``agmh_siea``: AGMH's stepwise interactive external attention, with descriptors and a dispersion loss;
* ``lea_gcn``: LEA-GCN's dual-channel pooling (attention pooling plus external-attention pooling);

and ``self_attention``, one extra Transformer layer, to compare them with.

These are pooling heads over the encoder's output. KEAR's *external attention* is something else: knowledge
retrieved as text and put into the input (see :mod:`kear.inputs`).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from retrieval.errors import ConfigError

from .agmh_siea import SIEAHead
from .base import HEADS, Head, HeadOutput, register_head
from .eanet import EANetHead
from .first_token import FirstTokenHead
from .lea_gcn import LEAGCNHead
from .rtformer import RTFormerHead
from .self_attention import SelfAttentionHead

__all__ = [
    "HEADS",
    "EANetHead",
    "FirstTokenHead",
    "Head",
    "HeadOutput",
    "LEAGCNHead",
    "RTFormerHead",
    "SIEAHead",
    "SelfAttentionHead",
    "build_head",
    "register_head",
]


def build_head(name: str, hidden_size: int, settings: dict[str, Any] | None = None) -> Head:
    """The head registered as ``name``, for encoder states of ``hidden_size``, with its settings.

    Raises ``ConfigError`` (one line on the command line) for an unknown head or setting.
    """
    if name not in HEADS:
        raise ConfigError(f"model.head: unknown head '{name}'; choose from {', '.join(sorted(HEADS))}")
    cls = HEADS[name]
    known = {f.name for f in fields(cls.settings_class)}
    unknown = sorted(set(settings or {}) - known)
    if unknown:
        raise ConfigError(
            f"model.head_settings: unknown setting(s) {', '.join(unknown)} for head '{name}'; "
            f"it takes {', '.join(sorted(known)) or 'none'}"
        )
    return cls(hidden_size, cls.settings_class(**(settings or {})))
