"""``kear demo``: the whole job, offline, on the bundled sample.

Builds the ConceptNet and Wiktionary indexes from the sample dumps, retrieves all three kinds of knowledge
for the sample questions (similar examples from the sample training questions), writes them as JSONL and
prints what was found for each question's answer.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from retrieval import (
    RetrievalConfig,
    ingest_conceptnet,
    ingest_wiktionary,
    read_records,
    retrieve_file,
    verbalize,
)
from retrieval.data import sample_file
from retrieval.pipeline import RetrievalReport

logger = logging.getLogger(__name__)


@dataclass
class DemoResult:
    """Where the demo wrote its files, and what retrieval found."""

    workdir: Path
    output: Path
    report: RetrievalReport
    table: str


def _cut(text: str | None, width: int) -> str:
    text = text or "-"
    return text if len(text) <= width else text[: width - 1] + "…"


def knowledge_table(path: Path) -> str:
    """One line per question: its concept, its answer, and the knowledge retrieved for that answer."""
    rows = [("id", "question concept", "answer", "triple", "answer meaning", "first similar example")]
    for record in read_records(path):
        answer = record.choices[record.answer_index or 0]
        triple = answer.knowledge.get("triple")
        examples = answer.knowledge.get("retrieval") or []
        rows.append(
            (
                record.id,
                record.question_concept or "-",
                answer.text,
                _cut(verbalize(triple[0]) if triple else None, 36),
                _cut(answer.knowledge.get("ac_meaning"), 40),
                _cut(examples[0] if examples else None, 44),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def run_demo(workdir: str | Path | None = None, progress: bool = True) -> DemoResult:
    """Run the demo; files go to ``workdir`` (a new temporary folder by default)."""
    workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="kear-demo-"))
    indexes = workdir / "indexes"
    logger.info("demo: building indexes in %s", indexes)
    ingest_conceptnet(sample_file("conceptnet-assertions.csv"), indexes / "conceptnet", progress=progress)
    ingest_wiktionary(sample_file("kaikki-english.jsonl"), indexes / "wiktionary", progress=progress)
    config = RetrievalConfig(cache_dir=str(workdir / "cache"))
    config.kg.index = str(indexes / "conceptnet")
    config.dict.indexes = [str(indexes / "wiktionary")]
    config.train.corpora = [str(sample_file("train.jsonl"))]
    output = workdir / "questions.knowledge.jsonl"
    report = retrieve_file(sample_file("questions.jsonl"), output, config, progress=progress)
    return DemoResult(workdir, output, report, knowledge_table(output))
