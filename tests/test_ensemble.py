from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from kear.cli import main
from kear.ensemble import align, combine, ensemble_files, read_predictions, search_weights
from kear.evaluation import Prediction, write_predictions
from retrieval import DataError, KearError

from .conftest import write_lines


def softmax(scores: list[float]) -> list[float]:
    exps = [math.exp(s) for s in scores]
    return [e / sum(exps) for e in exps]


A = [Prediction("q1", ["A", "B", "C"], [2.0, 1.0, 0.0], "A"), Prediction("q2", ["A", "B", "C"], [0.0, 0.0, 3.0], "B")]
B = [Prediction("q1", ["A", "B", "C"], [0.0, 3.0, 0.0], "A"), Prediction("q2", ["A", "B", "C"], [0.0, 2.0, 0.0], "B")]
C = [Prediction("q1", ["A", "B", "C"], [1.0, 0.0, 0.0], "A"), Prediction("q2", ["A", "B", "C"], [0.0, 1.0, 0.0], "B")]


def test_mean_probability_by_hand() -> None:
    (q1, q2) = combine([A, B], "mean-prob")
    expected = [(x + y) / 2 for x, y in zip(softmax([2, 1, 0]), softmax([0, 3, 0]))]
    assert q1.probabilities == pytest.approx(expected)
    assert q1.prediction == "B"  # 0.3552 + 0.0452... : B wins (0.12 + 0.91) / 2
    assert q2.prediction == "C"


def log_softmax(scores: list[float]) -> list[float]:
    return [math.log(p) for p in softmax(scores)]


def test_mean_logit_by_hand() -> None:
    (q1, _) = combine([A, B], "mean-logit")
    assert q1.scores == pytest.approx(log_softmax([1.0, 2.0, 0.0]))  # scores are log-probabilities
    assert q1.probabilities == pytest.approx(softmax([1.0, 2.0, 0.0]))


def test_majority_vote_and_its_tie_break() -> None:
    (q1, q2) = combine([A, B, C], "vote")
    assert (q1.prediction, q2.prediction) == ("A", "B")  # A: 2 votes of 3; B: 2 votes of 3
    assert q1.probabilities[0] == pytest.approx(2 / 3, abs=1e-5)
    (tied, _) = combine([A, B], "vote")  # one vote each for A and B: the higher mean probability wins
    mean = [(x + y) / 2 for x, y in zip(softmax([2, 1, 0]), softmax([0, 3, 0]))]
    assert tied.prediction == "ABC"[mean.index(max(mean))]


def test_weighted_by_hand_and_weight_search() -> None:
    (q1, _) = combine([A, B], "weighted", [0.75, 0.25])
    expected = [0.75 * x + 0.25 * y for x, y in zip(softmax([2, 1, 0]), softmax([0, 3, 0]))]
    assert q1.probabilities == pytest.approx(expected)
    # C is right on both questions, A on one: the search puts its weight on C
    weights = search_weights([A, C])
    assert weights[1] > weights[0] and sum(weights) == pytest.approx(1)
    assert all(p.prediction == p.answer for p in combine([A, C], "weighted", weights))


def test_mismatched_files_are_refused(tmp_path: Path) -> None:
    other = [Prediction("q1", ["A", "B", "C"], [0, 0, 1]), Prediction("q3", ["A", "B", "C"], [0, 0, 1])]
    with pytest.raises(KearError, match="score different records"):
        align([A, other], ["a.jsonl", "b.jsonl"])
    relabelled = [Prediction("q1", ["X", "Y", "Z"], [0, 0, 1]), Prediction("q2", ["A", "B", "C"], [0, 0, 1])]
    with pytest.raises(KearError, match="has labels"):
        align([A, relabelled], ["a.jsonl", "b.jsonl"])


