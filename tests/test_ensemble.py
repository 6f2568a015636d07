from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from kear.cli import main
from kear.ensemble import align, combine, ensemble_files, read_predictions, search_weights, weight_grid
from kear.evaluation import Prediction, accuracy_of, write_predictions
from retrieval import DataError, KearError

from .conftest import write_lines


def softmax(scores: list[float]) -> list[float]:
    exps = [math.exp(s) for s in scores]
    return [e / sum(exps) for e in exps]


A = [Prediction("q1", ["A", "B", "C"], [2.0, 1.0, 0.0], "A"), Prediction("q2", ["A", "B", "C"], [0.0, 0.0, 3.0], "B")]
B = [Prediction("q1", ["A", "B", "C"], [0.0, 3.0, 0.0], "A"), Prediction("q2", ["A", "B", "C"], [0.0, 2.0, 0.0], "B")]
C = [Prediction("q1", ["A", "B", "C"], [1.0, 0.0, 0.0], "A"), Prediction("q2", ["A", "B", "C"], [0.0, 1.0, 0.0], "B")]
# the logits A, B and C were made from (a Prediction keeps their log-softmax)
LOGITS = {
    "A": [[2.0, 1.0, 0.0], [0.0, 0.0, 3.0]],
    "B": [[0.0, 3.0, 0.0], [0.0, 2.0, 0.0]],
    "C": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
}


def flat(predictions) -> list[float]:
    return [s for p in predictions for s in p.scores]


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


def search_point_by_point(members, step: float = 0.1) -> list[float]:
    """The weight search as it was: every grid point combined, scored and compared in turn."""
    best, best_key = None, None
    for weights in weight_grid(len(members), step):
        combined = [p for p in combine(members, "weighted", weights) if p.answer is not None]
        likelihood = sum(p.scores[p.labels.index(p.answer)] for p in combined)
        key = (accuracy_of(combined), likelihood)
        if best_key is None or key > best_key:
            best, best_key = weights, key
    return best


