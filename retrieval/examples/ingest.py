"""Training corpora to BM25 documents: each training question with its gold answer."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ErrorPolicy
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
    """Read training files into a corpus; records without an answer are left out (and counted)."""
    corpus, unanswered = Corpus(), 0
    for path in paths:
        for record in read_records(path, split="train", policy=policy):
            answer = record.answer_text
            if answer is None:
                unanswered += 1
                continue
            text = f"{record.question} {answer}"
            corpus.ids.append(record.id)
            corpus.texts.append(text)
            corpus.questions.append(question_key(record.question))
            corpus.tokens.append(bm25_tokens(text, remove_stopwords))
    if unanswered:
        logger.warning("left %d training records without an answer out of the BM25 corpus", unanswered)
    logger.info("BM25 corpus: %d documents from %d file(s)", len(corpus), len(paths))
    return corpus
