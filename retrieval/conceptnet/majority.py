"""KEAR's majority-relation rule (the reference's ``freq_rel``): a question's choices share a relation to it.

CommonsenseQA's questions were written from one ConceptNet relation linking the question concept to several
choices. KEAR counts, for each question, the relations from the question concept to each choice (the
``relations`` field :class:`~retrieval.conceptnet.ConceptNetSource` writes); when the most common relation links
at least ``threshold`` choices, the choices it does not link are masked at prediction (its DeBERTa-v3 recipe:
threshold 3). This module only decides which choices the rule keeps: applying it is the model side's.
"""

from __future__ import annotations

from collections import Counter

from ..records import Record

FIELD = "relations"  # the choice field the rule reads


def majority_relation(record: Record) -> tuple[str | None, int]:
    """The most common relation from the question concept to the choices, and how many choices it links.

    Ties go to the relation met first (choices in order, each choice's relations in the graph's order), as
    KEAR's ``Counter.most_common`` does. ``(None, 0)`` when no choice has a relation.
    """
    counts = Counter(relation for choice in record.choices for relation in choice.knowledge.get(FIELD) or [])
    if not counts:
        return None, 0
    return counts.most_common(1)[0]


def kept_choices(record: Record, threshold: int) -> list[bool] | None:
    """For each choice, whether the rule keeps it; ``None`` when the rule does not apply to this record (no
    relation links ``threshold`` choices, or the record lacks the ``relations`` field)."""
    if any(FIELD not in choice.knowledge for choice in record.choices):
        return None
    relation, count = majority_relation(record)
    if relation is None or count < threshold:
        return None
    return [relation in (choice.knowledge.get(FIELD) or []) for choice in record.choices]