def test_the_weight_search_finds_what_combining_point_by_point_finds() -> None:
    # members with ties of every kind: identical members, equal scores, probabilities that underflow to 0
    rng = random.Random(3)
    for case in range(12):
        sizes = [rng.choice([2, 3, 5]) for _ in range(rng.choice([1, 4, 9]))]
        values = [0.0, 1.0, 2.0] if case % 2 else None
        members = []
        for m in range(3):
            if m and rng.random() < 0.4:
                members.append(members[rng.randrange(m)])
                continue
            scores = [[rng.choice(values) if values else rng.gauss(0, 3) for _ in range(k)] for k in sizes]
            if case % 5 == 0:
                scores[0] = [800.0] + [0.0] * (sizes[0] - 1)
            members.append(scores)
        answers = [None if r and rng.random() < 0.2 else "ABCDE"[rng.randrange(k)] for r, k in enumerate(sizes)]
        members = [
            [Prediction(f"q{r}", list("ABCDE"[:k]), s, a) for r, (k, s, a) in enumerate(zip(sizes, m, answers))]
            for m in members
        ]
        assert search_weights(members) == search_point_by_point(members), case
    assert len(weight_grid(5)) == 1001 and weight_grid(2, 0.5) == [[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]


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


def test_predictions_keep_log_probabilities() -> None:
    given = Prediction("q1", ["A", "B", "C"], [2.0, 1.0, 0.0])  # logits: kept as their log-softmax
    assert given.scores == pytest.approx(log_softmax([2.0, 1.0, 0.0]))
    assert math.log(math.fsum(math.exp(s) for s in given.scores)) == pytest.approx(0.0, abs=1e-12)
    assert Prediction("q1", ["A", "B", "C"], given.scores).scores == pytest.approx(given.scores, abs=1e-15)
    assert given.to_dict()["scores"] == given.scores and given.probabilities == pytest.approx(softmax([2, 1, 0]))
    for method in ("mean-prob", "mean-logit", "vote"):
        for p in combine([A, B, C], method):
            assert math.fsum(p.probabilities) == pytest.approx(1.0), method
            assert p.probabilities == pytest.approx([math.exp(s) for s in p.scores]), method


def test_mean_logit_over_log_probabilities_is_mean_logit_over_logits() -> None:
    # each member's log-probabilities are its logits less one constant: the average's softmax is unchanged
    weights = [0.5, 0.2, 0.3]
    for q, ensemble in enumerate(combine([A, B, C], "mean-logit", weights)):
        members = [LOGITS[name][q] for name in "ABC"]
        averaged = [sum(w * m[i] for w, m in zip(weights, members)) for i in range(3)]
        assert ensemble.probabilities == pytest.approx(softmax(averaged)), q
    shifted = [Prediction(p.id, p.labels, [s + 100.0 for s in p.scores], p.answer) for p in A]  # logits at any offset
    assert flat(combine([shifted, B], "mean-logit")) == pytest.approx(flat(combine([A, B], "mean-logit")))


def test_an_ensemble_of_ensembles_is_consistent(tmp_path: Path) -> None:
    # in memory: the mean probability of (A, B) and C, weighted 2 to 1, is the mean probability of A, B and C
    nested = combine([combine([A, B], "mean-prob"), C], "weighted", [2, 1])
    assert flat(nested) == pytest.approx(flat(combine([A, B, C], "mean-prob")))
    # the same for mean-logit: log-probabilities of an ensemble average like any member's
    nested = combine([combine([A, B], "mean-logit"), C], "mean-logit", [2, 1])
    assert flat(nested) == pytest.approx(flat(combine([A, B, C], "mean-logit")))
    # through files: an ensemble's file reads back as the ensemble, and ensembles again like any member's file
    a, b, c = (tmp_path / f"{n}.jsonl" for n in "abc")
    for path, member in ((a, A), (b, B), (c, C)):
        write_predictions(path, member)
    for method in ("mean-prob", "mean-logit", "vote"):
        ab = tmp_path / f"ab-{method}.jsonl"
        ensemble_files([a, b], ab, method)
        read = read_predictions(ab)
        assert flat(read) == pytest.approx(flat(combine([A, B], method)))
        again = tmp_path / f"ab-ab-{method}.jsonl"
        ensemble_files([ab, ab], again, method)  # an ensemble of one ensemble, twice, is that ensemble
        if method == "vote":  # a vote share, not the distribution voted on: the same predictions
            assert [p.prediction for p in read_predictions(again)] == [p.prediction for p in read]
        else:
            assert flat(read_predictions(again)) == pytest.approx(flat(read))
        mixed = ensemble_files([ab, c], tmp_path / f"ab-c-{method}.jsonl", method)
        assert mixed.ensemble == accuracy_of(combine([read, C], method))


def test_old_files_with_logits_combine_like_log_probabilities(tmp_path: Path) -> None:
    # the same member written as raw logits (an older kear, another tool) and as log-probabilities
    old = write_lines(
        tmp_path / "old.jsonl",
        [json.dumps({"id": p.id, "labels": p.labels, "scores": s, "answer": p.answer}) for p, s in zip(A, LOGITS["A"])],
    )
    new, b = tmp_path / "new.jsonl", tmp_path / "b.jsonl"
    write_predictions(new, A)
    write_predictions(b, B)
    assert flat(read_predictions(old)) == pytest.approx(flat(read_predictions(new)))
    for method in ("mean-prob", "mean-logit", "vote"):
        ensemble_files([old, b], tmp_path / "from-old.jsonl", method)
        ensemble_files([new, b], tmp_path / "from-new.jsonl", method)
        from_old, from_new = (read_predictions(tmp_path / f"from-{n}.jsonl") for n in ("old", "new"))
        assert flat(from_old) == pytest.approx(flat(from_new)), method


def test_requests_that_cannot_work_are_refused_first(tmp_path: Path, capsys) -> None:
    a = tmp_path / "a.jsonl"
    write_predictions(a, A)
    with pytest.raises(KearError, match="at least two members"):
        ensemble_files([a], tmp_path / "e.jsonl")
    with pytest.raises(KearError, match="1 development files for 2 members"):
        ensemble_files([a, a], tmp_path / "e.jsonl", "weighted", [a])
    with pytest.raises(KearError, match="the weighted ensemble needs --dev"):
        ensemble_files([a, a], tmp_path / "e.jsonl", "weighted")
    with pytest.raises(KearError, match="weights must be at least 0"):
        combine([A, B], "weighted", [1.0, -1.0])
    with pytest.raises(KearError, match="weights must be at least 0"):
        combine([A, B], "weighted", [0.0, 0.0])
    assert not (tmp_path / "e.jsonl").exists()
    # with --models, before any model is loaded (these folders do not exist)
    models = ["--models", str(tmp_path / "m1"), str(tmp_path / "m2"), "--input", str(a), "--no-progress"]
    out = ["--output", str(tmp_path / "e.jsonl")]
    assert main(["ensemble", *models, "--method", "weighted", *out]) == 1
    assert capsys.readouterr().err.startswith("kear: error: the weighted ensemble needs --dev")
    assert main(["ensemble", "--models", str(tmp_path / "m1"), *out]) == 1
    assert capsys.readouterr().err.strip() == "kear: error: --models needs --input: the records the models predict"
