"""Shared fixtures: the bundled sample, indexes built from it, and the real reference data when present."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval import RetrievalConfig, ingest_conceptnet, ingest_wiktionary
from retrieval.data import sample_file

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "csqa-dev-reference"
needs_reference = pytest.mark.skipif(
    not (REFERENCE / "dev.json").is_file(), reason="../shared/data/csqa-dev-reference is not here"
)


@pytest.fixture(scope="session")
def sample_indexes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """ConceptNet and Wiktionary indexes built once from the bundled sample."""
    root = tmp_path_factory.mktemp("sample-indexes")
    ingest_conceptnet(sample_file("conceptnet-assertions.csv"), root / "conceptnet", progress=False)
    ingest_wiktionary(sample_file("kaikki-english.jsonl"), root / "wiktionary", progress=False)
    return {"kg": root / "conceptnet", "dict": root / "wiktionary"}


@pytest.fixture
def sample_config(sample_indexes: dict[str, Path], tmp_path: Path) -> RetrievalConfig:
    """Retrieval settings over the sample indexes, with a private cache."""
    config = RetrievalConfig(cache_dir=str(tmp_path / "cache"))
    config.kg.index = str(sample_indexes["kg"])
    config.dict.indexes = [str(sample_indexes["dict"])]
    config.train.corpora = [str(sample_file("train.jsonl"))]
    return config


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path
