"""Scores per choice, predictions, and accuracy: what ``kear evaluate`` reports and the ensembles combine.

A prediction line, the same from ``kear predict``, ``kear evaluate`` and ``kear ensemble`` (and what
:func:`kear.read_predictions` reads back), is one JSON object per record::

    {"id": "q1", "prediction": "B", "prediction_text": "bank", "answer": "B", "labels": ["A", "B"],
     "choices": ["park", "bank"], "scores": [-2.1269, -0.1269], "probabilities": [0.1192, 0.8808]}

* ``prediction``: the label of the highest-scoring choice (``prediction_text``: its text);
* ``answer``: the correct label when the input has it, ``null`` otherwise;
* ``labels`` and ``choices``: the choices' labels and texts, in the input's order;
* ``scores``: natural-log probabilities per choice: the log-softmax of a model's logits, or for an ensemble the
  log of its combined distribution; ``logsumexp(scores) == 0``;
* ``probabilities``: ``exp(scores)``, summing to 1;
* ``inputs`` (only when asked for: ``kear predict --log-inputs``): per choice, the text the encoder saw, decoded
  from the token ids it got, special tokens and truncation included.

Lines are written by :meth:`Prediction.to_dict` and read by :meth:`Prediction.from_dict`, and by nothing else.
Reading lines back, scores on any other scale (raw logits from an older file or another tool) are normalised to
log-probabilities (log-softmax): that keeps the distribution they stand for and the prediction, so files of any
origin combine alike.

Accuracy is counted over the predictions whose answer is known, in :class:`AnswerTally`; with no answer known it
is ``None`` (never ``nan``). Its 95% interval is Wilson's score interval (:func:`wilson_interval`).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from retrieval.errors import DataError
from retrieval.io import write_json_lines

from .inputs import ChoiceCollator, Example, LengthGroupedBatchSampler
from .metrics import accuracy


@dataclass
class Prediction:
    """The model's scores for one record.

    Args:
        id: the record's id.
        labels: its choice labels.
        scores: one score per choice, kept as natural-log probabilities: scores on another scale (logits) are
            normalised with :func:`log_probabilities`, which keeps their softmax and their argmax.
        answer: the correct label, when known.
        texts: the choices' texts, when known.
        inputs: per choice, the text the encoder saw (``None`` unless asked for: see
            :meth:`kear.Predictor.predict`'s ``log_inputs``).
    """

    id: str
    labels: list[str]
    scores: list[float]
    answer: str | None = None
    texts: list[str] | None = None
    inputs: list[str] | None = None

    def __post_init__(self) -> None:
        self.scores = log_probabilities(self.scores)

    @property
    def index(self) -> int:
        return max(range(len(self.scores)), key=self.scores.__getitem__)

    @property
    def prediction(self) -> str:
        return self.labels[self.index]

    @property
    def probabilities(self) -> list[float]:
        return [math.exp(s) for s in self.scores]

    def to_dict(self) -> dict[str, Any]:
        """The prediction line (see this module's docstring): what every command writes, in this key order."""
        out: dict[str, Any] = {"id": self.id, "prediction": self.prediction}
        if self.texts is not None:
            out["prediction_text"] = self.texts[self.index]
        out.update(answer=self.answer, labels=self.labels)
        if self.texts is not None:
            out["choices"] = self.texts
        out.update(scores=self.scores, probabilities=self.probabilities)
        if self.inputs is not None:
            out["inputs"] = self.inputs
        return out

    @classmethod
    def from_dict(cls, line: object, path: str | Path = "<prediction>", number: int | None = None) -> Prediction:
        """A prediction from one line as :meth:`to_dict` writes it (or another tool, with at least ``id``,
        ``labels`` and ``scores``).

        ``scores`` are what counts: ``prediction`` and ``probabilities`` are derived from them again, so they are not
        read. Scores on any scale are kept as their log-softmax (see :class:`Prediction`).

        Args:
            line: the line's JSON value.
            path: the file it is from, for the error.
            number: its 1-based line number in that file, for the error.

        Raises:
            DataError: one line naming ``path`` and ``number``: what is wrong with the line.
        """
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
            inputs = line.get("inputs")
            if inputs is not None and (
                not isinstance(inputs, list)
                or len(inputs) != len(labels)
                or not all(isinstance(x, str) for x in inputs)
            ):
                raise ValueError("'inputs' must be a list of texts as long as 'labels'")
            identifier = line["id"]
            if not isinstance(identifier, (str, int)) or isinstance(identifier, bool) or str(identifier) == "":
                raise ValueError("'id' must be a non-empty string or a number")
        except (KeyError, TypeError, ValueError) as error:
            missing = f"missing field {error}" if isinstance(error, KeyError) else str(error)
            raise DataError(path, number, missing) from None
        return cls(str(identifier), labels, [float(x) for x in scores], answer, texts, inputs)


def _finite(value: object) -> bool:
    """A score: a number (not a bool, not text) that is neither infinite nor NaN."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def log_probabilities(values: Sequence[float]) -> list[float]:
    """Log-softmax: real scores per choice (logits, log-probabilities) as natural-log probabilities.

    Log-probabilities come back as they are (up to rounding); logits as their log-softmax.
    """
    if not values:
        raise ValueError("no scores")
    values = [float(v) for v in values]
    top = max(values)
    total = top + math.log(sum(math.exp(v - top) for v in values))
    return [v - total for v in values]


def batch_scores(
    model: torch.nn.Module, examples: Sequence[Example], batches: Iterable[Sequence[int]], pad_token_id: int
) -> dict[int, list[float]]:
    """The logits per choice of the examples in ``batches`` (padded choices left out), by example position.

    Args:
        model: the model (or a prepared copy, :func:`kear.inference.prepare`), on its device.
        examples: the encoded records.
        batches: positions in ``examples``, one list per forward pass; the same batches give the same scores, which
            is how N processes that each score some of them write what one process writes.
        pad_token_id: the tokenizer's padding id.
    """
    collate = ChoiceCollator(pad_token_id)
    device = next(model.parameters()).device
    scores: dict[int, list[float]] = {}
    model.eval()
    with torch.no_grad():
        for batch in batches:
            inputs = {k: v.to(device) for k, v in collate([examples[i] for i in batch]).items() if k != "labels"}
            for position, row in zip(batch, model(**inputs).logits.float().cpu().tolist()):
                scores[position] = row[: len(examples[position].input_ids)]
    return scores


def score_order(examples: Sequence[Example], batch_size: int) -> list[list[int]]:
    """The forward passes that score ``examples``: batches of similar length, the longest first."""
    return LengthGroupedBatchSampler([e.length for e in examples], batch_size, shuffle=False).batches()


def choice_scores(
    model: torch.nn.Module, examples: Sequence[Example], batch_size: int, pad_token_id: int, accelerator=None
) -> list[list[float]]:
    """Each example's logits per choice (in example order; padded choices left out), batched by length for speed.

    With an ``accelerate.Accelerator`` the model must already be prepared; batches are split across its
    processes and the scores gathered.
    """
    if accelerator is None:
        scores = batch_scores(model, examples, score_order(examples, batch_size), pad_token_id)
        return [scores[position] for position in range(len(examples))]
    sampler = LengthGroupedBatchSampler([e.length for e in examples], batch_size, shuffle=False)
    loader = DataLoader(list(examples), batch_sampler=sampler, collate_fn=ChoiceCollator(pad_token_id))
    loader = accelerator.prepare_data_loader(loader)
    gathered: list[torch.Tensor] = []
    model.eval()
    with torch.no_grad():
        for batch in loader:
            inputs = {k: v.to(accelerator.device) for k, v in batch.items() if k != "labels"}
            logits = model(**inputs).logits.float()
            logits = accelerator.pad_across_processes(logits, dim=1, pad_index=torch.finfo(logits.dtype).min)
            gathered.append(accelerator.gather_for_metrics(logits).cpu())
    order = [i for batch in sampler.batches() for i in batch]
    scores: list[list[float]] = [[] for _ in examples]
    rows = [row for block in gathered for row in block.tolist()]
    for position, row in zip(order, rows):
        scores[position] = row[: len(examples[position].input_ids)]
    return scores


def predictions_for(examples: Sequence[Example], logits: Sequence[list[float]]) -> list[Prediction]:
    """Predictions from examples and the model's logits, one each in the same order, with the examples' choice
    texts; their scores are the logits' log-softmax.

    Args:
        examples: the encoded records (:func:`kear.inputs.encode_records`).
        logits: each example's logits per choice (:func:`choice_scores`).
    """
    return [
        Prediction(e.id, e.labels, s, None if e.label < 0 else e.labels[e.label], e.texts)
        for e, s in zip(examples, logits)
    ]


class AnswerTally:
    """The predictions whose answer is known, as two small integers each (the chosen choice, the correct one): what
    accuracy is counted from, in one place.

    Predictions can be added as they come (``kear predict`` streams them in chunks): only the integers are kept, so
    the accuracy of a run of any length is counted once, at its end.

    Args:
        predictions: the first predictions to count (more with :meth:`add`).
    """

    def __init__(self, predictions: Iterable[Prediction] = ()) -> None:
        self.chosen = array("i")
        self.answers = array("i")
        self.add(predictions)

    def add(self, predictions: Iterable[Prediction]) -> None:
        """Count ``predictions`` too; those without an answer are left out."""
        for prediction in predictions:
            if prediction.answer is not None:
                self.chosen.append(prediction.index)
                self.answers.append(prediction.labels.index(prediction.answer))

    def __len__(self) -> int:
        """How many predictions with an answer were counted."""
        return len(self.answers)

    @property
    def correct(self) -> int:
        """How many of them chose the answer."""
        return sum(chosen == answer for chosen, answer in zip(self.chosen, self.answers))

    @property
    def accuracy(self) -> float | None:
        """The share of them that chose the answer (``None`` when no answer is known)."""
        if not self.answers:
            return None
        return accuracy(self.chosen.tolist(), self.answers.tolist())


Z95 = 1.959963984540054  # the standard normal's 97.5th percentile: a two-sided 95% interval


def wilson_interval(correct: int, total: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson's score interval for an accuracy of ``correct`` out of ``total`` (``None`` when ``total`` is 0).

    Unlike the normal approximation it stays within [0, 1] and is not empty at 0 or 100%, which on a small dev
    set is where the plain one goes wrong.

    Args:
        correct: how many were right.
        total: how many were counted.
        z: the normal quantile of the interval's level (default: 95%).
    """
    if total <= 0:
        return None
    share = correct / total
    scale = 1 + z * z / total
    centre = (share + z * z / (2 * total)) / scale
    half = z * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total)) / scale
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_of(predictions: Iterable[Prediction]) -> float | None:
    """Accuracy over the predictions whose answer is known (``None`` when none is).

    Args:
        predictions: any predictions, with or without answers.
    """
    return AnswerTally(predictions).accuracy


def write_predictions(
    path: str | Path,
    predictions: Iterable[Prediction],
    *,
    kind: str = "predictions",
    overwrite: bool = False,
    inputs: Iterable[str | Path] = (),
) -> int:
    """Write prediction lines (JSONL, atomically), never over one of ``inputs``. Returns how many.

    Args:
        path: the output file, or ``-`` for stdout.
        predictions: what to write, one line each (:meth:`Prediction.to_dict`).
        kind: what kind of output they are (``predictions``, ``ensemble``); an existing file is replaced only if
            kear wrote it as this kind, or with ``overwrite`` (:mod:`retrieval.outputs`).
        overwrite: replace an existing file that is not kear's output of this kind.
        inputs: the files the predictions come from, which the output may not be.
    """
    lines = (prediction.to_dict() for prediction in predictions)
    return write_json_lines(path, lines, kind=kind, overwrite=overwrite, inputs=inputs)
