"""Settings of the similar-training-examples source."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ExamplesConfig:
    """BM25 retrieval of similar training questions with their answers.

    Args:
        corpora: training files (any record format with answers); each question plus its gold answer is a
            document.
        top_k: documents kept per question-choice pair (KEAR: 5).
        backend: ``bm25s`` (fast) or ``rank_bm25`` (the reference implementation); they rank identically.
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation.
        remove_stopwords: drop English function words from documents and queries.
    """

    corpora: list[str] = field(default_factory=list)
    top_k: int = 5
    backend: str = "bm25s"
    k1: float = 1.5
    b: float = 0.75
    remove_stopwords: bool = True
