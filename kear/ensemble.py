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

from retrieval.errors import DataError, KearError
from retrieval.io import check_output, iter_json_lines

from .evaluation import Prediction, accuracy_of, write_predictions

METHODS = ("mean-prob", "mean-logit", "vote", "weighted")


def read_predictions(path: str | Path) -> list[Prediction]:
    """Prediction lines as written by ``kear predict``, ``kear evaluate`` or ``kear ensemble``.

    ``scores`` are what counts (``prediction`` and ``probabilities`` are derived from them again). They are
    normalised to log-probabilities (log-softmax) whatever their scale, so that raw logits, from an older file or
    another tool, stand for the same distribution and combine like any other member.
    """
    out: list[Prediction] = []
    seen: dict[str, int] = {}
    for number, line in iter_json_lines(path):
        try:
            if not isinstance(line, dict):
                raise ValueError("expected a JSON object")
            labels, scores = line["labels"], line["scores"]
            if not isinstance(labels, list) or not all(isinstance(label, str) and label for label in labels):
                raise ValueError("'labels' must be a list of non-empty strings")
            if not isinstance(scores, list) or not all(_finite(score) for score in scores):
                raise ValueError(f"'scores' must be a list of finite numbers, got {str(scores)[:80]}")
            if len(labels) != len(scores) or len(labels) < 2:
                raise ValueError("'labels' and 'scores' must have the same length, at least 2")
            if len(set(labels)) != len(labels):
                raise ValueError(f"duplicate labels {labels}")
            answer = line.get("answer")
            if answer is not None and answer not in labels:
                raise ValueError(f"answer '{answer}' is not one of the labels {labels}")
            texts = line.get("choices")
            if texts is not None and (not isinstance(texts, list) or len(texts) != len(labels)):
                raise ValueError("'choices' must be a list as long as 'labels'")
            identifier = line["id"]
            if not isinstance(identifier, (str, int)) or isinstance(identifier, bool) or str(identifier) == "":
                raise ValueError("'id' must be a non-empty string or a number")
            if str(identifier) in seen:
                raise ValueError(f"duplicate id '{identifier}' (first on line {seen[str(identifier)]})")
            seen[str(identifier)] = number
            out.append(Prediction(str(identifier), labels, [float(x) for x in scores], answer, texts))
        except (KeyError, TypeError, ValueError) as error:
            missing = f"missing field {error}" if isinstance(error, KeyError) else str(error)
            raise DataError(path, number, missing) from None
    if not out:
        raise DataError(path, None, "holds no predictions")
    return out


def _finite(value: object) -> bool:
    """A score: a number (not a bool, not text) that is neither infinite nor NaN."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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


def search_weights(members: Sequence[Sequence[Prediction]], step: float = 0.1) -> list[float]:
    """Weights (summing to 1, on a grid of ``step``) that maximise the weighted ensemble's accuracy on
    development predictions; among equally accurate ones, the one with the highest likelihood of the answers."""
    if not any(p.answer is not None for p in members[0]):
        raise KearError("searching ensemble weights needs development predictions with answers")
    units = round(1 / step)
    best, best_key = None, None
    for split in itertools.combinations(range(units + len(members) - 1), len(members) - 1):
        cuts = [-1, *split, units + len(members) - 1]
        weights = [(cuts[i + 1] - cuts[i] - 1) / units for i in range(len(members))]
        combined = combine(members, "weighted", weights)
        known = [p for p in combined if p.answer is not None]
        likelihood = sum(p.scores[p.labels.index(p.answer)] for p in known)
        key = (accuracy_of(combined), likelihood)
        if best_key is None or key > best_key:
            best, best_key = weights, key
    return best


@dataclass
class EnsembleReport:
    """Accuracy of each member and of the ensemble (``None`` where answers are unknown)."""

    members: dict[str, float | None] = field(default_factory=dict)
    ensemble: float | None = None
    weights: list[float] | None = None


def _accuracy(predictions: Sequence[Prediction]) -> float | None:
    value = accuracy_of(predictions)
    return None if value != value else value


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
) -> EnsembleReport:
    """Combine prediction files into ``output`` (JSONL, atomically; ``-`` for stdout).

    Args:
        paths: the members' prediction files, on the same records.
        output: where the ensemble's prediction lines go.
        method: one of :data:`METHODS`.
        dev_paths: for ``weighted`` (and only for it, where they are required): the same members' predictions on
            development records with answers, in the same order, where the weights are searched; so the weights
            are never tuned on the records they combine.
    """
    check_request(method, len(paths), dev_paths)
    inputs = [*paths, *(dev_paths or ())]
    if str(output) != "-":
        check_output(output, inputs)
    names = [str(p) for p in paths]
    members = align([read_predictions(p) for p in paths], names)
    report = EnsembleReport(members={name: _accuracy(m) for name, m in zip(names, members)})
    weights = None
    if method == "weighted":
        weights = search_weights(align([read_predictions(p) for p in dev_paths], [str(p) for p in dev_paths]))
    combined = combine(members, method, weights)
    report.ensemble, report.weights = _accuracy(combined), weights
    write_predictions(output, combined, inputs=inputs)
    return report
