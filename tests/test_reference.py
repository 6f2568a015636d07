"""Agreement with the reference system's retrieved knowledge on the real CommonsenseQA dev split.

The reference triples and meanings were written into a mini ConceptNet dump and a mini Wiktionary extract;
retrieving from those must reproduce the reference for direct edges (>= 99%) and meanings (>= 95%).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval import RetrievalConfig, annotate, ingest_conceptnet, ingest_wiktionary, read_records
from retrieval.agreement import Agreement, knowledge_agreement

from .conftest import REFERENCE, needs_reference

pytestmark = needs_reference


@pytest.fixture(scope="module")
def agreement(tmp_path_factory) -> Agreement:
    root = tmp_path_factory.mktemp("reference")
    ingest_conceptnet(REFERENCE / "conceptnet-assertions-mini.csv", root / "conceptnet", progress=False)
    ingest_wiktionary(REFERENCE / "wiktionary-mini.jsonl", root / "dictionary", progress=False)
    config = RetrievalConfig(sources=["conceptnet", "dictionary"], use_cache=False)
    config.conceptnet.index, config.dictionary.indexes = str(root / "conceptnet"), [str(root / "dictionary")]
    reference = list(read_records(REFERENCE / "dev.json"))
    ours = list(annotate([r.without_knowledge() for r in reference], config, progress=False))
    return knowledge_agreement(reference, ours)


def test_direct_edges_reproduce_the_reference(agreement) -> None:
    same, total = agreement.direct
    assert total == 4512
    assert same / total >= 0.99


def test_meanings_reproduce_the_reference(agreement) -> None:
    same, total = agreement.meaning
    assert total == 7108  # 6105 choices + 1221 questions, less 218 without a reference meaning
    assert same / total >= 0.95


def test_fallback_edges_mostly_agree(agreement) -> None:
    """Fallback edges are scored over the choice concept's whole neighbourhood; the mini graph holds only the
    reference triples, so agreement is lower by construction. It is reported, and guarded against collapse."""
    same, total = agreement.fallback
    assert total == 907
    assert same / total >= 0.9


def test_reference_folder_is_not_in_the_repository() -> None:
    repository = Path(__file__).resolve().parents[1]
    assert not any(p.name in {"dev.json", "conceptnet-assertions-mini.csv"} for p in repository.rglob("*"))
