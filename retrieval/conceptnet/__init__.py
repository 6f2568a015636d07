"""ConceptNet: one triple per question-choice pair (KEAR's knowledge-graph external attention)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

from ..errors import ConfigError
from ..records import Record
from ..source import Knowledge, KnowledgeSource, register
from .config import KEAR_RELATIONS, ConceptNetConfig
from .index import ConceptNetIndex, Edge
from .ingest import IngestReport, ingest_conceptnet
from .select import TripleSelector, relation_phrase, verbalize

__all__ = [
    "KEAR_RELATIONS",
    "ConceptNetConfig",
    "ConceptNetIndex",
    "ConceptNetSource",
    "Edge",
    "IngestReport",
    "TripleSelector",
    "ingest_conceptnet",
    "relation_phrase",
    "verbalize",
]


@register
class ConceptNetSource(KnowledgeSource):
    """Adds ``triple``, ``surface`` and ``weight`` to each choice, KEAR's reference fields.

    A choice without an edge gets ``triple: []``, ``surface: ""`` and ``weight: 0.0``, as in the reference data.
    Records without a question concept get one found in their question text (``ground_question_concept``).
    """

    name = "kg"
    fields = ("triple", "surface", "weight")

    def __init__(self, config: ConceptNetConfig) -> None:
        super().__init__(config)
        if not config.index:
            raise ConfigError(
                "kg.index is not set: build one with 'kear index conceptnet DUMP' and point kg.index to it"
            )

    def data_identity(self) -> str:
        meta = Path(self.config.index) / "meta.json"
        try:
            return json.loads(meta.read_text(encoding="utf-8"))["build_id"]
        except (OSError, ValueError, KeyError):
            raise ConfigError(
                f"{self.config.index}: not a ConceptNet index (build it with 'kear index conceptnet')"
            ) from None

    @cached_property
    def selector(self) -> TripleSelector:
        return TripleSelector(ConceptNetIndex(self.config.index), self.config)

    def annotate(self, records: Sequence[Record]) -> list[Knowledge]:
        out = []
        for record in records:
            concept, grounded = record.question_concept, None
            if concept is None and self.config.ground_question_concept:
                concept = grounded = self.selector.ground(record.question, [c.text for c in record.choices])
            choices = []
            for choice in record.choices:
                edge = self.selector.select(concept, choice.text)
                if edge is None:
                    choices.append({"triple": [], "surface": "", "weight": 0.0})
                else:
                    triple = [[edge.head, edge.relation, edge.tail]]
                    choices.append({"triple": triple, "surface": edge.surface or "", "weight": edge.weight})
            out.append(Knowledge(choices=choices, question_concept=grounded))
        return out
