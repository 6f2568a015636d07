"""Scoring records with a trained model, with the knowledge it was trained with."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from retrieval import RetrievalConfig, annotate
from retrieval.errors import KearError
from retrieval.records import Record
from retrieval.settings import load_settings

from .evaluation import Prediction, choice_scores, predictions_for
from .inputs import InputConfig, encode_records
from .modeling import KearModel

logger = logging.getLogger(__name__)

# which retrieval source provides each knowledge segment, and the field it leaves on the record
SEGMENT_SOURCES = {
    "qc_meaning": ("dict", "qc_meaning"),
    "ac_meaning": ("dict", "ac_meaning"),
    "retrieval": ("train", "retrieval"),
    "triple": ("kg", "triple"),
}


def input_config(model: KearModel) -> InputConfig:
    """The input settings a model was trained with."""
    return InputConfig(**model.config.inputs)


def retrieval_config(model: KearModel, overrides: Sequence[str] = ()) -> RetrievalConfig | None:
    """The retrieval settings a model's knowledge came from (with overrides), or ``None`` if it has none."""
    if model.config.retrieval is None and not overrides:
        return None
    return load_settings(RetrievalConfig, None, overrides, values=model.config.retrieval)


def missing_sources(records: Sequence[Record], inputs: InputConfig) -> list[str]:
    """Retrieval sources whose knowledge the inputs use but some records do not carry."""
    needed = {SEGMENT_SOURCES[name] for name in inputs.knowledge}
    missing = set()
    for source, field_name in needed:
        for record in records:
            holder = [record.knowledge] if field_name == "qc_meaning" else [c.knowledge for c in record.choices]
            if any(field_name not in knowledge for knowledge in holder):
                missing.add(source)
                break
    return sorted(missing)


def ensure_knowledge(
    records: list[Record], inputs: InputConfig, retrieval: RetrievalConfig | None, progress: bool = False
) -> list[Record]:
    """Add the knowledge the inputs use to records that lack it, with the model's retrieval settings."""
    sources = missing_sources(records, inputs)
    if not sources:
        return records
    if retrieval is None:
        raise KearError(
            f"the records lack knowledge the model uses ({', '.join(sources)}) and the model has no retrieval "
            "settings: add it with 'kear retrieve' first"
        )
    logger.info("retrieving %s for %d records", ", ".join(sources), len(records))
    return list(annotate(records, retrieval, sources, progress=progress))


def predict_records(
    model: KearModel, tokenizer: Any, records: list[Record], batch_size: int = 16, accelerator=None
) -> list[Prediction]:
    """Scores and predictions for records that carry their knowledge."""
    examples = list(encode_records(records, tokenizer, input_config(model)))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    scores = choice_scores(model, examples, batch_size, pad, accelerator)
    return predictions_for(examples, scores, records)
