"""Similar training examples with their answers, found by BM25 (KEAR's third kind of knowledge)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

from ..errors import DataError
from ..io import file_digest
from ..records import Choice, Record
from ..source import Knowledge, KnowledgeSource, Segment, register
from .config import ExamplesConfig
from .index import BACKENDS, BM25Backend, BM25SBackend, RankBM25Backend, top_k
from .ingest import Corpus, load_corpus, question_key
from .select import ExampleRetriever

__all__ = [
    "BACKENDS",
    "BM25Backend",
    "BM25SBackend",
    "Corpus",
    "ExampleRetriever",
    "ExamplesConfig",
    "ExamplesSource",
    "RankBM25Backend",
    "load_corpus",
    "question_key",
    "top_k",
]


def _corpus_digest(path: str) -> str:
    """Digest of a training corpus's bytes: a file's, or a dataset folder's files' (names and contents).

    Args:
        path: the corpus as the user gave it (named so in messages).
    """
    where = Path(path)
    try:
        if where.is_dir():
            digest = hashlib.sha1()
            for file in sorted(p for p in where.rglob("*") if p.is_file()):
                digest.update(f"{file.relative_to(where)}\0{file_digest(file)}\0".encode())
            return digest.hexdigest()
        return file_digest(where)
    except FileNotFoundError:
        raise DataError(path, None, "no such file (a training corpus in examples.corpora)") from None
    except OSError as error:
        raise DataError(path, None, f"cannot read the training corpus: {error.strerror or error}") from None


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

    reads = ("corpora",)
    how_to_build = "list the training files to retrieve examples from"

    def data_identity(self) -> list[str]:
        return [_corpus_digest(path) for path in self.config.corpora]

    @cached_property
    def retriever(self) -> ExampleRetriever:
        corpus = load_corpus(self.config.corpora, self.config.remove_stopwords)
        return ExampleRetriever(corpus, self.config)

    def annotate(self, records: Sequence[Record]) -> list[Knowledge]:
        return [
            Knowledge(choices=[{self.segments[0].field: texts} for texts in self.retriever.retrieve(record)])
            for record in records
        ]
