from __future__ import annotations

import copy
from pathlib import Path

import pytest

from retrieval import ConfigError, RetrievalConfig, RetrievalReport, annotate, ingest_conceptnet, read_records
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
    assert first_report.computed == {"kg": 12, "dict": 12, "train": 12}

    def refuse(*args, **kwargs):
        raise AssertionError("the index was opened although every result was cached")

    monkeypatch.setattr(conceptnet_index.ConceptNetIndex, "__init__", refuse)
    monkeypatch.setattr("retrieval.examples.load_corpus", refuse)
    report = RetrievalReport()
    second = [r.to_dict() for r in annotate(_records(), sample_config, report=report, progress=False)]
    assert second == first
    assert report.computed == {"kg": 0, "dict": 0, "train": 0}
    assert report.cached == {"kg": 12, "dict": 12, "train": 12}


def test_a_rebuilt_index_invalidates_the_cache(sample_config: RetrievalConfig, tmp_path: Path) -> None:
    list(annotate(_records(), sample_config, progress=False))
    sample_config.kg.index = str(tmp_path / "rebuilt")
    ingest_conceptnet(sample_file("conceptnet-assertions.csv"), sample_config.kg.index, progress=False)
    report = RetrievalReport()
    list(annotate(_records(), sample_config, report=report, progress=False))
    assert report.computed["kg"] == 12 and report.cached["dict"] == 12


def test_sources_can_be_chosen(sample_config: RetrievalConfig) -> None:
    (record, *_) = annotate(_records(), sample_config, ["kg"], progress=False)
    assert set(record.choices[0].knowledge) == {"triple", "surface", "weight"}
    assert record.knowledge == {}
    with pytest.raises(ConfigError, match="unknown knowledge source"):
        list(annotate(_records(), sample_config, ["kg", "wikipedia"], progress=False))


def test_missing_question_concept_is_grounded_then_defined(sample_config: RetrievalConfig) -> None:
    record = copy.deepcopy(_records()[0])
    record.question_concept = None
    (out,) = annotate([record], sample_config, ["kg", "dict"], progress=False)
    assert out.question_concept == "milk"
    assert out.knowledge["qc_grounded"] is True
    assert out.knowledge["qc_meaning"].startswith("milk:")


def test_unset_indexes_are_config_errors(tmp_path: Path) -> None:
    config = RetrievalConfig(cache_dir=str(tmp_path))
    for source, message in (
        ("kg", "kg.index is not set"),
        ("dict", "dict.indexes is empty"),
        ("train", "train.corpora"),
    ):
        with pytest.raises(ConfigError, match=message):
            list(annotate(_records(), config, [source], progress=False))
    config.kg.index = str(tmp_path / "nothing")
    with pytest.raises(ConfigError, match="not a ConceptNet index"):
        list(annotate(_records(), config, ["kg"], progress=False))
