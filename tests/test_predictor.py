from __future__ import annotations

import json
from pathlib import Path

from kear import load_model, predict_records
from retrieval import annotate, read_records
from retrieval.data import sample_file


def test_predict_records_and_annotate_take_a_dataset_or_dicts(trained_model: Path, sample_knowledge: Path) -> None:
    import datasets

    rows = [json.loads(line) for line in sample_knowledge.read_text().splitlines()]
    model, tokenizer = load_model(trained_model)
    expected = [p.scores for p in predict_records(model, tokenizer, read_records(sample_knowledge))]
    assert [p.scores for p in predict_records(model, tokenizer, rows)] == expected
    assert [p.scores for p in predict_records(model, tokenizer, datasets.Dataset.from_list(rows))] == expected


def test_annotate_takes_dicts(sample_config) -> None:
    rows = [json.loads(line) for line in sample_file("questions.jsonl").read_text().splitlines()]
    expected = [
        r.to_dict() for r in annotate(read_records(sample_file("questions.jsonl")), sample_config, progress=False)
    ]
    assert [r.to_dict() for r in annotate(rows, sample_config, progress=False)] == expected
