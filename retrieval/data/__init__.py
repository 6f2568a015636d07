"""Small files shipped with the package: samples we wrote ourselves, for examples, docs, tests and ``kear demo``.

``sample/`` holds CommonsenseQA-format questions (``questions.jsonl``) and training questions
(``train.jsonl``), with matching knowledge in the real layouts: ConceptNet assertions
(``conceptnet-assertions.csv``, with non-English rows, part-of-speech suffixes, duplicates and a negative
weight) and a kaikki.org Wiktionary extract (``kaikki-english.jsonl``, current and older layouts).

``demo/`` holds the generated sample that ``kear demo`` runs on (``train``/``dev``/``test.jsonl``,
``conceptnet-assertions.csv``, ``kaikki.jsonl``); :mod:`retrieval.data.make_demo` generates it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrieval.config import RetrievalConfig

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
DEMO_DIR = Path(__file__).resolve().parent / "demo"


def _shipped(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(f"no shipped file {name!r} in {folder}")
    return path


def sample_file(name: str) -> Path:
    """Path of a bundled sample file, e.g. ``sample_file("questions.jsonl")``."""
    return _shipped(SAMPLE_DIR, name)


def demo_file(name: str) -> Path:
    """Path of a shipped demo file, e.g. ``demo_file("train.jsonl")``."""
    return _shipped(DEMO_DIR, name)


def index_dumps(
    folder: str | Path,
    conceptnet: str | Path,
    dictionary: str | Path,
    corpora: Sequence[str | Path] = (),
    **settings: Any,
) -> RetrievalConfig:
    """Index a ConceptNet dump and a kaikki.org Wiktionary extract; return retrieval settings that read them.

    Args:
        folder: where the indexes go (``conceptnet/`` and ``wiktionary/`` inside it).
        conceptnet: the ConceptNet assertions (CSV, optionally gzipped).
        dictionary: the Wiktionary extract (JSONL, optionally gzipped).
        corpora: training records that BM25 finds similar examples in.
        settings: other top-level retrieval settings (``use_cache=False``, ``cache_dir=...``, ``sources=[...]``).
    """
    # imported here: ``retrieval.data`` is read by tests and shell commands that only want a file's path
    from retrieval import RetrievalConfig, ingest_conceptnet, ingest_wiktionary, load_settings

    folder = Path(folder)
    ingest_conceptnet(conceptnet, folder / "conceptnet", progress=False)
    ingest_wiktionary(dictionary, folder / "wiktionary", progress=False)
    values = {
        **settings,
        "conceptnet": {"index": str(folder / "conceptnet")},
        "dictionary": {"indexes": [str(folder / "wiktionary")]},
        "examples": {"corpora": [str(path) for path in corpora]},
    }
    return load_settings(RetrievalConfig, values=values)


def index_demo(folder: str | Path, corpora: Sequence[str | Path] | None = None, **settings: Any) -> RetrievalConfig:
    """Index the demo's dumps (as :func:`index_dumps`); BM25 reads the demo's training questions unless
    ``corpora`` names others."""
    corpora = [demo_file("train.jsonl")] if corpora is None else corpora
    return index_dumps(folder, demo_file("conceptnet-assertions.csv"), demo_file("kaikki.jsonl"), corpora, **settings)
