"""Ensembles of prediction files: KEAR reached human parity on CommonsenseQA only as an ensemble.

Methods, over members that scored the same records:

* ``mean-prob``: the average of the members' probabilities;
* ``mean-logit``: the average of their scores, then softmax (members' scores are log-probabilities, which differ
  from their logits by one constant per member and record: the softmax of the average is the same);
* ``vote``: each member votes for its prediction; ties go to the higher average probability;
* ``weighted``: a weighted average of probabilities, the weights searched on development predictions of the same
  members (never on the predictions being combined, whose accuracy that would flatter).

The result is written in the same line format as ``kear predict``'s (see :mod:`kear.evaluation`; ``scores``: the
log-probabilities of the combined distribution), so it can be ensembled again.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retrieval.errors import DataError, KearError
from retrieval.io import iter_json_lines
from retrieval.outputs import check_output, check_writable

from .evaluation import Prediction, accuracy_of, write_predictions

METHODS = ("mean-prob", "mean-logit", "vote", "weighted")
ENSEMBLE = "ensemble"  # the kind of output an ensemble's file is (retrieval.outputs)


def read_predictions(path: str | Path) -> list[Prediction]:
    """Prediction lines as written by ``kear predict``, ``kear evaluate`` or ``kear ensemble``.

    Each line is read by :meth:`Prediction.from_dict`: ``scores`` are what counts, normalised to log-probabilities
    (log-softmax) whatever their scale, so that raw logits, from an older file or another tool, stand for the same
    distribution and combine like any other member. A bad line, a duplicate id or an empty file is a
    :class:`DataError` naming the file (and line).

    Args:
        path: the prediction file (JSONL; ``-`` for stdin).
    """
    out: list[Prediction] = []
    seen: dict[str, int] = {}
    for number, line in iter_json_lines(path):
        prediction = Prediction.from_dict(line, path, number)
        if prediction.id in seen:
            raise DataError(path, number, f"duplicate id '{prediction.id}' (first on line {seen[prediction.id]})")
        seen[prediction.id] = number
        out.append(prediction)
    if not out:
        raise DataError(path, None, "holds no predictions")
    return out


def align(members: Sequence[Sequence[Prediction]], names: Sequence[str]) -> list[list[Prediction]]:
    """Members re-ordered to the first one's record order; refuses members whose ids or labels differ."""
    reference = {p.id: p for p in members[0]}
    aligned = [list(members[0])]
    for name, member in zip(names[1:], members[1:]):
        by_id = {p.id: p for p in member}
        if by_id.keys() != reference.keys():
            extra, missing = sorted(by_id.keys() - reference.keys()), sorted(reference.keys() - by_id.keys())
            raise KearError(
                f"{name} and {names[0]} score different records ({len(missing)} missing, {len(extra)} extra, "
                f"e.g. '{(missing or extra)[0]}'): an ensemble needs the same records in every member"
            )
        for p in member:
            first = reference[p.id]
            if p.labels != first.labels:
                raise KearError(f"{name}: record '{p.id}' has labels {p.labels}, {names[0]} has {first.labels}")
            # the same record must be the same question: its answer and choices, where both files give them
            if None not in (p.answer, first.answer) and p.answer != first.answer:
                raise KearError(f"{name}: record '{p.id}' has answer {p.answer}, {names[0]} has {first.answer}")
            if None not in (p.texts, first.texts) and p.texts != first.texts:
                raise KearError(f"{name}: record '{p.id}' has other choices than in {names[0]}")
        aligned.append([by_id[p.id] for p in members[0]])
    return aligned


