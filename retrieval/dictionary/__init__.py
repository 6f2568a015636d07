"""Dictionary definitions of the question concept and of each choice (KEAR's dictionary external attention)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

from ..errors import ConfigError, KearError
from ..records import Record
from ..source import Knowledge, KnowledgeSource, Segment, register
from .config import DictionaryConfig
from .index import CorruptIndex, DictionaryIndex, DictionaryWriter, read_meta
from .ingest import ingest_wiktionary, ingest_wordnet, wiktionary_entry
from .select import MeaningResolver

__all__ = [
    "CorruptIndex",
    "DictionaryConfig",
    "DictionaryIndex",
    "DictionarySource",
    "DictionaryWriter",
    "MeaningResolver",
    "ingest_wiktionary",
    "ingest_wordnet",
    "wiktionary_entry",
]


QC_MEANING = Segment(
    "qc_meaning", "question", "qc_meaning", "Dictionary: the definition of the question concept", 10, True
)
AC_MEANING = Segment("ac_meaning", "choice", "ac_meaning", "Dictionary: the definition of the choice", 20, True)


@register
class DictionarySource(KnowledgeSource):
    """Adds ``qc_meaning`` to the question and ``ac_meaning`` to each choice (``None`` when unresolved)."""

    name = "dictionary"
    config_class = DictionaryConfig
    segments = (QC_MEANING, AC_MEANING)
    order = 10
    default = True

    reads = ("indexes",)
    how_to_build = "build one with 'kear index wiktionary DUMP' and list it there"

    def data_identity(self) -> list[str]:
        try:
            return [read_meta(folder)["build_id"] for folder in self.config.indexes]
        except KearError as error:  # dictionary.indexes names something that is not an index: a setting to change
            raise ConfigError(str(error)) from None

    @cached_property
    def resolvers(self) -> list[MeaningResolver]:
        return [MeaningResolver(DictionaryIndex(f), self.config.max_link_words) for f in self.config.indexes]

    def meaning(self, concept: str | None) -> str | None:
        """The first meaning any of the dictionaries resolves."""
        return next((m for r in self.resolvers if (m := r.meaning(concept)) is not None), None)

    def annotate(self, records: Sequence[Record]) -> list[Knowledge]:
        return [
            Knowledge(
                question={QC_MEANING.field: self.meaning(record.question_concept)},
                choices=[{AC_MEANING.field: self.meaning(choice.text)} for choice in record.choices],
            )
            for record in records
        ]
