"""The interface every knowledge source implements, the knowledge segments it declares, and the registry.

A source lives in its own folder with the same small skeleton: ``config.py`` (its settings), ``ingest.py``
(dump to index), ``index.py`` (open and look up), ``select.py`` (pick and verbalise) and ``__init__.py``,
which defines the :class:`KnowledgeSource` subclass and registers it with :func:`register`.

A source is named once, by its ``name``: that is its folder, its settings section (``conceptnet.index``), its
entry in ``--sources``, and the ``source`` of the :class:`Segment` objects it declares. A segment is one piece of
knowledge text in a model's input (``triple``, ``qc_meaning``...): the model side builds inputs, checks records,
captions model cards and names study conditions from these declarations alone, so a new source is a new folder
(or, outside this package, a registered class) and no edit anywhere else.

Sources are found without importing them by hand: every sub-package of :mod:`retrieval` that registers one, and
every entry point of the group ``kear_sources`` (a module that registers one when imported).
"""

from __future__ import annotations

import hashlib
import json
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import import_module
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from .errors import ConfigError

if TYPE_CHECKING:
    from .records import Choice, Record


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


def _field_text(segment: Segment, record: Record, choice: Choice, options: Any) -> list[str]:
    """The default rendering: the field's text as it is; a list of texts joined by spaces."""
    value = segment.holder(record, choice).get(segment.field)
    if isinstance(value, list):
        value = " ".join(str(item) for item in value)
    return [value] if isinstance(value, str) else []


@dataclass(frozen=True)
class Segment:
    """One piece of knowledge text in a model's input, as its source declares it.

    Args:
        name: the segment's name in the input settings (``inputs.knowledge``).
        level: ``"question"`` (one text shared by every choice) or ``"choice"`` (one per choice).
        field: the record field the source writes it to (on the question or on each choice, by ``level``).
        caption: what it is, in a few words, for model cards and reports.
        order: its place in KEAR's default input, lower first.
        default: part of the default input (KEAR's recipe) when its source is.
        render: ``render(segment, record, choice, options)`` gives the texts this segment adds to the input of one
            choice (none when the knowledge is missing); ``options`` are the input settings, for segments with
            settings of their own (``max_examples``). Default: the field's text.
        source: the name of the source that declares it (set by :func:`register`).
    """

    name: str
    level: Literal["question", "choice"]
    field: str
    caption: str
    order: int = 100
    default: bool = False
    render: Callable[[Segment, Record, Choice, Any], list[str]] = _field_text
    source: str = ""

    def __post_init__(self) -> None:
        if self.level not in ("question", "choice"):
            raise ValueError(f"segment {self.name!r}: level must be 'question' or 'choice', got {self.level!r}")

    def holder(self, record: Record, choice: Choice) -> dict[str, Any]:
        """The knowledge fields this segment's field lives in: the question's or the choice's."""
        return record.knowledge if self.level == "question" else choice.knowledge

    def carried_by(self, record: Record) -> bool:
        """Whether the record carries this segment's field (a ``None`` value, for knowledge not found, counts)."""
        holders = [record.knowledge] if self.level == "question" else [c.knowledge for c in record.choices]
        return all(self.field in holder for holder in holders)

    def texts(self, record: Record, choice: Choice, options: Any) -> list[str]:
        """The non-empty texts this segment adds to the input of ``choice``."""
        return [text for text in self.render(self, record, choice, options) if text]


