from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from retrieval import DataError, ExamplesConfig, read_records
from retrieval.data import sample_file
from retrieval.examples import BM25SBackend, ExampleRetriever, RankBM25Backend, load_corpus, top_k

from .conftest import REFERENCE, needs_reference


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
    with pytest.raises(ValueError, match="lucene"):  # the settings refuse it
        ExamplesConfig(backend="lucene")
    config = ExamplesConfig()
    config.backend = "lucene"  # and so does the retriever, for settings changed after they were checked
    with pytest.raises(ValueError, match="unknown BM25 backend"):
        ExampleRetriever(load_corpus([sample_file("train.jsonl")]), config)


# --------------------------------------------------------------------------------- corpora that cannot be used


def _corpus_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, content: str | bytes) -> str:
    """The one-line error of a corpus file ``name`` with ``content``, named as the user gave it."""
    monkeypatch.chdir(tmp_path)
    path = Path(name)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(DataError) as caught:
        load_corpus([sample_file("train.jsonl"), name])
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{name}"), message
    return message


def test_an_empty_corpus_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _corpus_error(tmp_path, monkeypatch, "empty.jsonl", "") == "empty.jsonl: holds no records"
    assert "holds no records" in _corpus_error(tmp_path, monkeypatch, "blank.jsonl", "\n \n")


def test_a_corpus_without_answers_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [json.dumps({"id": f"t{i}", "question": "q?", "choices": ["a", "b"]}) for i in range(3)]
    message = _corpus_error(tmp_path, monkeypatch, "test.jsonl", "\n".join(rows))
    assert message == "test.jsonl: none of the training corpus's 3 records has an answer (BM25 needs answered ones)"


@pytest.mark.parametrize(
    ("content", "where"),
    [
        (sample_file("kaikki-english.jsonl").read_text(), "dump.jsonl:1: missing field 'question'"),
        (sample_file("conceptnet-assertions.csv").read_text(), "dump.jsonl:1: invalid JSON"),
        (bytes(range(256)), "dump.jsonl:1: invalid JSON"),
    ],
)
def test_a_corpus_that_is_not_records_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | bytes, where: str
) -> None:
    assert _corpus_error(tmp_path, monkeypatch, "dump.jsonl", content).startswith(where)


def test_corpus_errors_through_the_source_name_the_corpus(
    sample_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrieval import annotate

    monkeypatch.chdir(tmp_path)
    Path("empty.jsonl").write_text("")
    records = list(read_records(sample_file("questions.jsonl")))
    for corpus, message in (
        ("gone.jsonl", "gone.jsonl: no such file (a training corpus in examples.corpora)"),
        ("empty.jsonl", "empty.jsonl: holds no records"),
    ):
        sample_config.examples.corpora = [corpus]
        with pytest.raises(DataError) as caught:
            list(annotate(records, sample_config, ["examples"], progress=False))
        assert str(caught.value) == message


def test_a_dataset_folder_is_a_corpus(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    rows = [
        {
            "id": r.id,
            "question": r.question,
            "choices": {"label": r.labels, "text": [c.text for c in r.choices]},
            "answerKey": r.answer,
        }
        for r in read_records(sample_file("train.jsonl"))
    ]
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "saved"))
    from retrieval.examples import ExamplesSource

    source = ExamplesSource(ExamplesConfig(corpora=[str(tmp_path / "saved")]))
    assert len(source.fingerprint()) == 40
    assert len(source.retriever.corpus) == 24


# ----------------------------------------------------------------------------------------- the saved index


def _both(corpora: list[Path], folder: Path, config: ExamplesConfig) -> tuple[ExampleRetriever, ExampleRetriever]:
    """A retriever over the corpora read into memory, and one over the index of them saved in ``folder``."""
    from retrieval import index_examples
    from retrieval.examples import ExamplesIndex

    index_examples(corpora, folder, config, progress=False)
    return ExampleRetriever(load_corpus(corpora), config), ExampleRetriever(ExamplesIndex(folder), config)


def test_a_saved_index_retrieves_what_its_corpus_does(tmp_path: Path) -> None:
    config = ExamplesConfig(top_k=30)  # every document that scores at all, ties included
    memory, saved = _both([sample_file("train.jsonl")], tmp_path / "index", config)
    # the training questions themselves too: the no-self-match rule works on the saved index alike
    records = [*read_records(sample_file("questions.jsonl")), *read_records(sample_file("train.jsonl"))]
    found = [memory.retrieve(r) for r in records]
    assert [saved.retrieve(r) for r in records] == found
    assert [saved.excluded(r) for r in records] == [memory.excluded(r) for r in records]
    assert sum(bool(saved.excluded(r)) for r in records) == 24  # each training question is its own document
    assert sum(len(texts) for per_record in found for texts in per_record) > 250


