"""Metrics shipped with the package, loaded by path through ``evaluate`` (no Hub access needed).

``evaluate`` is imported when a metric is first computed, not with this module: it imports transformers' pipelines,
seconds that every ``kear`` command predicting without answers (and every test collection) would otherwise spend.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import evaluate

METRICS_DIR = Path(__file__).resolve().parent


@cache
def load_metric(name: str = "accuracy") -> evaluate.EvaluationModule:
    """An ``evaluate`` metric from this package, by folder name."""
    import evaluate

    return evaluate.load(str(METRICS_DIR / name))


def accuracy(predictions: list[int], references: list[int]) -> float:
    """Share of correct predictions, computed through ``evaluate``."""
    if not references:
        return float("nan")
    return float(load_metric("accuracy").compute(predictions=predictions, references=references)["accuracy"])
