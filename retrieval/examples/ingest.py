"""Training corpora to BM25 documents: each training question with its gold answer."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError, ErrorPolicy
from ..records import read_records
from ..text import bm25_tokens, words

logger = logging.getLogger(__name__)


def question_key(question: str) -> str:
    """Identity of a question text for leak checks: its lowercase words (punctuation and case ignored)."""
    return " ".join(words(question))


@dataclass
class Corpus:
    """Documents to retrieve from.

    Args:
        ids: the id of each document's training record.
        texts: ``"question answer"`` per document: what retrieval returns.
        questions: each document's :func:`question_key`, to exclude a query's own question.
        tokens: BM25 tokens per document.
    """

    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    tokens: list[list[str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


def load_corpus(paths: list[str | Path], remove_stopwords: bool = True, policy: ErrorPolicy | None = None) -> Corpus:
    """Read training files into a corpus; records without an answer are left out (and counted).

    A file with no records, or with no record that has an answer, is a :class:`DataError` naming it: a training
    corpus is training questions with their answers, and an empty one would silently retrieve nothing.

    Args:
        paths: the training files (any record layout that :func:`retrieval.read_records` reads).
        remove_stopwords: drop English function words from the documents' tokens.
        policy: what to do with invalid lines of the files (stop by default).
    """
    corpus, unanswered = Corpus(), 0
    for path in paths:
        records = answered = 0
        for record in read_records(path, split="train", policy=policy):
            records += 1
            answer = record.answer_text
            if answer is None:
                continue
            answered += 1
            text = f"{record.question} {answer}"
            corpus.ids.append(record.id)
            corpus.texts.append(text)
            corpus.questions.append(question_key(record.question))
            corpus.tokens.append(bm25_tokens(text, remove_stopwords))
        if not answered:  # (a corpus without any record is refused by read_records itself)
            raise DataError(
                path, None, f"none of the training corpus's {records} records has an answer (BM25 needs answered ones)"
            )
        unanswered += records - answered
    if unanswered:
        logger.warning("left %d training records without an answer out of the BM25 corpus", unanswered)
    logger.info("BM25 corpus: %d documents from %d file(s)", len(corpus), len(paths))
    return corpus