def combine(
    members: Sequence[Sequence[Prediction]], method: str = "mean-prob", weights: Sequence[float] | None = None
) -> list[Prediction]:
    """Combine aligned members (same records in the same order, see :func:`align`) into one list of predictions.

    Args:
        members: each member's predictions.
        method: one of :data:`METHODS`.
        weights: one per member (required for ``weighted``, see :func:`search_weights`); equal by default.
    """
    if method not in METHODS:
        raise KearError(f"unknown ensemble method '{method}'; choose from {', '.join(METHODS)}")
    if method == "weighted" and weights is None:
        raise KearError("the weighted ensemble needs weights (search them with search_weights)")
    weights = list(weights) if weights is not None else [1.0] * len(members)
    if len(weights) != len(members):
        raise KearError(f"{len(weights)} weights for {len(members)} members")
    if any(w < 0 for w in weights) or not sum(weights) > 0:
        raise KearError(f"ensemble weights must be at least 0 and add up to more than 0, got {weights}")
    total = sum(weights)
    out = []
    for row in zip(*members):
        first, choices = row[0], range(len(row[0].labels))
        if method == "mean-logit":
            # The members' scores are log-probabilities, not the logits: each is its logits minus their log-sum-exp,
            # one constant per member and record. The weighted average shifts by the weighted average of those
            # constants, the same for every choice, so its softmax is the softmax of the averaged logits.
            scores = [sum(w * p.scores[i] for w, p in zip(weights, row)) / total for i in choices]
        else:
            member_probabilities = [p.probabilities for p in row]
            probabilities = [sum(w * q[i] for w, q in zip(weights, member_probabilities)) / total for i in choices]
            if method == "vote":
                votes = [sum(p.index == i for p in row) for i in choices]
                # a vote share, nudged by the average probability so that ties break toward it
                scores = [
                    math.log((v + 1e-6 * q) / len(row)) if v or q else -1e30 for v, q in zip(votes, probabilities)
                ]
            else:
                scores = [math.log(q) if q > 0 else -1e30 for q in probabilities]
        # Prediction keeps scores as log-probabilities: the combined distribution, normalised
        out.append(Prediction(first.id, first.labels, scores, first.answer, first.texts))
    return out


def weight_grid(members: int, step: float = 0.1) -> list[list[float]]:
    """Every way to share 1 among ``members`` weights in multiples of ``step``, in the order they are searched.

    Args:
        members: how many weights.
        step: the grid's step; ``1 / step`` should be a whole number.
    """
    units = round(1 / step)
    grid = []
    for split in itertools.combinations(range(units + members - 1), members - 1):
        cuts = [-1, *split, units + members - 1]
        grid.append([(cuts[i + 1] - cuts[i] - 1) / units for i in range(members)])
    return grid


