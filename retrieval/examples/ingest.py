"""Training corpora to BM25 documents: each training question with its gold answer."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..errors import DataError, ErrorPolicy
from ..io import file_digest
from ..outputs import atomic_path, is_index_folder
from ..records import read_records
from ..text import bm25_tokens, words
from .config import ExamplesConfig
from .index import KIND, BM25SBackend, write_index

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

    def matching(self, lookup: str, value: str) -> list[int]:
        """The documents whose ``lookup`` (``id`` or ``question``) is ``value``."""
        if not hasattr(self, "_lookups"):  # built on first use, for the corpus as it is then
            self._lookups: dict[str, dict[str, list[int]]] = {"id": defaultdict(list), "question": defaultdict(list)}
            for position, (doc_id, question) in enumerate(zip(self.ids, self.questions)):
                self._lookups["id"][doc_id].append(position)
                self._lookups["question"][question].append(position)
        return self._lookups[lookup].get(value, [])


def corpus_digest(path: str) -> str:
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


def load_corpus(
    paths: Sequence[str | Path],
    remove_stopwords: bool = True,
    policy: ErrorPolicy | None = None,
    progress: bool = False,
) -> Corpus:
    """Read training files into a corpus; records without an answer are left out (and counted).

    A file with no records, or with no record that has an answer, is a :class:`DataError` naming it: a training
    corpus is training questions with their answers, and an empty one would silently retrieve nothing.

    Args:
        paths: the training files (any record layout that :func:`retrieval.read_records` reads).
        remove_stopwords: drop English function words from the documents' tokens.
        policy: what to do with invalid lines of the files (stop by default).
        progress: show a progress bar.
    """
    corpus, unanswered = Corpus(), 0
    bar = tqdm(desc="reading the corpus", unit=" questions", disable=not progress)
    for path in paths:
        records = answered = 0
        for record in read_records(path, split="train", policy=policy):
            bar.update()
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
    bar.close()
    if unanswered:
        logger.warning("left %d training records without an answer out of the BM25 corpus", unanswered)
    logger.info("BM25 corpus: %d documents from %d file(s)", len(corpus), len(paths))
    return corpus


def index_examples(
    corpora: Sequence[str | Path],
    output: str | Path,
    config: ExamplesConfig | None = None,
    *,
    policy: ErrorPolicy | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Index training files for BM25 once (``kear index examples``): tokenised and scored, saved in a folder that
    ``examples.index`` names and that opens in a fraction of a second (:mod:`retrieval.examples.index`).

    Retrieving from it gives the same examples as building from the files (``examples.corpora``).

    Args:
        corpora: the training files (any record layout :func:`retrieval.read_records` reads), in order: document
            order breaks ties between equal scores.
        output: the index folder to write (new, empty, or an examples index, replaced when the new one is whole).
        config: the BM25 settings (``k1``, ``b``, ``remove_stopwords``), kept in the index; default KEAR's.
        policy: what to do with invalid lines of the files (stop by default).
        progress: show a progress bar while reading.
        overwrite: replace whatever ``output`` holds (never one of the corpora).

    Returns:
        The index's ``meta.json``: its documents, settings, corpora and build id.
    """
    config = config or ExamplesConfig()
    started = time.perf_counter()
    owned = lambda folder: is_index_folder(folder, KIND)  # noqa: E731  (an existing examples index is replaced)
    with atomic_path(output, folder=True, overwrite=overwrite, inputs=corpora, owned=owned) as folder:
        corpus = load_corpus(corpora, config.remove_stopwords, policy, progress)
        backend = BM25SBackend(corpus.tokens, config.k1, config.b)
        folder.mkdir()
        settings = {key: value for key, value in asdict(config).items() if key in ("k1", "b", "remove_stopwords")}
        origin = [{"path": str(path), "sha1": corpus_digest(str(path))} for path in corpora]
        meta = write_index(
            folder, backend, corpus.texts, corpus.ids, corpus.questions, {"settings": settings, "corpora": origin}
        )
    logger.info("indexed %d documents in %.1f s", meta["documents"], time.perf_counter() - started)
    return meta
