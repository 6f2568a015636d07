"""Two BM25 backends behind one interface: rank-bm25 (the reference) and bm25s (fast).

Both score with Okapi BM25: ``idf = log((N - n + 0.5) / (n + 0.5))`` floored at 0 (rank-bm25's ``epsilon=0``,
bm25s's ``idf_method="robertson"``) and ``tf * (k1 + 1) / (tf + k1 * (1 - b + b * |d| / avgdl))`` (bm25s's
``method="atire"``), so their scores agree to rounding error. Ranking rounds scores to nine decimals and breaks
ties by document order, so both backends return the same top K.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod

import numpy as np


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

    def scores(self, query: list[str]) -> np.ndarray:
        ids = [self.vocabulary[t] for t in query if t in self.vocabulary] if self.model is not None else []
        if not ids:
            return np.zeros(self.size)
        return np.array(self.model.get_scores_from_ids(ids), dtype=np.float64)


BACKENDS: dict[str, type[BM25Backend]] = {"rank_bm25": RankBM25Backend, "bm25s": BM25SBackend}
