"""Choose one ConceptNet edge per question-choice pair, as KEAR does, and say it in words.

KEAR's rule: take a direct edge from the question concept to the choice concept when there is one;
otherwise take the choice concept's outgoing edge with the highest ``weight x N / count(relation)``, where
``N`` is the number of its candidate edges, so that an edge of a rare relation beats a common one.
"""

from __future__ import annotations

import logging
import re

import numpy as np

from ..errors import ConfigError
from ..text import STOPWORDS, normalize, phrase_lemmas, words
from .config import ConceptNetConfig
from .index import ConceptNetIndex, Edge

logger = logging.getLogger(__name__)

# Readable phrases for KEAR's relations; others are split from their CamelCase name.
RELATION_PHRASES = {
    "AtLocation": "at location",
    "CapableOf": "capable of",
    "Causes": "causes",
    "CausesDesire": "causes desire",
    "Desires": "desires",
    "HasPrerequisite": "has prerequisite",
    "HasProperty": "has property",
    "HasSubevent": "has subevent",
    "PartOf": "part of",
    "Antonym": "antonym",
}
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
# Only pairs of texts up to this long (together) are remembered: the memo lives as long as the selector, and long
# texts (records cut them to a few thousand characters) rarely repeat, so remembering them would only grow memory.
MAX_MEMO_CHARS = 256


def relation_phrase(relation: str) -> str:
    """``"AtLocation"`` -> ``"at location"``; ``"dbpedia/genre"`` -> ``"genre"``."""
    if relation in RELATION_PHRASES:
        return RELATION_PHRASES[relation]
    return _CAMEL.sub(" ", relation.rsplit("/", 1)[-1]).lower()


def verbalize(triple: list[str] | tuple[str, str, str]) -> str:
    """A triple as text: ``["revolving door", "AtLocation", "bank"]`` -> ``"revolving door at location bank"``."""
    head, relation, tail = triple
    return f"{head} {relation_phrase(relation)} {tail}"


class TripleSelector:
    """Picks the edge for each (question concept, choice) pair from an index.

    Args:
        index: an opened ConceptNet index.
        config: which relations, weights and concepts count.
    """

    def __init__(self, index: ConceptNetIndex, config: ConceptNetConfig) -> None:
        self.index = index
        self.config = config
        self.allowed = np.zeros(max(len(index.relations), 1), dtype=bool)
        for relation in config.relations:
            if relation in index.relations:
                self.allowed[index.relations.index(relation)] = True
        absent = [relation for relation in config.relations if relation not in index.relations]
        if absent and not self.allowed.any():  # nothing could ever be found: a misspelling, not a small graph
            raise ConfigError(
                f"conceptnet.relations: none of {', '.join(absent)} is a relation of the index {index.name} (it has "
                f"{', '.join(index.relations[:12])}{'...' if len(index.relations) > 12 else ''})"
            )
        if absent:
            logger.warning(
                "conceptnet.relations: %s not in the index %s: no edge of them is found", ", ".join(absent), index.name
            )
        # KEAR's graph leaves out concepts that are too short or too long; so do we, at query time.
        self.valid = np.fromiter(
            (len(c) >= config.min_concept_chars and c.count(" ") < config.max_concept_words for c in index.concepts),
            dtype=bool,
            count=len(index.concepts),
        )
        self._memo: dict[tuple[str | None, str], Edge | None] = {}

    def _forms(self, text: str) -> list[int]:
        """Ids of the valid concepts that a text may name: itself, then its lemmatised forms."""
        text = normalize(text)
        forms = [text, *phrase_lemmas(text)] if self.config.lemma_fallback else [text]
        ids = (self.index.concept_id(form) for form in forms)
        return [i for i in ids if i is not None and self.valid[i]]

    def _eligible(self, start: int, end: int) -> np.ndarray:
        """Positions in ``start:end`` whose relation, weight and tail are allowed."""
        index = self.index
        mask = self.allowed[index.rel[start:end]] & (index.weight[start:end] >= self.config.min_weight)
        mask &= self.valid[index.tail[start:end]]
        return start + np.flatnonzero(mask)

    def _direct(self, heads: list[int], tails: list[int]) -> Edge | None:
        index = self.index
        for tail in tails:
            for head in heads:
                span = index.edges_between(head, tail)
                found = [p for p in span if self.allowed[index.rel[p]] and index.weight[p] >= self.config.min_weight]
                if found:
                    # heaviest edge; relation name order breaks ties, as in KEAR's dump order
                    best = min(found, key=lambda p: (-index.weight[p], index.rel[p]))
                    return index.edge(best, head)
        return None

    def _fallback(self, tails: list[int]) -> Edge | None:
        index = self.index
        for concept in tails:
            positions = self._eligible(*index.out_range(concept))
            if not len(positions):
                continue
            rels = index.rel[positions]
            score = index.weight[positions] * len(positions) / np.bincount(rels)[rels]
            tied = positions[score == score.max()]
            # ties: relation name order, then tail name order (KEAR's order of first appearance in the dump)
            best = tied[np.lexsort((index.tail[tied], index.rel[tied]))[0]]
            return index.edge(int(best), concept)
        return None

    def select(self, question_concept: str | None, choice: str) -> Edge | None:
        """The edge for one pair, or ``None`` when the graph has nothing for this choice."""
        key = (question_concept, choice)
        if key in self._memo:
            return self._memo[key]
        tails = self._forms(choice)
        heads = self._forms(question_concept) if question_concept else []
        found = (self._direct(heads[:1], tails) if heads else None) or self._fallback(tails)
        if len(choice) + len(question_concept or "") <= MAX_MEMO_CHARS:
            self._memo[key] = found
        return found

    def relations(self, question_concept: str | None, choice: str) -> list[str]:
        """The relations of every edge from the question concept to the choice: what KEAR's majority-relation
        rule counts (its ``add_freq_rel``: any relation, any weight >= 0, the choice's first form that the concept
        has edges to, in the graph's order)."""
        heads = self._forms(question_concept)[:1] if question_concept else []
        for head in heads:
            for tail in self._forms(choice):
                span = self.index.edges_between(head, tail)
                found = [self.index.relations[self.index.rel[p]] for p in span if self.index.weight[p] >= 0]
                if found:
                    return list(dict.fromkeys(found))
        return []

    def ground(self, question: str, choices: list[str] = ()) -> str | None:
        """Find a question concept in a question's text.

        Candidates are the word n-grams (up to the maximum concept length) that are concepts with outgoing
        edges. CommonsenseQA's questions were written around a concept linked to most of their choices, so the
        candidate with direct edges to the most choices wins; then the longest; then the earliest.
        """
        tokens = words(question)
        tails = [self._forms(choice) for choice in choices]
        best: tuple[int, int, int] | None = None
        found = None
        for size in range(min(self.config.max_concept_words, len(tokens)), 0, -1):
            for start in range(len(tokens) - size + 1):
                gram = tokens[start : start + size]
                if all(token in STOPWORDS for token in gram):
                    continue
                for concept in self._forms(" ".join(gram)):
                    if not len(self._eligible(*self.index.out_range(concept))):
                        continue
                    linked = sum(self._direct([concept], forms) is not None for forms in tails)
                    rank = (linked, size, -start)
                    if best is None or rank > best:
                        best, found = rank, self.index.concepts[concept]
                    break
        return found
