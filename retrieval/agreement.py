"""How far retrieved knowledge agrees with a reference system's knowledge for the same records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .records import Record


@dataclass
class Agreement:
    """``(same, total)`` per kind of knowledge, and the records' choices where they differ.

    ``direct``: reference triples that link the question concept to the choice; ``fallback``: reference
    triples that are the choice concept's own edge; ``meaning``: question and choice meanings the reference
    has; ``none``: choices without a reference triple (same = we found none either).
    """

    direct: tuple[int, int] = (0, 0)
    fallback: tuple[int, int] = (0, 0)
    meaning: tuple[int, int] = (0, 0)
    none: tuple[int, int] = (0, 0)
    differences: list[tuple[str, str, object, object]] = field(default_factory=list)

    @staticmethod
    def rate(pair: tuple[int, int]) -> float:
        return pair[0] / pair[1] if pair[1] else float("nan")

    def rows(self) -> list[tuple[str, int, int, float]]:
        names = {
            "direct": "direct-edge triples",
            "fallback": "fallback triples",
            "meaning": "question and choice meanings",
            "none": "choices without a reference triple",
        }
        return [(names[k], *getattr(self, k), self.rate(getattr(self, k))) for k in names]


def knowledge_agreement(reference: Sequence[Record], ours: Sequence[Record]) -> Agreement:
    """Compare records that carry the reference's knowledge with the same records carrying ours."""
    counts = {"direct": [0, 0], "fallback": [0, 0], "meaning": [0, 0], "none": [0, 0]}
    differences = []
    for ref, got in zip(reference, ours):
        pairs = [(ref.id, "qc_meaning", ref.knowledge.get("qc_meaning"), got.knowledge.get("qc_meaning"))]
        for ref_choice, our_choice in zip(ref.choices, got.choices):
            pairs.append(
                (ref.id, "ac_meaning", ref_choice.knowledge.get("ac_meaning"), our_choice.knowledge.get("ac_meaning"))
            )
            triple, found = ref_choice.knowledge.get("triple"), our_choice.knowledge.get("triple")
            kind = "none" if not triple else "direct" if triple[0][0] == ref.question_concept else "fallback"
            same = (not found) if kind == "none" else found == triple
            counts[kind][0] += same
            counts[kind][1] += 1
            if not same:
                differences.append((ref.id, kind, triple, found))
        for record_id, name, expected, found in pairs:
            if expected:
                counts["meaning"][0] += expected == found
                counts["meaning"][1] += 1
                if expected != found:
                    differences.append((record_id, name, expected, found))
    return Agreement(**{k: tuple(v) for k, v in counts.items()}, differences=differences)
