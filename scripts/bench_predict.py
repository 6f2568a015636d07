#!/usr/bin/env python
"""Prediction throughput: ``kear predict`` against a plain-transformers loop, same model and records, one run.

* **kear, knowledge given**: ``kear.prediction.predict_file`` on records that carry their knowledge (streamed in
  chunks, length-grouped batches, encoder length buckets, lines synced to disk);
* **kear, knowledge retrieved**: the same on records without knowledge, retrieved on the fly with the model's
  settings (ConceptNet, dictionary, BM25), with the retrieval cache off;
* **plain transformers**: ``AutoModelForMultipleChoice`` on the same encoder weights, batches in file order
  tokenised with the tokenizer's own pair encoding and padded to their longest, the usual evaluation loop.

Records: the real CommonsenseQA dev split with the reference knowledge (``--data``, by default
``../shared/data/csqa-dev-reference``) when it is there, the mini graph and mini dictionary as indexes and BM25
over its first 1000 questions; otherwise the generated demo sample. The encoder is the packaged MiniLM.

    python scripts/bench_predict.py
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from _common import MINILM, REFERENCE, REFERENCE_HELP, header, reference_indexes, write_report


def records_and_indexes(data: Path, work: Path):
    """Records with knowledge, the same without, and retrieval settings that rebuild the knowledge.

    Args:
        data: the reference data's folder; the generated demo sample stands in when it has no ``dev.json``.
        work: where the indexes and records go.
    """
    from retrieval import read_records, retrieve_file, write_records
    from retrieval.data import demo_file, index_demo

    corpus = work / "corpus.jsonl"
    if (data / "dev.json").is_file():
        records = list(read_records(data / "dev.json"))
        write_records(corpus, records[:1000])
        config = reference_indexes(data, work, corpora=[corpus], use_cache=False)
        source = "CommonsenseQA dev with the reference knowledge"
    else:
        records = [r for part in ("train", "dev", "test") for r in read_records(demo_file(f"{part}.jsonl"))]
        write_records(corpus, records)
        config = index_demo(work, corpora=[corpus], use_cache=False)
        source = "the generated demo sample"
    write_records(work / "plain.jsonl", [record.without_knowledge() for record in records])
    retrieve_file(work / "plain.jsonl", work / "knowledge.jsonl", config, progress=False)
    return config, source, len(records)


def build_model(work: Path, config, max_length: int) -> Path:
    from dataclasses import asdict

    from transformers import AutoTokenizer

    from kear.inputs import InputConfig
    from kear.modeling import KearModel, resolve_model_path, save_model

    torch.manual_seed(0)
    model = KearModel.from_encoder(MINILM, inputs=asdict(InputConfig(max_length=max_length)), retrieval=asdict(config))
    save_model(model, AutoTokenizer.from_pretrained(resolve_model_path(MINILM)), work / "model")
    return work / "model"


def plain_transformers(model_dir: Path, path: Path, batch_size: int, max_length: int) -> float:
    """Seconds for the textbook loop: tokenise a batch of pairs, pad to its longest, score, argmax."""
    from transformers import AutoModelForMultipleChoice, AutoTokenizer

    from kear.inputs import InputConfig, choice_texts
    from kear.modeling import resolve_model_path
    from retrieval import read_records

    path_to_encoder = resolve_model_path(MINILM)
    model = AutoModelForMultipleChoice.from_pretrained(path_to_encoder).eval()
    tokenizer = AutoTokenizer.from_pretrained(path_to_encoder)
    separator = f" {tokenizer.sep_token} "
    started = time.perf_counter()
    records = list(read_records(path))
    with torch.no_grad():
        for start in range(0, len(records), batch_size):
            batch = records[start : start + batch_size]
            pairs = [pair for record in batch for pair in choice_texts(record, InputConfig(max_length=max_length))]
            encoded = tokenizer(
                [first for first, _ in pairs],
                [separator.join(pieces) for _, pieces in pairs],
                truncation="only_second",
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            choices = len(batch[0].choices)
            logits = model(**{k: v.view(len(batch), choices, -1) for k, v in encoded.items()}).logits
            logits.argmax(-1).tolist()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=REFERENCE,
        help=f"the reference data's folder ({REFERENCE_HELP}); without it, the demo sample",
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--report", type=Path, default=Path("docs/benchmarks/predict.md"))
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    from kear.prediction import predict_file

    with tempfile.TemporaryDirectory(prefix="kear-bench-predict-") as folder:
        work = Path(folder)
        config, source, count = records_and_indexes(args.data, work)
        model_dir = build_model(work, config, args.max_length)
        timings = {}
        for name, path in (
            ("kear, knowledge given", work / "knowledge.jsonl"),
            ("kear, knowledge retrieved", work / "plain.jsonl"),
        ):
            output = work / f"{name.split()[-1]}.predictions.jsonl"
            started = time.perf_counter()
            predict_file(model_dir, path, output, batch_size=args.batch_size, progress=False)
            timings[name] = time.perf_counter() - started
        timings["plain transformers, knowledge given"] = plain_transformers(
            model_dir, work / "knowledge.jsonl", args.batch_size, args.max_length
        )
    baseline = count / timings["plain transformers, knowledge given"]
    rows = [
        f"| {name} | {seconds:.1f} | {count / seconds:.1f} | {count / seconds / baseline:.2f}x |"
        for name, seconds in timings.items()
    ]
    report = "\n".join(
        [
            *header("Prediction benchmark"),
            f"{count} questions x 5 choices from {source}; the packaged MiniLM; batches of {args.batch_size} "
            f"questions; max length {args.max_length}. kear's timings include loading the model and writing the "
            "prediction lines; with retrieval, also opening the indexes and building BM25 (cache off).",
            "",
            "| loop | seconds | questions / s | against plain transformers |",
            "|---|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    write_report(args.report, report)


if __name__ == "__main__":
    main()
