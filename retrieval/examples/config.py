"""Settings of the similar-training-examples source."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..settings import check_bool, check_choice, check_int, check_number, check_text, check_texts

# the backends of .index.BACKENDS, named here so that checking settings does not import them
BACKEND_NAMES = ("bm25s", "rank_bm25")


@dataclass
class ExamplesConfig:
    """BM25 retrieval of similar training questions with their answers.

    Args:
        corpora: training files (any record format with answers); each question plus its gold answer is a
            document. Read and indexed in memory by every run: for a large corpus, index it once instead.
        index: a folder written by ``kear index examples`` from the training files: opened in a fraction of a
            second, and shared by the processes of a machine. When set, ``corpora`` is not read; the index keeps
            the BM25 settings it was built with (``k1``, ``b``, ``remove_stopwords``), which must match these.
        top_k: documents kept per question-choice pair (KEAR: 5).
        backend: ``bm25s`` (fast) or ``rank_bm25`` (the reference implementation); they rank identically.
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation.
        remove_stopwords: drop English function words from documents and queries.

    Checked when built: ``corpora`` non-empty paths, each once; ``index`` a non-empty path or null; ``top_k`` an
    integer >= 1; ``backend`` one of :data:`BACKEND_NAMES`; ``k1`` a finite number >= 0; ``b`` a number in [0, 1].
    """

    corpora: list[str] = field(default_factory=list)
    index: str | None = None
    top_k: int = 5
    backend: str = "bm25s"
    k1: float = 1.5
    b: float = 0.75
    remove_stopwords: bool = True

    def __post_init__(self) -> None:
        check_texts(self.corpora, "corpora")
        check_text(self.index, "index", optional=True)
        check_int(self.top_k, "top_k", 1)
        check_choice(self.backend, "backend", BACKEND_NAMES)
        check_number(self.k1, "k1", minimum=0)
        check_number(self.b, "b", minimum=0, maximum=1)  # BM25's length normalisation is a share
        check_bool(self.remove_stopwords, "remove_stopwords")
