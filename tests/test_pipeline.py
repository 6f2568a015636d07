from __future__ import annotations

import contextlib
import copy
import json
import logging
import re
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval import (
    ConfigError,
    KearError,
    RetrievalConfig,
    RetrievalReport,
    annotate,
    ingest_conceptnet,
    read_records,
)
from retrieval.conceptnet import index as conceptnet_index
from retrieval.data import sample_file


def _records() -> list:
    return list(read_records(sample_file("questions.jsonl")))


def test_all_three_sources_fill_kear_fields(sample_config: RetrievalConfig) -> None:
    records = list(annotate(_records(), sample_config, progress=False))
    milk = records[0]
    assert milk.knowledge["qc_meaning"].startswith("milk: A white liquid")
    fridge = milk.choices[0].knowledge
    assert fridge["triple"] == [["milk", "AtLocation", "refrigerator"]]
    assert fridge["surface"] == "You are likely to find [[milk]] in [[a refrigerator]]"
    assert fridge["weight"] == 3.464
    assert fridge["ac_meaning"].startswith("refrigerator: A cabinet")
    # only documents sharing a word with the query score above zero; the small sample has two
    assert fridge["retrieval"] == [
        "Where is butter kept so it stays fresh? refrigerator",
        "Where do people usually keep cold drinks at home? refrigerator",
    ]
    assert milk.choices[4].knowledge["retrieval"] == []  # "attic": no training question shares a word
    assert all(len(c.knowledge["retrieval"]) == 5 for c in records[11].choices)  # top_k = 5
    no_edge = records[1].choices[1].knowledge  # "more debt"
    assert (no_edge["triple"], no_edge["surface"], no_edge["weight"]) == ([], "", 0.0)


def test_a_rerun_comes_from_the_cache_without_opening_indexes(sample_config: RetrievalConfig, monkeypatch) -> None:
    first_report = RetrievalReport()
    first = [r.to_dict() for r in annotate(_records(), sample_config, report=first_report, progress=False)]
    assert first_report.computed == {"conceptnet": 12, "dictionary": 12, "examples": 12}

    def refuse(*args, **kwargs):
        raise AssertionError("the index was opened although every result was cached")

    monkeypatch.setattr(conceptnet_index.ConceptNetIndex, "__init__", refuse)
    monkeypatch.setattr("retrieval.examples.load_corpus", refuse)
    report = RetrievalReport()
    second = [r.to_dict() for r in annotate(_records(), sample_config, report=report, progress=False)]
    assert second == first
    assert report.computed == {"conceptnet": 0, "dictionary": 0, "examples": 0}
    assert report.cached == {"conceptnet": 12, "dictionary": 12, "examples": 12}


def test_a_rebuilt_index_invalidates_the_cache(sample_config: RetrievalConfig, tmp_path: Path) -> None:
    list(annotate(_records(), sample_config, progress=False))
    sample_config.conceptnet.index = str(tmp_path / "rebuilt")
    ingest_conceptnet(sample_file("conceptnet-assertions.csv"), sample_config.conceptnet.index, progress=False)
    report = RetrievalReport()
    list(annotate(_records(), sample_config, report=report, progress=False))
    assert report.computed["conceptnet"] == 12 and report.cached["dictionary"] == 12


def test_sources_can_be_chosen(sample_config: RetrievalConfig) -> None:
    (record, *_) = annotate(_records(), sample_config, ["conceptnet"], progress=False)
    assert set(record.choices[0].knowledge) == {"triple", "surface", "weight", "relations"}
    assert record.knowledge == {}
    with pytest.raises(ConfigError, match="unknown knowledge source"):
        list(annotate(_records(), sample_config, ["conceptnet", "wikipedia"], progress=False))


def test_missing_question_concept_is_grounded_then_defined(sample_config: RetrievalConfig) -> None:
    record = copy.deepcopy(_records()[0])
    record.question_concept = None
    (out,) = annotate([record], sample_config, ["conceptnet", "dictionary"], progress=False)
    assert out.question_concept == "milk"
    assert out.knowledge["qc_grounded"] is True
    assert out.knowledge["qc_meaning"].startswith("milk:")


def test_unset_indexes_are_config_errors(tmp_path: Path) -> None:
    config = RetrievalConfig(cache_dir=str(tmp_path))
    for source, message in (
        ("conceptnet", "conceptnet.index is not set"),
        ("dictionary", "dictionary.indexes is empty"),
        ("examples", "examples.corpora"),
    ):
        with pytest.raises(ConfigError, match=message):
            list(annotate(_records(), config, [source], progress=False))
    config.conceptnet.index = str(tmp_path / "nothing")
    with pytest.raises(ConfigError, match="not a ConceptNet index"):
        list(annotate(_records(), config, ["conceptnet"], progress=False))


