"""ConceptNet: one triple per question-choice pair (KEAR's knowledge-graph external attention)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

from ..errors import ConfigError, KearError
from ..records import Choice, Record
from ..source import Knowledge, KnowledgeSource, Segment, register
from .config import KEAR_RELATIONS, ConceptNetConfig
from .index import ConceptNetIndex, CorruptIndex, Edge, read_meta
from .ingest import IngestReport, ingest_conceptnet
from .select import TripleSelector, relation_phrase, verbalize

__all__ = [
    "KEAR_RELATIONS",
    "ConceptNetConfig",
    "ConceptNetIndex",
    "ConceptNetSource",
    "CorruptIndex",
    "Edge",
    "IngestReport",
    "TripleSelector",
    "ingest_conceptnet",
    "relation_phrase",
    "verbalize",
]


def render_triple(segment: Segment, record: Record, choice: Choice, options: object) -> list[str]:
    """The choice's triple in words; without one, KEAR's "concept [SEP] choice" (``triple_fallback``)."""
    triple = choice.knowledge.get(segment.field)
    if triple:
        return [verbalize(triple[0])]
    if getattr(options, "triple_fallback", True) and segment.field in choice.knowledge:
        return [record.question_concept or "", choice.text]
    return []


@register
class ConceptNetSource(KnowledgeSource):
    """Adds ``triple``, ``surface`` and ``weight`` to each choice, KEAR's reference fields, and ``relations``, the
    relations from the question concept to the choice that KEAR's majority-relation rule counts (:mod:`.majority`).

    A choice without an edge gets ``triple: []``, ``surface: ""`` and ``weight: 0.0``, as in the reference data.
    Records without a question concept get one found in their question text (``ground_question_concept``).
    """

    name = "conceptnet"
    config_class = ConceptNetConfig
    segments = (
        Segment(
            "triple",
            "choice",
            "triple",
            "ConceptNet: one triple linking the question concept and the choice, in words",
            order=40,
            default=True,
            render=render_triple,
        ),
    )
    version = 2  # 2: adds relations
    order = 0  # first: it may ground the question concept that the dictionary then defines
    default = True

    reads = ("index",)
    how_to_build = "build one with 'kear index conceptnet DUMP' and point conceptnet.index to it"

    def data_identity(self) -> str:
        try:
            return read_meta(self.config.index)["build_id"]
        except KearError as error:  # conceptnet.index names something that is not an index: a setting to change
            raise ConfigError(str(error)) from None

    @cached_property
    def selector(self) -> TripleSelector:
        return TripleSelector(ConceptNetIndex(self.config.index), self.config)

    def annotate(self, records: Sequence[Record]) -> list[Knowledge]:
        try:
            return self._annotate(records)
        except (IndexError, ValueError) as error:
            # opening checked every size; ids out of range can only come from damaged contents of the right size
            raise CorruptIndex(self.config.index, f"an id out of range: {error}") from None

    def _annotate(self, records: Sequence[Record]) -> list[Knowledge]:
        out = []
        for record in records:
            concept, grounded = record.question_concept, None
            if concept is None and self.config.ground_question_concept:
                concept = grounded = self.selector.ground(record.question, [c.text for c in record.choices])
            choices = []
            for choice in record.choices:
                edge = self.selector.select(concept, choice.text)
                if edge is None:
                    fields = {"triple": [], "surface": "", "weight": 0.0}
                else:
                    triple = [[edge.head, edge.relation, edge.tail]]
                    fields = {"triple": triple, "surface": edge.surface or "", "weight": edge.weight}
                choices.append({**fields, "relations": self.selector.relations(concept, choice.text)})
            out.append(Knowledge(choices=choices, question_concept=grounded))
        return out
