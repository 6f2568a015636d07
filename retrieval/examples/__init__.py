"""Similar training examples with their answers, found by BM25 (KEAR's third kind of knowledge)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from functools import cached_property

from ..errors import ConfigError, KearError
from ..records import Choice, Record
from ..source import Knowledge, KnowledgeSource, Segment, register
from .config import ExamplesConfig
from .index import BACKENDS, BM25Backend, BM25SBackend, CorruptIndex, ExamplesIndex, RankBM25Backend, read_meta, top_k
from .ingest import Corpus, corpus_digest, index_examples, load_corpus, question_key
from .select import ExampleRetriever

logger = logging.getLogger(__name__)

# a corpus read into memory this large is worth indexing once (kear index examples): a hint says so
LARGE_CORPUS = 100_000
# the settings an index is built with, which searching it must use too
INDEX_SETTINGS = ("k1", "b", "remove_stopwords")

__all__ = [
    "BACKENDS",
    "BM25Backend",
    "BM25SBackend",
    "Corpus",
    "CorruptIndex",
    "ExampleRetriever",
    "ExamplesConfig",
    "ExamplesIndex",
    "ExamplesSource",
    "RankBM25Backend",
    "index_examples",
    "load_corpus",
    "question_key",
    "top_k",
]


def render_examples(segment: Segment, record: Record, choice: Choice, options: object) -> list[str]:
    """The choice's examples as one text, the first ``max_examples`` of them (all when that is ``None``)."""
    examples = choice.knowledge.get(segment.field) or []
    limit = getattr(options, "max_examples", None)
    return [" ".join(examples if limit is None else examples[:limit])]


@register
class ExamplesSource(KnowledgeSource):
    """Adds a list of K ``"question answer"`` texts to each choice, in the field KEAR's files call ``retrieval``."""

    name = "examples"
    config_class = ExamplesConfig
    segments = (
        Segment(
            "examples",
            "choice",
            "retrieval",
            "Similar training questions with their answers, found by BM25",
            order=30,
            default=True,
            render=render_examples,
        ),
    )
    order = 20
    default = True

    reads = ("index", "corpora")
    how_to_build = (
        "list the training files to retrieve examples from (examples.corpora), or index them once with "
        "'kear index examples FILE... --output DIR' and set examples.index=DIR"
    )

    def required(self) -> tuple[str, ...]:
        return ("index",) if self.config.index else ("corpora",)

    def data_identity(self) -> list[str]:
        if not self.config.index:
            return [corpus_digest(path) for path in self.config.corpora]
        try:
            meta = read_meta(self.config.index)
        except KearError as error:  # examples.index names something that is not one: a setting to change
            raise ConfigError(str(error)) from None
        built = meta.get("settings", {})
        changed = [
            f"{key}={getattr(self.config, key)}"
            for key in INDEX_SETTINGS
            if built.get(key) != getattr(self.config, key)
        ]
        if changed:
            was = ", ".join(f"{key}={built.get(key)}" for key in INDEX_SETTINGS)
            raise ConfigError(
                f"examples.index {self.config.index} was built with {was}; these settings ask for "
                f"{', '.join(changed)}: index the corpora again with them, or drop them"
            )
        if self.config.backend != BM25SBackend.name:
            raise ConfigError(f"examples.backend {self.config.backend}: a saved index is searched with bm25s")
        return [meta["build_id"]]

    @cached_property
    def retriever(self) -> ExampleRetriever:
        if self.config.index:
            return ExampleRetriever(ExamplesIndex(self.config.index), self.config)
        started = time.perf_counter()
        corpus = load_corpus(self.config.corpora, self.config.remove_stopwords)
        retriever = ExampleRetriever(corpus, self.config)
        if len(corpus) >= LARGE_CORPUS:
            logger.info(
                "read and indexed %d training documents in %.0f s; index them once with 'kear index examples %s "
                "--output DIR' and set examples.index=DIR to open them in a second",
                len(corpus),
                time.perf_counter() - started,
                " ".join(self.config.corpora),
            )
        return retriever

    def annotate(self, records: Sequence[Record]) -> list[Knowledge]:
        return [
            Knowledge(choices=[{self.segments[0].field: texts} for texts in self.retriever.retrieve(record)])
            for record in records
        ]
