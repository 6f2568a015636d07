"""Two BM25 backends behind one interface: rank-bm25 (the reference) and bm25s (fast), and the saved index.

Both score with Okapi BM25: ``idf = log((N - n + 0.5) / (n + 0.5))`` floored at 0 (rank-bm25's ``epsilon=0``,
bm25s's ``idf_method="robertson"``) and ``tf * (k1 + 1) / (tf + k1 * (1 - b + b * |d| / avgdl))`` (bm25s's
``method="atire"``), so their scores agree to rounding error. Ranking rounds scores to nine decimals and breaks
ties by document order, so both backends return the same top K.

``kear index examples`` saves a corpus once, tokenised and scored (:func:`write_index`), in a folder that opens in
a fraction of a second whatever its size, every array memory-mapped, so that the processes of one machine share its
pages (:class:`ExamplesIndex`):

* ``bm25/``: the bm25s index as bm25s saves it (its precomputed scores as compressed-sparse-column arrays, its
  vocabulary and parameters);
* ``texts.bin``, ``ids.bin``, ``questions.bin``, each with ``*_offsets.npy`` (int64, one more than documents): per
  document in corpus order, what retrieval returns (``"question answer"``), its record's id, and its question's
  :func:`~retrieval.examples.ingest.question_key`, as UTF-8;
* ``id_hashes.npy`` and ``question_hashes.npy`` (uint64, sorted) with ``id_order.npy`` and ``question_order.npy``
  (the documents in that order): what finds a query's own question, never retrieved (the no-self-match rule);
* ``meta.json``: format, kind (``examples``), build id, documents, the BM25 settings and the corpora it was built
  from (names and digests).
"""

from __future__ import annotations

import hashlib
import json
import logging
import mmap
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import KearError, first_line
from ..io import index_meta

FORMAT_VERSION = 1
KIND = "examples"
REBUILD = "rebuild it with 'kear index examples'"
STRINGS = ("texts", "ids", "questions")
LOOKUPS = ("id", "question")


def top_k(scores: np.ndarray, k: int, exclude: list[int] = ()) -> list[int]:
    """Positions of the ``k`` best positive scores, best first, lowest position first among equals."""
    scores = np.round(scores, 9)
    if len(exclude):
        scores[list(exclude)] = 0.0
    candidates = np.flatnonzero(scores > 0)
    if len(candidates) > k:
        kth = np.partition(scores[candidates], len(candidates) - k)[len(candidates) - k]
        candidates = candidates[scores[candidates] >= kth]
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order[:k]].tolist()


class BM25Backend(ABC):
    """Scores every document for a tokenised query."""

    name: str

    def __init__(self, documents: list[list[str]], k1: float, b: float) -> None:
        self.size = len(documents)

    @abstractmethod
    def scores(self, query: list[str]) -> np.ndarray:
        """BM25 score of every document (float64, a fresh array)."""


class RankBM25Backend(BM25Backend):
    name = "rank_bm25"

    def __init__(self, documents: list[list[str]], k1: float, b: float) -> None:
        from rank_bm25 import BM25Okapi

        super().__init__(documents, k1, b)
        # rank-bm25 divides by zero on an empty corpus or one whose documents are all empty
        self.model = BM25Okapi(documents, k1=k1, b=b, epsilon=0.0) if any(documents) else None

    def scores(self, query: list[str]) -> np.ndarray:
        if self.model is None or not query:
            return np.zeros(self.size)
        return np.asarray(self.model.get_scores(query), dtype=np.float64)


class BM25SBackend(BM25Backend):
    name = "bm25s"

    def __init__(self, documents: list[list[str]], k1: float, b: float) -> None:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG
        super().__init__(documents, k1, b)
        self.model = None
        if any(documents):
            self.model = bm25s.BM25(method="atire", idf_method="robertson", k1=k1, b=b, dtype="float64")
            self.model.index(documents, show_progress=False)
            self.vocabulary = self.model.vocab_dict

    @classmethod
    def load(cls, folder: Path, size: int) -> BM25SBackend:
        """The backend of a saved index (``folder``: its ``bm25/``, absent when no document has a word), its
        score arrays memory-mapped."""
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        backend = cls.__new__(cls)
        backend.size, backend.model = size, None
        if folder.is_dir():
            backend.model = bm25s.BM25.load(folder, mmap=True, show_progress=False)
            backend.vocabulary = backend.model.vocab_dict
        return backend

    def save(self, folder: Path) -> None:
        """Write the index into ``folder`` as bm25s saves it (nothing when no document has a word)."""
        if self.model is not None:
            self.model.save(folder, show_progress=False)

    def scores(self, query: list[str]) -> np.ndarray:
        ids = [self.vocabulary[t] for t in query if t in self.vocabulary] if self.model is not None else []
        if not ids:
            return np.zeros(self.size)
        return np.array(self.model.get_scores_from_ids(ids), dtype=np.float64)


BACKENDS: dict[str, type[BM25Backend]] = {"rank_bm25": RankBM25Backend, "bm25s": BM25SBackend}


# ------------------------------------------------------------------------------------------- saved index


