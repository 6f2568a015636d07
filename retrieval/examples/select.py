"""Query BM25 with each question-choice pair and keep the top K training examples, never the question itself."""

from __future__ import annotations

from ..errors import ConfigError
from ..records import Record
from ..text import bm25_tokens
from .config import ExamplesConfig
from .index import BACKENDS, BM25SBackend, ExamplesIndex, top_k
from .ingest import Corpus, question_key


class ExampleRetriever:
    """Retrieves similar training examples for each choice of a record.

    Args:
        corpus: the training documents, read into memory (and indexed here) or a saved index (opened as it is).
        config: backend, K and BM25 parameters.
    """

    def __init__(self, corpus: Corpus | ExamplesIndex, config: ExamplesConfig) -> None:
        if config.backend not in BACKENDS:
            raise ValueError(f"unknown BM25 backend '{config.backend}' (choose from {', '.join(BACKENDS)})")
        self.corpus = corpus
        self.config = config
        if isinstance(corpus, ExamplesIndex):
            if config.backend != BM25SBackend.name:
                raise ConfigError(f"examples.backend {config.backend}: a saved index is searched with bm25s")
            self.backend = corpus.backend
        else:
            self.backend = BACKENDS[config.backend](corpus.tokens, config.k1, config.b)

    def excluded(self, record: Record) -> list[int]:
        """Documents that are this record (same id or same question text): retrieving them would leak its label."""
        same = self.corpus.matching("id", record.id) + self.corpus.matching("question", question_key(record.question))
        return sorted(set(same))

    def query(self, record: Record, choice: str) -> list[str]:
        """BM25 tokens of a question-choice query."""
        return bm25_tokens(f"{record.question} {choice}", self.config.remove_stopwords)

    def positions(self, record: Record) -> list[list[int]]:
        """Top-K document positions for each choice of ``record``."""
        exclude = self.excluded(record)
        return [
            top_k(self.backend.scores(self.query(record, choice.text)), self.config.top_k, exclude)
            for choice in record.choices
        ]

    def retrieve(self, record: Record) -> list[list[str]]:
        """Top-K ``"question answer"`` texts for each choice of ``record``."""
        return [[self.corpus.texts[p] for p in found] for found in self.positions(record)]
