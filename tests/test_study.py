"""Smoke test of the CommonsenseQA dev study: the first of 2 folds, a few dozen questions, a few steps (skips without
the data)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import REFERENCE, needs_reference

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "study_csqa_dev.py"


@needs_reference
def test_study_runs_the_first_of_two_folds(tmp_path: Path) -> None:
    report = tmp_path / "study.md"
    command = [
        sys.executable,
        str(SCRIPT),
        "--data",
        str(REFERENCE),
        "data.folds=2",
        "data.run_folds=[0]",  # a study run in parts, as docs/results says: the report is written from what ran
        "data.max_records=30",
        "selection.learning_rates=[1e-4]",
        "every_condition.training.epochs=1",
        "every_condition.inputs.max_length=48",
        f"output_dir={tmp_path / 'study'}",
        f"report={report}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=SCRIPT.parents[1])
    assert result.returncode == 0, result.stderr[-3000:]
    text = report.read_text()
    for condition in (
        "no knowledge",
        "ConceptNet triple",
        "definitions (Wiktionary)",
        "similar examples (BM25)",
        "all three, KEAR's order",
        "all three, segment budget",
        "all three, reference triples and definitions",
        "no knowledge, plain transformers Trainer",
    ):
        assert f"| {condition}" in text, condition
    assert "| direct-edge triples | 4512 | 4512 | 100.0% |" in text
    assert report.with_suffix(".png").stat().st_size > 1000
    summary = json.loads(report.with_suffix(".json").read_text())["summary"]
    assert all(len(row["folds"]) == 1 and 0 <= row["mean"] <= 1 for row in summary.values())


def test_study_stops_cleanly_without_the_data(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "--data", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode != 0 and "is not here" in result.stderr and "Traceback" not in result.stderr
