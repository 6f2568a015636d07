"""Metrics shipped with the package, loaded by path through ``evaluate`` (no Hub access needed)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import evaluate

METRICS_DIR = Path(__file__).resolve().parent


@cache
def load_metric(name: str = "accuracy") -> evaluate.EvaluationModule:
    """An ``evaluate`` metric from this package, by folder name."""
    return evaluate.load(str(METRICS_DIR / name))


def accuracy(predictions: list[int], references: list[int]) -> float:
    """Share of correct predictions, computed through ``evaluate``."""
    if not references:
        return float("nan")
    return float(load_metric("accuracy").compute(predictions=predictions, references=references)["accuracy"])