class KnowledgeSource(ABC):
    """One kind of retrieved knowledge.

    Subclasses set ``name`` (used in ``--sources`` and as their settings section), ``config_class`` (the
    settings dataclass of that section), ``segments`` (the knowledge they add to inputs), ``order`` (when they
    run) and ``reads`` (the settings that name their indexes or corpora), open their index lazily, and annotate
    records in batches.
    """

    name: ClassVar[str]
    config_class: ClassVar[type]
    segments: ClassVar[tuple[Segment, ...]] = ()
    # Sources run in this order, lower first: ConceptNet runs first, as it may ground the question concept that
    # the others then use.
    order: ClassVar[int] = 100
    # Part of the default ``sources`` (KEAR's recipe): a source added later is used only when named.
    default: ClassVar[bool] = False
    # The layout of what the source writes: a new version does not reuse results cached by an older one.
    version: ClassVar[int] = 1

    # The settings that name the files and folders the source reads (a path or a list of paths), each required,
    # and how to make them when they are not set.
    reads: ClassVar[tuple[str, ...]] = ()
    how_to_build: ClassVar[str] = ""

    def __init__(self, config: Any) -> None:
        self.config = config
        for key in self.required():
            value = getattr(config, key)
            if not value:
                state = "empty" if isinstance(value, list) else "not set"
                raise ConfigError(f"{self.name}.{key} is {state}: {self.how_to_build}")
        # read now, so that a setting naming something that is no index or corpus is said before any work
        self.identity = self.data_identity()

    def required(self) -> tuple[str, ...]:
        """The settings of ``reads`` that must be set: all of them, unless the source takes one of several."""
        return self.reads

    @classmethod
    def read_paths(cls, config: Any) -> list[str]:
        """The files and folders this source reads with settings ``config`` (what an output must not be)."""
        values = [getattr(config, key) for key in cls.reads]
        return [path for value in values for path in (value if isinstance(value, list) else [value]) if path]

    def fingerprint(self) -> str:
        """Identity of this source's settings and data: cached results are reused only when it matches."""
        identity = [self.name, self.version, asdict(self.config), self.identity]
        payload = json.dumps(identity, sort_keys=True, default=str)
        return hashlib.sha1(payload.encode()).hexdigest()

    @abstractmethod
    def data_identity(self) -> Any:
        """Something that changes whenever the source's index or corpus changes (read cheaply)."""

    @abstractmethod
    def annotate(self, records: Sequence[Record]) -> list[Knowledge]:
        """Knowledge for each record, in order. Records are not modified."""


_SOURCES: dict[str, type[KnowledgeSource]] = {}
_found = False


def register(cls: type[KnowledgeSource]) -> type[KnowledgeSource]:
    """Class decorator: make a source available by its ``name``, with its segments.

    Raises:
        ValueError: a segment name another source already declares (one name, one kind of knowledge).
    """
    taken = {s.name: s.source for other in _SOURCES.values() if other is not cls for s in other.segments}
    clash = [s.name for s in cls.segments if taken.get(s.name, cls.name) != cls.name]
    if clash:
        raise ValueError(f"source {cls.name!r}: segment(s) {', '.join(clash)} already declared by another source")
    cls.segments = tuple(replace(segment, source=cls.name) for segment in cls.segments)
    _SOURCES[cls.name] = cls
    return cls


def sources() -> dict[str, type[KnowledgeSource]]:
    """Every registered source by name, in the order they run (imports this package's sources on first call)."""
    global _found
    if not _found:
        _found = True
        package = import_module(__package__)
        for module in pkgutil.iter_modules(package.__path__):
            if module.ispkg:
                import_module(f"{__package__}.{module.name}")
        for entry in entry_points(group="kear_sources"):
            entry.load()
    return dict(sorted(_SOURCES.items(), key=lambda item: item[1].order))


def default_sources() -> list[str]:
    """The sources run when settings name none: KEAR's."""
    return [name for name, cls in sources().items() if cls.default]


def segments() -> dict[str, Segment]:
    """Every declared segment by name, in KEAR's input order."""
    found = [segment for cls in sources().values() for segment in cls.segments]
    return {segment.name: segment for segment in sorted(found, key=lambda s: s.order)}


def default_segments() -> list[str]:
    """KEAR's input: the default segments of the default sources, in order."""
    chosen = default_sources()
    return [name for name, segment in segments().items() if segment.default and segment.source in chosen]


# The names of kear 0.1, read in saved settings so that models saved then still load and predict.
OLD_SOURCE_NAMES = {"kg": "conceptnet", "dict": "dictionary", "train": "examples"}
OLD_SEGMENT_NAMES = {"retrieval": "examples"}


def renamed_settings(retrieval: dict[str, Any] | None, knowledge: list[str] | None) -> tuple[Any, Any]:
    """Saved retrieval settings and input segments with kear 0.1's names replaced by today's (others as they are).

    Args:
        retrieval: saved retrieval settings (``sources`` and a section per source), or ``None``.
        knowledge: saved input segment names, or ``None``.
    """
    if isinstance(retrieval, dict):
        retrieval = {OLD_SOURCE_NAMES.get(key, key): value for key, value in retrieval.items()}
        if isinstance(retrieval.get("sources"), list):
            retrieval["sources"] = [OLD_SOURCE_NAMES.get(name, name) for name in retrieval["sources"]]
    if isinstance(knowledge, list):
        knowledge = [OLD_SEGMENT_NAMES.get(name, name) for name in knowledge]
    return retrieval, knowledge
