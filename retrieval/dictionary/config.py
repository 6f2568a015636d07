"""Settings of the dictionary source."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DictionaryConfig:
    """Where definitions come from.

    Args:
        indexes: dictionary index folders (``kear index wiktionary`` or ``kear index wordnet``), tried in order:
            the first one that resolves a concept gives its meaning.
        max_link_words: follow ``form_of``/``alt_of`` links only to targets of at most this many words (KEAR: 4).
    """

    indexes: list[str] = field(default_factory=list)
    max_link_words: int = 4
