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
* ``probabilities``: ``exp(scores)``, summing to 1.

Reading lines back, scores on any other scale (raw logits from an older file or another tool) are normalised to
log-probabilities (log-softmax): that keeps the distribution they stand for and the prediction, so files of any
origin combine alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

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
    """

    id: str
    labels: list[str]
    scores: list[float]
    answer: str | None = None
    texts: list[str] | None = None

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
        out: dict[str, Any] = {"id": self.id, "prediction": self.prediction}
        if self.texts is not None:
            out["prediction_text"] = self.texts[self.index]
        out.update(answer=self.answer, labels=self.labels)
        if self.texts is not None:
            out["choices"] = self.texts
        out.update(scores=self.scores, probabilities=self.probabilities)
        return out


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


def choice_scores(
    model: torch.nn.Module, examples: Sequence[Example], batch_size: int, pad_token_id: int, accelerator=None
) -> list[list[float]]:
    """Each example's logits per choice (in example order; padded choices left out), batched by length for speed.

    With an ``accelerate.Accelerator`` the model must already be prepared; batches are split across its
    processes and the scores gathered.
    """
    sampler = LengthGroupedBatchSampler([e.length for e in examples], batch_size, shuffle=False)
    loader = DataLoader(list(examples), batch_sampler=sampler, collate_fn=ChoiceCollator(pad_token_id))
    if accelerator is not None:
        loader = accelerator.prepare_data_loader(loader)
    device = accelerator.device if accelerator is not None else next(model.parameters()).device
    gathered: list[torch.Tensor] = []
    model.eval()
    with torch.no_grad():
        for batch in loader:
            inputs = {k: v.to(device) for k, v in batch.items() if k != "labels"}
            logits = model(**inputs).logits.float()
            if accelerator is not None:
                logits = accelerator.pad_across_processes(logits, dim=1, pad_index=torch.finfo(logits.dtype).min)
                logits = accelerator.gather_for_metrics(logits)
            gathered.append(logits.cpu())
    order = [i for batch in sampler.batches() for i in batch]
    scores: list[list[float]] = [[] for _ in examples]
    rows = [row for block in gathered for row in block.tolist()]
    for position, row in zip(order, rows):
        scores[position] = row[: len(examples[position].input_ids)]
    return scores


def predictions_for(examples: Sequence[Example], logits: Sequence[list[float]], records=None) -> list[Prediction]:
    """Predictions from examples and the model's logits (with choice texts when the records are given); their
    scores are the logits' log-softmax."""
    texts = [[c.text for c in r.choices] for r in records] if records is not None else [None] * len(examples)
    return [
        Prediction(e.id, e.labels, s, None if e.label < 0 else e.labels[e.label], t)
        for e, s, t in zip(examples, logits, texts)
    ]


def accuracy_of(predictions: Iterable[Prediction]) -> float:
    """Accuracy over the predictions whose answer is known (``nan`` when none is)."""
    known = [p for p in predictions if p.answer is not None]
    return accuracy([p.index for p in known], [p.labels.index(p.answer) for p in known])


def write_predictions(path: str | Path, predictions: Iterable[Prediction], *, inputs: Iterable[str | Path] = ()) -> int:
    """Write prediction lines (JSONL, atomically; ``-`` for stdout), never over one of ``inputs``. Returns how
    many."""
    return write_json_lines(path, (prediction.to_dict() for prediction in predictions), inputs=inputs)