def text_hash(text: str) -> int:
    """A 64-bit hash of a text (stable across processes and runs, unlike Python's ``hash``)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


class CorruptIndex(KearError):
    """An examples index folder whose files are missing, truncated or inconsistent."""

    def __init__(self, folder: str | Path, problem: str) -> None:
        super().__init__(f"{folder}: corrupt examples index ({problem}): {REBUILD}")


def read_meta(folder: str | Path) -> dict:
    """The checked ``meta.json`` of an examples index; :class:`KearError` says what else the folder is."""
    meta = index_meta(folder, "an examples index", "build one with 'kear index examples'", CorruptIndex)
    if meta.get("kind") != KIND:
        what = f"a {meta['kind']} index" if isinstance(meta.get("kind"), str) else "not kear's"
        raise KearError(f"{folder}: not an examples index (it is {what}); build one with 'kear index examples'")
    if meta.get("format") != FORMAT_VERSION:
        raise KearError(f"{folder}: index format {meta.get('format')} is not {FORMAT_VERSION}; {REBUILD}")
    if not isinstance(meta.get("build_id"), str) or not isinstance(meta.get("documents"), int):
        raise CorruptIndex(folder, "meta.json lacks its build id or document count")
    return meta


def write_index(
    folder: Path,
    backend: BM25SBackend,
    texts: Sequence[str],
    ids: Sequence[str],
    questions: Sequence[str],
    meta: dict[str, Any],
) -> dict[str, Any]:
    """Write a corpus's index into ``folder`` (new and empty); returns its ``meta.json``.

    Args:
        folder: where to write.
        backend: the corpus indexed by bm25s.
        texts: what each document returns; ``ids``: its record's id; ``questions``: its question key.
        meta: what to record besides the format, kind, build id and document count (settings, corpora).
    """
    backend.save(folder / "bm25")
    for name, values in zip(STRINGS, (texts, ids, questions)):
        encoded = [value.encode("utf-8") for value in values]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(value) for value in encoded], out=offsets[1:])
        (folder / f"{name}.bin").write_bytes(b"".join(encoded))
        np.save(folder / f"{name}_offsets.npy", offsets, allow_pickle=False)
    for name, values in zip(LOOKUPS, (ids, questions)):
        hashes = np.fromiter((text_hash(value) for value in values), dtype=np.uint64, count=len(values))
        order = np.argsort(hashes, kind="stable")
        np.save(folder / f"{name}_hashes.npy", hashes[order], allow_pickle=False)
        np.save(folder / f"{name}_order.npy", order.astype(np.int64), allow_pickle=False)
    meta = {**meta, "format": FORMAT_VERSION, "kind": KIND, "build_id": uuid.uuid4().hex, "documents": len(texts)}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return meta


class _Strings:
    """One string per document, memory-mapped: a UTF-8 blob and its offsets."""

    def __init__(self, index: ExamplesIndex, name: str) -> None:
        self.offsets = index.array(f"{name}_offsets", "i", index.size + 1)
        try:
            with open(index.folder / f"{name}.bin", "rb") as handle:
                size = handle.seek(0, 2)
                self.blob = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        except OSError as error:
            raise CorruptIndex(index.name, f"{name}.bin cannot be read: {error.strerror or error}") from None
        if int(self.offsets[-1]) != len(self.blob):
            raise CorruptIndex(
                index.name, f"{name}.bin holds {len(self.blob)} bytes, its offsets say {self.offsets[-1]}"
            )

    def __getitem__(self, position: int) -> str:
        return self.blob[int(self.offsets[position]) : int(self.offsets[position + 1])].decode("utf-8")


class ExamplesIndex:
    """A saved examples index (see this module's docstring), opened with every array memory-mapped.

    Args:
        folder: the index folder (named as given in messages).
    """

    def __init__(self, folder: str | Path) -> None:
        self.meta = read_meta(folder)
        self.name, self.folder = str(folder), Path(folder)
        self.size = self.meta["documents"]
        self.texts, self.ids, self.questions = (_Strings(self, name) for name in STRINGS)
        self.lookups = {
            name: (self.array(f"{name}_hashes", "u", self.size), self.array(f"{name}_order", "i", self.size))
            for name in LOOKUPS
        }
        try:
            self.backend = BM25SBackend.load(self.folder / "bm25", self.size)
        except (OSError, ValueError, KeyError) as error:
            raise CorruptIndex(self.name, f"bm25/ is not a readable bm25s index: {first_line(error)}") from None

    def array(self, name: str, kinds: str, length: int) -> np.ndarray:
        """One array, memory-mapped (never unpickled), checked to be ``length`` numbers of one of ``kinds``."""
        try:
            array = np.load(self.folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
        except (ValueError, EOFError, OSError) as error:
            raise CorruptIndex(self.name, f"{name}.npy is not a readable array: {first_line(error)}") from None
        if array.ndim != 1 or array.dtype.kind not in kinds or len(array) != length:
            raise CorruptIndex(self.name, f"{name}.npy holds {array.dtype} of shape {array.shape}, not {length}")
        return array

    def __len__(self) -> int:
        return self.size

    def matching(self, lookup: str, value: str) -> list[int]:
        """The documents whose ``lookup`` (``id`` or ``question``) is ``value``."""
        hashes, order = self.lookups[lookup]
        key = np.uint64(text_hash(value))
        start, end = np.searchsorted(hashes, key, "left"), np.searchsorted(hashes, key, "right")
        strings = self.ids if lookup == "id" else self.questions
        return [int(p) for p in order[start:end] if strings[int(p)] == value]  # a hash collision is not a match
