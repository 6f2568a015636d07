"""Accuracy of multiple-choice predictions: the share of questions whose predicted choice is the answer."""

import datasets
import evaluate

_DESCRIPTION = "Share of predictions equal to their reference (the index of the chosen answer)."
_KWARGS = """
Args:
    predictions (list of int): predicted choice indices.
    references (list of int): correct choice indices.
Returns:
    accuracy (float): correct / total, in [0, 1].
"""


class Accuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references):
        correct = sum(int(p == r) for p, r in zip(predictions, references))
        return {"accuracy": correct / len(references) if references else float("nan")}
