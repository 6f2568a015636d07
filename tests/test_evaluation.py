from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest

import kear
from kear.cli import main
from kear.evaluation import (
    AnswerTally,
    Prediction,
    accuracy_of,
    log_probabilities,
    wilson_interval,
    write_predictions,
)
from kear.metrics import accuracy
from retrieval import DataError


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
    assert accuracy_of(predictions[2:]) is None  # no answer known: no accuracy, never nan
    assert accuracy([0, 1, 2], [0, 1, 1]) == pytest.approx(2 / 3)
    # counted as they come, in chunks (kear predict), it is the same accuracy
    tally = AnswerTally(predictions[:1])
    assert (tally.accuracy, len(tally)) == (1.0, 1)
    tally.add(predictions[1:])
    assert (tally.accuracy, len(tally)) == (accuracy_of(predictions), 2)
    assert AnswerTally().accuracy is None


def line_of(line: dict) -> tuple:
    return line["answer"], line.get("choices")


def test_prediction_lines_read_back_as_written(tmp_path: Path) -> None:
    written = [
        Prediction("q1", ["A", "B", "C"], [0.0, 2.0, 1.0], answer="C", texts=["x", "y", "z"]),
        Prediction("q2", ["A", "B"], [3.0, -1.0]),  # no answer, no texts
    ]
    for prediction in written:
        line = prediction.to_dict()
        read = Prediction.from_dict(json.loads(json.dumps(line)))
        assert (read.id, read.labels, read.answer, read.texts) == (prediction.id, prediction.labels, *line_of(line))
        assert read.scores == pytest.approx(prediction.scores, abs=1e-15)  # log-probabilities stay as they are
        assert list(read.to_dict()) == list(line)
    path = tmp_path / "p.jsonl"
    write_predictions(path, written)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows[1]["answer"] is None and "null" in path.read_text().splitlines()[1]
    assert "choices" not in rows[1] and "prediction_text" not in rows[1]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ([1, 2], "expected a JSON object"),
        ({"id": "q", "labels": ["A", "B"]}, "missing field 'scores'"),
        ({"id": "q", "labels": ["A", "B"], "scores": [0, "nan"]}, "'scores' must be a list of finite numbers"),
        ({"id": "q", "labels": ["A", "B"], "scores": [0, True]}, "'scores' must be a list of finite numbers"),
        ({"id": "q", "labels": ["A", "B"], "scores": [0]}, "'labels' and 'scores' must have the same length"),
        ({"id": "q", "labels": ["A", "A"], "scores": [0, 1]}, "duplicate labels"),
        ({"id": "q", "labels": ["A", ""], "scores": [0, 1]}, "'labels' must be a list of non-empty strings"),
        ({"id": "q", "labels": ["A", "B"], "scores": [0, 1], "answer": "Z"}, "answer 'Z' is not one of the labels"),
        ({"id": "q", "labels": ["A", "B"], "scores": [0, 1], "choices": ["x"]}, "'choices' must be a list as long"),
        ({"id": True, "labels": ["A", "B"], "scores": [0, 1]}, "'id' must be a non-empty string or a number"),
        ({"labels": ["A", "B"], "scores": [0, 1]}, "missing field 'id'"),
    ],
)
def test_a_bad_prediction_line_is_one_error_naming_file_and_line(line: object, message: str) -> None:
    with pytest.raises(DataError) as error:
        Prediction.from_dict(line, "p.jsonl", 7)
    assert str(error.value).startswith(f"p.jsonl:7: {message}")


def test_numeric_ids_read_as_text() -> None:
    assert Prediction.from_dict({"id": 12, "labels": ["A", "B"], "scores": [0, 1]}).id == "12"


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
    for row in rows:  # log-probabilities, and their exponentials
        assert math.fsum(math.exp(s) for s in row["scores"]) == pytest.approx(1.0)
        assert row["probabilities"] == pytest.approx([math.exp(s) for s in row["scores"]])
    correct = sum(r["prediction"] == r["answer"] for r in rows) / 12
    assert f"accuracy {correct:.4f}" in caplog.text


def test_log_probabilities() -> None:
    logits = [3.0, 1.0, -2.0]
    result = log_probabilities(logits)
    total = math.fsum(math.exp(x) for x in logits)
    assert result == pytest.approx([x - math.log(total) for x in logits])
    assert log_probabilities(result) == pytest.approx(result, abs=1e-15)  # log-probabilities stay as they are
    assert log_probabilities([x + 500 for x in logits]) == pytest.approx(result)  # any offset, no overflow
    assert log_probabilities([1000.0, -1000.0]) == pytest.approx([0.0, -2000.0])
    with pytest.raises(ValueError, match="no scores"):
        log_probabilities([])
    assert Prediction("q", ["A", "B", "C"], logits).scores == pytest.approx(result)