# ------------------------------------------------------------------------------ oversized records stay bounded


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Fail, instead of hanging, when the block runs past ``seconds`` (a guard, not a benchmark)."""

    def stop(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_an_oversized_record_is_cut_when_read_and_retrieval_over_it_completes(
    sample_config: RetrievalConfig, tmp_path: Path
) -> None:
    """Before texts were cut at read time, a 1,200-word choice ended in a RecursionError and a 2 MB one ran for
    minutes: the dictionary backed off word by word, recursively, and every step copied the text."""
    from retrieval.records import MAX_CHOICE_CHARS, MAX_QUESTION_CHARS

    obj = json.loads(sample_file("questions.jsonl").read_text().splitlines()[0])
    question = obj["question"]
    question["stem"] = "milk " * 400_000 + question["stem"]  # 2 MB
    question["choices"][1]["text"] = "cupboard " * 250_000  # 2 MB
    question["choices"][2]["text"] = " ".join(["word"] * 1_200)
    del question["question_concept"]  # so the question concept is grounded in the long question
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps(obj) + "\n")
    assert path.stat().st_size > 4_000_000

    with time_limit(120):
        (record,) = read_records(path)
        assert len(record.question) <= MAX_QUESTION_CHARS and record.question.endswith("does not spoil?")
        assert all(len(c.text) <= MAX_CHOICE_CHARS for c in record.choices)  # 1,200 words: 6,000 characters
        (out,) = annotate([record], sample_config, progress=False)
    assert out.question_concept == "milk" and out.knowledge["qc_meaning"].startswith("milk:")
    assert out.choices[0].knowledge["triple"] == [["milk", "AtLocation", "refrigerator"]]
    assert all(
        set(c.knowledge) == {"triple", "surface", "weight", "relations", "ac_meaning", "retrieval"} for c in out.choices
    )


# ------------------------------------------------------------------------------------- the cache and its damage


def test_a_corrupt_cache_is_moved_aside_and_rebuilt(sample_config: RetrievalConfig, caplog) -> None:
    expected = [r.to_dict() for r in annotate(_records(), sample_config, progress=False)]
    cache = sample_config.cache_path()
    for damaged in (b"not a database " * 1_000, cache.read_bytes()[:3_000]):
        cache.write_bytes(damaged)
        Path(f"{cache}-wal").unlink(missing_ok=True)
        report = RetrievalReport()
        with caplog.at_level(logging.WARNING, logger="retrieval.cache"):
            got = [r.to_dict() for r in annotate(_records(), sample_config, report=report, progress=False)]
        assert got == expected and report.computed == {"conceptnet": 12, "dictionary": 12, "examples": 12}
        (warning,) = [r.getMessage() for r in caplog.records if r.name == "retrieval.cache"]
        assert warning.startswith(f"{cache}: corrupt retrieval cache") and f"{cache}.corrupt" in warning
        assert Path(f"{cache}.corrupt").read_bytes() == damaged
        caplog.clear()
    report = RetrievalReport()
    list(annotate(_records(), sample_config, report=report, progress=False))
    assert report.cached == {"conceptnet": 12, "dictionary": 12, "examples": 12}  # the new cache serves


def test_an_unreadable_cached_value_is_computed_again(sample_config: RetrievalConfig) -> None:
    expected = [r.to_dict() for r in annotate(_records(), sample_config, progress=False)]
    db = sqlite3.connect(sample_config.cache_path())
    db.execute("UPDATE knowledge SET value = ? WHERE rowid IN (SELECT rowid FROM knowledge LIMIT 5)", (b"{bad",))
    db.execute("UPDATE knowledge SET value = ? WHERE rowid IN (SELECT rowid FROM knowledge LIMIT 3 OFFSET 5)", (b"[]",))
    db.commit()
    db.close()
    report = RetrievalReport()
    assert [r.to_dict() for r in annotate(_records(), sample_config, report=report, progress=False)] == expected
    assert sum(report.computed.values()) == 8


def test_a_cache_dir_that_is_a_file_is_a_one_line_error(
    sample_config: RetrievalConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("notes.txt").write_text("x")
    sample_config.cache_dir = "notes.txt"
    with pytest.raises(KearError) as caught:
        list(annotate(_records(), sample_config, progress=False))
    assert str(caught.value) == "notes.txt: the retrieval cache folder (cache_dir) is not a folder"
    sample_config.cache_dir = "cache"
    Path("cache/retrieval.sqlite").mkdir(parents=True)
    with pytest.raises(KearError, match=r"^cache/retrieval\.sqlite: the retrieval cache is not a file"):
        list(annotate(_records(), sample_config, progress=False))


def test_indexes_of_the_wrong_kind_are_config_errors(sample_config: RetrievalConfig) -> None:
    kg, dictionary = sample_config.conceptnet.index, sample_config.dictionary.indexes[0]
    sample_config.conceptnet.index = dictionary
    with pytest.raises(ConfigError, match=rf"^{re.escape(dictionary)}: not a ConceptNet index \(it is a wiktionary"):
        list(annotate(_records(), sample_config, ["conceptnet"], progress=False))
    sample_config.dictionary.indexes = [kg]
    with pytest.raises(ConfigError, match=rf"^{re.escape(kg)}: not a dictionary index \(a ConceptNet index\)"):
        list(annotate(_records(), sample_config, ["dictionary"], progress=False))
