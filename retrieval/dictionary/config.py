"""Settings of the dictionary source."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..settings import check_int, check_texts


@dataclass
class DictionaryConfig:
    """Where definitions come from.

    Args:
        indexes: dictionary index folders (``kear index wiktionary`` or ``kear index wordnet``), tried in order:
            the first one that resolves a concept gives its meaning.
        max_link_words: follow ``form_of``/``alt_of`` links only to targets of at most this many words (KEAR: 4;
            0 follows none).

    Checked when built: ``indexes`` non-empty paths, each once; ``max_link_words`` an integer >= 0.
    """

    indexes: list[str] = field(default_factory=list)
    max_link_words: int = 4

    def __post_init__(self) -> None:
        check_texts(self.indexes, "indexes")
        check_int(self.max_link_words, "max_link_words", 0)
