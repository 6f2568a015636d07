"""The interface every knowledge source implements, and the registry of sources by name.

A source lives in its own folder with the same small skeleton: ``config.py`` (its settings), ``ingest.py``
(dump to index), ``index.py`` (open and look up), ``select.py`` (pick and verbalise) and ``__init__.py``,
which defines the :class:`KnowledgeSource` subclass and registers it with :func:`register`.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from .records import Record


@dataclass
class Knowledge:
    """What one source found for one record.

    Args:
        question: question-level fields (for example ``qc_meaning``).
        choices: one dictionary of fields per choice (for example ``triple``, ``surface``, ``weight``).
        question_concept: a question concept found in the question text, for records that had none.
    """

    question: dict[str, Any] = field(default_factory=dict)
    choices: list[dict[str, Any]] = field(default_factory=list)
    question_concept: str | None = None

    def apply(self, record: Record) -> None:
        """Copy these fields into ``record``."""
        if self.question_concept and record.question_concept is None:
            record.question_concept = self.question_concept
            record.knowledge["qc_grounded"] = True
        record.knowledge.update(self.question)
        for choice, fields in zip(record.choices, self.choices):
            choice.knowledge.update(fields)


class KnowledgeSource(ABC):
    """One kind of retrieved knowledge.

    Subclasses set ``name`` (used in ``--sources`` and as their settings section) and ``fields`` (the record
    fields they write), open their index lazily, and annotate records in batches.
    """

    name: ClassVar[str]
    fields: ClassVar[tuple[str, ...]]

    def __init__(self, config: Any) -> None:
        self.config = config

    def fingerprint(self) -> str:
        """Identity of this source's settings and data: cached results are reused only when it matches."""
        payload = json.dumps([self.name, asdict(self.config), self.data_identity()], sort_keys=True, default=str)
        return hashlib.sha1(payload.encode()).hexdigest()

    @abstractmethod
    def data_identity(self) -> Any:
        """Something that changes whenever the source's index or corpus changes (read cheaply)."""

    @abstractmethod
    def annotate(self, records: Sequence[Record]) -> list[Knowledge]:
        """Knowledge for each record, in order. Records are not modified."""


SOURCES: dict[str, type[KnowledgeSource]] = {}


def register(cls: type[KnowledgeSource]) -> type[KnowledgeSource]:
    """Class decorator: make a source available by its ``name``."""
    SOURCES[cls.name] = cls
    return cls
