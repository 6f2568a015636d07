"""Settings of the ConceptNet source."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..settings import check_bool, check_int, check_number, check_text, check_texts

# The ten relations KEAR keeps (its "filtered" graph): the ones that say something about everyday use.
KEAR_RELATIONS = [
    "AtLocation",
    "CapableOf",
    "Causes",
    "CausesDesire",
    "Desires",
    "HasPrerequisite",
    "HasProperty",
    "HasSubevent",
    "PartOf",
    "Antonym",
]


@dataclass
class ConceptNetConfig:
    """How a ConceptNet triple is chosen for each question-choice pair.

    Args:
        index: folder written by ``kear index conceptnet``.
        relations: relations an edge may have; KEAR's ten by default.
        min_weight: edges lighter than this are ignored (KEAR: 1.0).
        min_concept_chars: concepts shorter than this are ignored (KEAR drops ones of two characters or fewer).
        max_concept_words: concepts of more words than this are ignored (KEAR: 4).
        lemma_fallback: try lemmatised forms of the choice when its text is not a concept.
        ground_question_concept: when a record has no question concept, look for one in the question text.

    Checked when built: ``index`` a non-empty path or null; ``relations`` at least one, each named once;
    ``min_weight`` a finite number >= 0; ``min_concept_chars`` and ``max_concept_words`` integers >= 1.
    """

    index: str | None = None
    relations: list[str] = field(default_factory=lambda: list(KEAR_RELATIONS))
    min_weight: float = 1.0
    min_concept_chars: int = 3
    max_concept_words: int = 4
    lemma_fallback: bool = True
    ground_question_concept: bool = True

    def __post_init__(self) -> None:
        check_text(self.index, "index", optional=True)
        # no relation at all would find no triple, silently: say so instead
        check_texts(self.relations, "relations", non_empty=True)
        check_number(self.min_weight, "min_weight", minimum=0)
        check_int(self.min_concept_chars, "min_concept_chars", 1)
        check_int(self.max_concept_words, "max_concept_words", 1)
        check_bool(self.lemma_fallback, "lemma_fallback")
        check_bool(self.ground_question_concept, "ground_question_concept")