def test_files_in_files_out_and_order(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_predictions(a, A)
    write_predictions(b, list(reversed(B)))  # another order: aligned by id
    report = ensemble_files([a, b], tmp_path / "e.jsonl", "mean-logit")
    # by hand: A right on q1, B right on q2; the mean logits [1, 2, 0] and [0, 1, 1.5] pick B and C: both wrong
    assert report.members == {str(a): 0.5, str(b): 0.5} and report.ensemble == 0.0
    rows = [json.loads(line) for line in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q1", "q2"] and rows[0]["scores"] == pytest.approx(log_softmax([1.0, 2.0, 0.0]))
    assert read_predictions(tmp_path / "e.jsonl")[0].prediction == "B"


def test_cli_and_bad_prediction_lines(tmp_path: Path, caplog, capsys) -> None:
    a, b, c = (tmp_path / f"{n}.jsonl" for n in "abc")
    for path, member in ((a, A), (b, B), (c, C)):
        write_predictions(path, member)
    assert main(["ensemble", str(a), str(b), str(c), "--method", "vote", "--output", str(tmp_path / "v.jsonl")]) == 0
    assert "ensemble (vote): accuracy 1.0000" in caplog.text
    weighted = ["ensemble", str(a), str(c), "--method", "weighted", "--output", str(tmp_path / "w.jsonl")]
    assert main([*weighted, "--dev", str(a), str(c)]) == 0
    bad = write_lines(tmp_path / "bad.jsonl", [json.dumps({"id": "q1", "labels": ["A", "B"]})])
    with pytest.raises(DataError, match=r"bad\.jsonl:1: missing field 'scores'"):
        read_predictions(bad)
    other = write_lines(
        tmp_path / "other.jsonl", [json.dumps({"id": "zz", "labels": ["A", "B", "C"], "scores": [0, 1, 2]})]
    )
    assert main(["ensemble", str(a), str(other), "--output", str(tmp_path / "o.jsonl")]) == 1
    assert "score different records" in capsys.readouterr().err


def test_weighted_needs_dev_files_and_every_ensemble_an_output(tmp_path: Path, capsys) -> None:
    a, c = tmp_path / "a.jsonl", tmp_path / "c.jsonl"
    write_predictions(a, A)
    write_predictions(c, C)
    out = tmp_path / "w.jsonl"
    # without dev files the weights would be tuned on the very predictions they combine
    assert main(["ensemble", str(a), str(c), "--method", "weighted", "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kear: error: the weighted ensemble needs --dev") and err.count("\n") == 1
    assert not out.exists()
    assert main(["ensemble", str(a), str(c), "--dev", str(a), str(c), "--output", str(out)]) == 1
    assert "--dev is for the weighted ensemble" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # no output: computing everything and keeping nothing is an error
        main(["ensemble", str(a), str(c)])
    assert stop.value.code == 2 and "--output" in capsys.readouterr().err
    assert main(["ensemble", str(a), str(c), "--output", "-"]) == 0  # - is stdout
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["q1", "q2"]


def test_scores_are_log_probabilities_and_other_scales_are_normalised(tmp_path: Path) -> None:
    logits = write_lines(
        tmp_path / "logits.jsonl", [json.dumps({"id": "q1", "labels": ["A", "B", "C"], "scores": [12.0, 11.0, 10.0]})]
    )
    [read] = read_predictions(logits)  # raw logits from another tool: read as the distribution they give
    assert read.scores == pytest.approx(log_softmax([2.0, 1.0, 0.0]))
    assert math.fsum(read.probabilities) == pytest.approx(1.0)
    first = ensemble_files([logits, logits], tmp_path / "e1.jsonl", "mean-prob")
    again = ensemble_files([tmp_path / "e1.jsonl", logits], tmp_path / "e2.jsonl", "mean-prob")
    assert first.ensemble is None and again.ensemble is None  # no answers known
    # an ensemble of identical members is that member; an ensemble of it and the member, too
    for name in ("e1.jsonl", "e2.jsonl"):
        [line] = [json.loads(x) for x in (tmp_path / name).read_text().splitlines()]
        assert line["scores"] == pytest.approx(log_softmax([2.0, 1.0, 0.0]))
        assert math.fsum(line["probabilities"]) == pytest.approx(1.0)
