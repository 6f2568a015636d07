"""Small files shipped with the package: a sample we wrote ourselves, for examples, docs and tests.

``sample/`` holds CommonsenseQA-format questions (``questions.jsonl``) and training questions
(``train.jsonl``), with matching knowledge in the real layouts: ConceptNet assertions
(``conceptnet-assertions.csv``, with non-English rows, part-of-speech suffixes, duplicates and a negative
weight) and a kaikki.org Wiktionary extract (``kaikki-english.jsonl``, current and older layouts).
"""

from __future__ import annotations

from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"


def sample_file(name: str) -> Path:
    """Path of a bundled sample file, e.g. ``sample_file("questions.jsonl")``."""
    path = SAMPLE_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"no bundled sample file {name!r} in {SAMPLE_DIR}")
    return path
