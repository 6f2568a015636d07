from __future__ import annotations

import random

import numpy as np
import pytest

from retrieval import ExamplesConfig, read_records
from retrieval.data import sample_file
from retrieval.examples import BM25SBackend, ExampleRetriever, RankBM25Backend, load_corpus, top_k


def test_top_k_is_deterministic_on_ties_and_skips_zero_and_excluded() -> None:
    scores = np.array([1.0, 3.0, 3.0, 0.0, 2.0, 3.0])
    assert top_k(scores, 2) == [1, 2]
    assert top_k(scores, 10) == [1, 2, 5, 4, 0]
    assert top_k(scores, 3, exclude=[2]) == [1, 5, 4]
    assert top_k(np.zeros(4), 3) == []


def _random_corpus(seed: int, documents: int, queries: int) -> tuple[list[list[str]], list[list[str]]]:
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(300)]
    weights = [1 / (i + 1) for i in range(300)]  # Zipf-like: many shared and repeated words, many ties
    docs = [rng.choices(vocabulary, weights, k=rng.randint(1, 12)) for _ in range(documents)]
    asks = [rng.choices(vocabulary, weights, k=rng.randint(1, 8)) for _ in range(queries)]
    return docs, asks


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rank_bm25_and_bm25s_rank_identically(seed: int) -> None:
    docs, queries = _random_corpus(seed, documents=400, queries=300)
    reference, fast = RankBM25Backend(docs, 1.5, 0.75), BM25SBackend(docs, 1.5, 0.75)
    compared = 0
    for query in queries:
        expected, got = reference.scores(query), fast.scores(query)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
        assert top_k(got, 5) == top_k(expected, 5)
        compared += bool(top_k(expected, 5))
    assert compared > 250


def test_both_backends_agree_on_the_sample() -> None:
    corpus = load_corpus([sample_file("train.jsonl")])
    records = list(read_records(sample_file("questions.jsonl")))
    found = {
        backend: [ExampleRetriever(corpus, ExamplesConfig(backend=backend)).positions(r) for r in records]
        for backend in ("rank_bm25", "bm25s")
    }
    assert found["rank_bm25"] == found["bm25s"]
    assert sum(len(p) for per_record in found["bm25s"] for p in per_record) > 100


def test_a_question_never_retrieves_itself() -> None:
    corpus = load_corpus([sample_file("train.jsonl")])
    retriever = ExampleRetriever(corpus, ExamplesConfig(top_k=30))
    for record in read_records(sample_file("train.jsonl")):
        own = f"{record.question} {record.answer_text}"
        for texts in retriever.retrieve(record):
            assert own not in texts
        # the same question under another id, with other punctuation, is excluded too
        record.id = "renamed"
        record.question = record.question.upper().rstrip("?") + " ?"
        assert all(own not in texts for texts in retriever.retrieve(record))


def test_without_exclusion_the_question_itself_would_rank_first() -> None:
    """The leak the exclusion prevents is real: the gold document matches its own query best."""
    corpus = load_corpus([sample_file("train.jsonl")])
    retriever = ExampleRetriever(corpus, ExamplesConfig())
    record = next(read_records(sample_file("train.jsonl")))
    gold = record.choices[record.answer_index].text
    best = top_k(retriever.backend.scores(retriever.query(record, gold)), 1)
    assert corpus.ids[best[0]] == record.id


def test_records_without_answers_are_left_out_of_the_corpus(tmp_path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(
        '{"id": "a", "question": "q one", "choices": ["x", "y"], "answer": "x"}\n'
        '{"id": "b", "question": "q two", "choices": ["x", "y"]}\n'
    )
    corpus = load_corpus([path])
    assert corpus.ids == ["a"] and corpus.texts == ["q one x"]


def test_unknown_backend() -> None:
    with pytest.raises(ValueError, match="unknown BM25 backend"):
        ExampleRetriever(load_corpus([sample_file("train.jsonl")]), ExamplesConfig(backend="lucene"))