def _score_grid(
    members: Sequence[Sequence[Prediction]], known: list[int], answers: np.ndarray, grid: list[list[float]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each grid point, at once with numpy: how many answers its weighted ensemble gets right, the likelihood
    of the answers (up to rounding), and whether rounding could change the count (two choices within a hair).

    Args:
        members: aligned predictions.
        known: the positions of the records with an answer.
        answers: their answers' choice indices.
        grid: the weights to score (:func:`weight_grid`).
    """
    width = max(len(members[0][r].labels) for r in known)
    # each member's probabilities on the records with an answer; a record's missing choices (fewer than the widest)
    # have none, and are left out through ``real``
    probabilities = np.zeros((len(members), len(known), width))
    for m, member in enumerate(members):
        for i, r in enumerate(known):
            probabilities[m, i, : len(member[r].labels)] = member[r].probabilities
    real = np.arange(width) < np.array([len(members[0][r].labels) for r in known])[:, None]
    correct = np.zeros(len(grid), dtype=np.int64)
    likelihood = np.zeros(len(grid))
    unsure = np.zeros(len(grid), dtype=bool)
    block = max(1, 2_000_000 // probabilities[0].size)  # grid points at a time: a few tens of MB of floats
    for start in range(0, len(grid), block):
        part = slice(start, start + block)
        weights = np.array(grid[part])
        # the same operations in the same order as combine's, so each probability is the very same float
        combined = weights[:, 0, None, None] * probabilities[0]
        for m in range(1, len(members)):
            combined = combined + weights[:, m, None, None] * probabilities[m]
        combined = combined / np.array([sum(w) for w in grid[part]])[:, None, None]
        ranked = np.where(real, combined, -1.0)
        correct[part] = (ranked.argmax(axis=-1) == answers).sum(axis=-1)
        if width > 1:  # two different choices this close may come out tied, or the other way, in combine's logs
            top = np.sort(ranked, axis=-1)[..., -2:]
            gap = top[..., 1] - top[..., 0]
            unsure[part] = ((gap > 0) & (gap <= 1e-9 * top[..., 1])).any(axis=-1)
        # combine's scores: the log of each probability (-1e30 for 0), normalised to log-probabilities
        with np.errstate(divide="ignore"):
            scores = np.where(real, np.where(combined > 0, np.log(combined), -1e30), -np.inf)
        peak = scores.max(axis=-1, keepdims=True)
        normaliser = peak[..., 0] + np.log(np.exp(scores - peak).sum(axis=-1))
        picked = np.take_along_axis(scores, answers[None, :, None], axis=-1)[..., 0]
        likelihood[part] = (picked - normaliser).sum(axis=-1)
    return correct, likelihood, unsure


def search_weights(members: Sequence[Sequence[Prediction]], step: float = 0.1) -> list[float]:
    """Weights (summing to 1, on a grid of ``step``) that maximise the weighted ensemble's accuracy on
    development predictions; among equally accurate ones, the one with the highest likelihood of the answers (of
    equal ones, the first in :func:`weight_grid`'s order).

    The whole grid (1001 points for five members) is scored at once with numpy; the few points whose place rounding
    could decide (two choices within a hair of each other, likelihoods within a hair of the best) are scored again
    exactly as :func:`combine` combines, so the weights are those that combining point by point finds.

    Args:
        members: aligned development predictions (see :func:`align`), with answers.
        step: the grid's step.
    """
    known = [r for r, p in enumerate(members[0]) if p.answer is not None]
    if not known:
        raise KearError("searching ensemble weights needs development predictions with answers")
    grid = weight_grid(len(members), step)
    answers = np.array([members[0][r].labels.index(members[0][r].answer) for r in known])
    correct, likelihood, unsure = _score_grid(members, known, answers, grid)
    exact: dict[int, tuple[int, float]] = {}

    def score(point: int) -> tuple[int, float]:
        """A grid point's number of correct answers and likelihood, exactly as combining with its weights gives."""
        if point not in exact:
            everything = combine(members, "weighted", grid[point])
            combined = [everything[r] for r in known]
            hits = sum(p.index == a for p, a in zip(combined, answers.tolist()))
            exact[point] = (hits, sum(p.scores[p.labels.index(p.answer)] for p in combined))
            correct[point], likelihood[point] = exact[point]
        return exact[point]

    for point in np.flatnonzero(unsure).tolist():
        score(point)
    # the number of correct answers orders the points as their accuracy does (the same records count for each)
    best = np.flatnonzero(correct == correct.max())
    tolerance = 1e-9 * (len(known) + abs(float(likelihood[best].max())))
    close = best[likelihood[best] >= likelihood[best].max() - tolerance].tolist()
    if len(close) == 1:
        return grid[close[0]]
    return grid[max(close, key=lambda point: (score(point), -point))]


@dataclass
class EnsembleReport:
    """Accuracy of each member and of the ensemble (``None`` where answers are unknown)."""

    members: dict[str, float | None] = field(default_factory=dict)
    ensemble: float | None = None
    weights: list[float] | None = None


def check_request(method: str, members: int, dev_paths: Sequence[str | Path] | None = None) -> None:
    """Refuse an ensemble that cannot be made, or would mislead, before any work: an unknown method, fewer than two
    members, ``weighted`` without development predictions (one per member), ``dev_paths`` for another method."""
    if method not in METHODS:
        raise KearError(f"unknown ensemble method '{method}'; choose from {', '.join(METHODS)}")
    if members < 2:
        raise KearError(f"an ensemble needs at least two members, got {members}")
    if method == "weighted" and not dev_paths:
        raise KearError(
            "the weighted ensemble needs --dev: the same members' predictions on development records, where the "
            "weights are tuned (tuning them on the predictions being combined would report a flattered accuracy)"
        )
    if method != "weighted" and dev_paths:
        raise KearError(f"--dev is for the weighted ensemble; '{method}' has no weights to tune")
    if dev_paths and len(dev_paths) != members:
        raise KearError(f"{len(dev_paths)} development files for {members} members: give one per member, in order")


def ensemble_files(
    paths: Sequence[str | Path],
    output: str | Path,
    method: str = "mean-prob",
    dev_paths: Sequence[str | Path] | None = None,
    *,
    overwrite: bool = False,
) -> EnsembleReport:
    """Combine prediction files into ``output`` (JSONL, atomically; ``-`` for stdout).

    Args:
        paths: the members' prediction files, on the same records.
        output: where the ensemble's prediction lines go.
        method: one of :data:`METHODS`.
        dev_paths: for ``weighted`` (and only for it, where they are required): the same members' predictions on
            development records with answers, in the same order, where the weights are searched; so the weights
            are never tuned on the records they combine.
        overwrite: replace an existing ``output`` that is not an ensemble kear wrote (:mod:`retrieval.outputs`).
    """
    check_request(method, len(paths), dev_paths)
    inputs = [*paths, *(dev_paths or ())]
    if str(output) != "-":
        check_output(output, inputs, kind=ENSEMBLE, overwrite=overwrite)
        check_writable(output)
    names = [str(p) for p in paths]
    members = align([read_predictions(p) for p in paths], names)
    report = EnsembleReport(members={name: accuracy_of(m) for name, m in zip(names, members)})
    weights = None
    if method == "weighted":
        weights = search_weights(align([read_predictions(p) for p in dev_paths], [str(p) for p in dev_paths]))
    combined = combine(members, method, weights)
    report.ensemble, report.weights = accuracy_of(combined), weights
    write_predictions(output, combined, kind=ENSEMBLE, overwrite=overwrite, inputs=inputs)
    return report
