"""Settings of the first-token head."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FirstTokenSettings:
    """The first-token head has no settings: the choice scorer's dropout is the model's ``classifier_dropout``."""
