from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from kear.cli import main
from kear.evaluation import Prediction, accuracy_of, write_predictions
from kear.metrics import accuracy


def test_prediction_fields() -> None:
    prediction = Prediction("q1", ["A", "B", "C"], [0.0, 2.0, 1.0], answer="C", texts=["x", "y", "z"])
    assert prediction.prediction == "B" and prediction.index == 1
    assert math.isclose(sum(prediction.probabilities), 1.0)
    expected = math.exp(2) / (1 + math.exp(2) + math.exp(1))
    assert math.isclose(prediction.probabilities[1], expected)
    assert prediction.to_dict()["prediction_text"] == "y"
    assert list(prediction.to_dict()) == [
        "id",
        "prediction",
        "prediction_text",
        "answer",
        "labels",
        "choices",
        "scores",
        "probabilities",
    ]


def test_accuracy_only_counts_known_answers() -> None:
    predictions = [
        Prediction("a", ["A", "B"], [1, 0], "A"),
        Prediction("b", ["A", "B"], [1, 0], "B"),
        Prediction("c", ["A", "B"], [1, 0], None),
    ]
    assert accuracy_of(predictions) == 0.5
    assert math.isnan(accuracy_of(predictions[2:]))
    assert accuracy([0, 1, 2], [0, 1, 1]) == pytest.approx(2 / 3)


def test_write_predictions(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    assert write_predictions(path, [Prediction("a", ["A", "B"], [1.0, 0.0], "A")]) == 1
    assert json.loads(path.read_text())["prediction"] == "A"


def test_kear_evaluate_writes_predictions(trained_model: Path, sample_knowledge: Path, tmp_path: Path, caplog) -> None:
    out = tmp_path / "predictions.jsonl"
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(trained_model),
                "--input",
                str(sample_knowledge),
                "--output",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 12 and {"id", "answer", "prediction", "scores", "probabilities"} <= set(rows[0])
    correct = sum(r["prediction"] == r["answer"] for r in rows) / 12
    assert f"accuracy {correct:.4f}" in caplog.text