def test_the_source_reads_an_index_as_it_reads_corpora(sample_config, tmp_path: Path) -> None:
    from retrieval import annotate, index_examples

    records = list(read_records(sample_file("questions.jsonl")))
    expected = [r.to_dict() for r in annotate(records, sample_config, ["examples"], progress=False)]
    index_examples([sample_file("train.jsonl")], tmp_path / "examples", progress=False)
    sample_config.examples.index, sample_config.examples.corpora = str(tmp_path / "examples"), []
    sample_config.use_cache = False
    got = [r.to_dict() for r in annotate([r.without_knowledge() for r in records], sample_config, ["examples"])]
    assert got == expected


def test_an_index_is_searched_only_with_the_settings_it_was_built_with(tmp_path: Path) -> None:
    from retrieval import ConfigError, index_examples
    from retrieval.examples import ExamplesSource

    index_examples([sample_file("train.jsonl")], tmp_path / "examples", ExamplesConfig(k1=1.2), progress=False)
    ExamplesSource(ExamplesConfig(index=str(tmp_path / "examples"), k1=1.2))
    with pytest.raises(ConfigError, match=r"was built with k1=1.2, b=0.75, remove_stopwords=True; these settings ask"):
        ExamplesSource(ExamplesConfig(index=str(tmp_path / "examples")))
    with pytest.raises(ConfigError, match="a saved index is searched with bm25s"):
        ExamplesSource(ExamplesConfig(index=str(tmp_path / "examples"), k1=1.2, backend="rank_bm25"))
    with pytest.raises(ConfigError, match=r"gone: not an examples index \(no such folder\)"):
        ExamplesSource(ExamplesConfig(index=str(tmp_path / "gone")))
    with pytest.raises(ConfigError, match=r"examples.corpora is empty: list the training files .* examples.index=DIR"):
        ExamplesSource(ExamplesConfig())


def test_kear_index_examples_writes_an_index_and_refuses_what_is_not_one(sample_indexes, tmp_path: Path, capsys):
    from kear.cli import main

    train = str(sample_file("train.jsonl"))
    out = tmp_path / "examples"
    assert main(["index", "examples", train, train, "--output", str(out), "--no-progress"]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert (meta["kind"], meta["documents"], len(meta["corpora"])) == ("examples", 48, 2)
    assert main(["index", "examples", "--output", str(out), train, "--no-progress"]) == 0  # replaced, options first
    assert json.loads((out / "meta.json").read_text())["build_id"] != meta["build_id"]
    capsys.readouterr()
    assert main(["index", "examples", train, "--output", str(sample_indexes["conceptnet"]), "--no-progress"]) == 1
    assert "holds another kind of kear index; give a new or empty folder" in capsys.readouterr().err
    assert main(["index", "examples", "--output", str(tmp_path / "none"), "--no-progress"]) == 1
    assert "needs the training files to index" in capsys.readouterr().err
    assert main(["index", "conceptnet", train, train, "--no-progress"]) == 1
    assert "reads one dump, got 2" in capsys.readouterr().err


def test_a_damaged_index_is_one_line(tmp_path: Path) -> None:
    from retrieval import KearError, index_examples
    from retrieval.examples import ExamplesIndex

    index_examples([sample_file("train.jsonl")], tmp_path / "examples", progress=False)
    (tmp_path / "examples" / "texts.bin").write_bytes(b"cut")
    with pytest.raises(KearError, match=r"corrupt examples index \(texts.bin holds 3 bytes, its offsets say \d+\)"):
        ExamplesIndex(tmp_path / "examples")
    index_examples([sample_file("train.jsonl")], tmp_path / "examples", progress=False)
    (tmp_path / "examples" / "id_order.npy").unlink()
    with pytest.raises(KearError, match=r"id_order\.npy is not a readable array"):
        ExamplesIndex(tmp_path / "examples")


@needs_reference
def test_a_saved_index_of_real_questions_retrieves_what_its_corpus_does(tmp_path: Path) -> None:
    """The real CommonsenseQA dev questions as the corpus, each asked again: the same top 5, never itself."""
    corpus = tmp_path / "dev.jsonl"
    questions = json.loads((REFERENCE / "dev.json").read_text())
    corpus.write_text("".join(json.dumps(q) + "\n" for q in questions))
    memory, saved = _both([corpus], tmp_path / "index", ExamplesConfig())
    records = list(read_records(corpus))
    for record in records:
        assert saved.retrieve(record) == memory.retrieve(record)
        own = saved.excluded(record)
        assert own and not set(own) & {p for found in saved.positions(record) for p in found}
    assert len(records) > 1000