def test_kear_evaluate_output_is_optional_and_kept_on_errors(
    trained_model: Path, sample_knowledge: Path, tmp_path: Path, caplog, capsys
) -> None:
    from retrieval.data import sample_file

    args = ["evaluate", "--model", str(trained_model), "--no-progress"]
    assert main([*args, "--input", str(sample_knowledge)]) == 0  # the accuracy is the output
    assert "12 records by 1 process; accuracy" in caplog.text
    out = tmp_path / "predictions.jsonl"
    out.write_text("an earlier run\n")
    # a file kear did not write is not replaced, as with kear predict
    assert main([*args, "--input", str(sample_knowledge), "--output", str(out)]) == 1
    assert "exists and kear did not write it; give --overwrite" in capsys.readouterr().err
    # raw records, and a model whose settings name no index: one line, and the earlier file stays whole
    raw = ["--input", str(sample_file("questions.jsonl")), "--output", str(out), "--overwrite"]
    assert main([*args, *raw]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kear: error: the records lack knowledge the model uses") and err.count("\n") == 1
    assert out.read_text() == "an earlier run\n" and list(tmp_path.iterdir()) == [out]


def test_kear_evaluate_skips_and_counts_bad_lines(trained_model: Path, sample_knowledge: Path, tmp_path: Path, caplog):
    good = sample_knowledge.read_text().splitlines()
    source = tmp_path / "some-bad.jsonl"
    source.write_text("\n".join([*good[:2], "{broken", *good[2:]]) + "\n")
    args = ["evaluate", "--model", str(trained_model), "--input", str(source), "--no-progress"]
    assert main(args) == 1
    assert main([*args, "--skip-invalid"]) == 0
    assert "12 records by 1 process; accuracy" in caplog.text and "skipped 1 invalid input lines" in caplog.text


def test_wilson_interval() -> None:
    # the textbook values (Wilson 1927; Newcombe 1998's table): none, all and half right
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson_interval(50, 100) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert wilson_interval(0, 0) is None
    tally = AnswerTally([Prediction("a", ["A", "B"], [1.0, 0.0], "A"), Prediction("b", ["A", "B"], [1.0, 0.0], "B")])
    assert (tally.correct, len(tally)) == (1, 2)


def test_kear_evaluate_writes_its_results(trained_model: Path, sample_knowledge: Path, tmp_path: Path) -> None:
    out = tmp_path / "dev.seed1.jsonl"
    args = ["evaluate", "--model", str(trained_model), "--input", str(sample_knowledge), "--no-progress"]
    assert main([*args, "--output", str(out), "--batch-size", "5"]) == 0
    results = json.loads((tmp_path / "dev.seed1.results.json").read_text())  # beside the lines
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    correct = sum(row["prediction"] == row["answer"] for row in rows)
    assert (results["questions"], results["answered"], results["correct"]) == (12, 12, correct)
    assert results["accuracy"] == pytest.approx(correct / 12)
    interval = results["interval"]
    assert interval["method"] == "wilson" and interval["level"] == 0.95
    assert interval["low"] < results["accuracy"] < interval["high"]
    assert results["data"] == {
        "input": str(sample_knowledge),
        "sha256": hashlib.sha256(sample_knowledge.read_bytes()).hexdigest(),
        "split": None,
        "skipped": 0,
    }
    assert results["model"] == str(trained_model) and results["predictions"] == str(out)
    assert results["settings"]["batch_size"] == 5 and results["settings"]["inference"] == "torch"
    assert results["settings"]["retrieval_overrides"] == [] and "majority_relation" in results["settings"]["rules"]
    assert results["kear_version"] == kear.__version__
    # --results alone: no lines, the same counts
    alone = tmp_path / "alone.json"
    assert main([*args, "--results", str(alone)]) == 0
    assert json.loads(alone.read_text())["correct"] == correct and json.loads(alone.read_text())["predictions"] is None
    shown = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))  # not kear's records of them
    assert shown == ["alone.json", "dev.seed1.jsonl", "dev.seed1.results.json"]
    # a run that fails leaves the earlier results as they were
    broken = tmp_path / "broken.jsonl"
    broken.write_text(sample_knowledge.read_text().splitlines()[0] + "\n{broken\n")
    before = alone.read_bytes()
    assert main([*args[:4], str(broken), "--no-progress", "--results", str(alone)]) == 1
    assert alone.read_bytes() == before


def test_kear_evaluate_says_what_its_inputs_lost(trained_model: Path, sample_knowledge: Path, tmp_path, caplog) -> None:
    """The share of choices keeping each segment whole goes into the results, and a segment cut in more than 5% of
    them is a warning naming the settings that give it room (the trained model reads 64 tokens per choice)."""
    import logging

    args = ["evaluate", "--model", str(trained_model), "--input", str(sample_knowledge), "--no-progress"]
    with caplog.at_level(logging.INFO, logger="kear.budget"):
        assert main([*args, "--results", str(tmp_path / "r.json")]) == 0
    whole = json.loads((tmp_path / "r.json").read_text())["segments_whole"]
    assert set(whole) == {"triple", "qc_meaning", "ac_meaning", "examples"} and all(0 <= v <= 1 for v in whole.values())
    cut = sorted(name for name, share in whole.items() if share < 0.95)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert cut and len(warned) == 1 and all(name in warned[0] for name in cut), (whole, warned)
    assert "inputs.max_length" in warned[0] and "evaluation data" in warned[0]
