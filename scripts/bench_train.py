#!/usr/bin/env python
"""Training throughput: kear's loop against plain transformers, same model, data, batch size and steps.

Both sides train the packaged MiniLM on the same knowledge-augmented CommonsenseQA records, in the same process,
one after the other:

* **kear**: ``kear.training.train`` (dynamic padding, length-grouped batches, only real choices encoded);
* **baseline**: ``AutoModelForMultipleChoice`` + ``Trainer`` + ``DataCollatorForMultipleChoice`` with default
  settings, on the same token ids (the same texts, special tokens and truncation).

Data (``--data``): the real CommonsenseQA dev split with the reference knowledge (by default
``../shared/data/csqa-dev-reference/dev.json``), split into a training part and a held-out part, with similar
training questions added by our BM25 over the training part; or ``demo``, the generated demo sample. It reports
examples per second, the padded tokens each side encoded, and held-out accuracy.

    python scripts/bench_train.py                    # about 10 minutes on 2 cores
    python scripts/bench_train.py --steps 10         # a quick look
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from _common import MINILM, REFERENCE, REFERENCE_HELP, header, trainer_baseline, write_report


def prepare(data: str, train_size: int, work: Path, max_length: int, max_examples: int | None):
    """Split the records, add knowledge, and encode both parts.

    Args:
        data: a KEAR JSON file with knowledge (BM25 examples from the training part are added), or ``demo``: the
            generated demo sample, whose knowledge our retriever adds from its own dumps.
        train_size: records of ``data`` used for training (the rest are held out; the demo keeps its parts).
        work: where the records and indexes go.
        max_length: tokens per choice.
        max_examples: similar training questions kept per choice (``None``: all).
    """
    from transformers import AutoTokenizer

    from kear.inputs import InputConfig, encode_records
    from kear.modeling import resolve_model_path
    from retrieval import RetrievalConfig, annotate, load_settings, read_records, write_records
    from retrieval.data import demo_file, index_demo

    corpus = work / "train-plain.jsonl"
    if data == "demo":
        train, held_out = list(read_records(demo_file("train.jsonl"))), list(read_records(demo_file("dev.jsonl")))
        config = index_demo(work, corpora=[corpus], use_cache=False)
    else:
        records = list(read_records(data))
        train, held_out = records[:train_size], records[train_size:]
        values = {"sources": ["examples"], "use_cache": False, "examples": {"corpora": [str(corpus)]}}
        config = load_settings(RetrievalConfig, values=values)
    write_records(corpus, train)
    train = list(annotate(train, config, progress=False))
    held_out = list(annotate(held_out, config, progress=False))
    write_records(work / "train.jsonl", train)
    write_records(work / "held-out.jsonl", held_out)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(MINILM))
    inputs = InputConfig(max_length=max_length, max_examples=max_examples)
    return tokenizer, list(encode_records(train, tokenizer, inputs)), list(encode_records(held_out, tokenizer, inputs))


def train_config(work: Path, args: argparse.Namespace):
    """kear's settings for the benchmark; the baseline takes the same optimisation settings."""
    from kear.config import DataConfig, ModelConfig, TrainConfig, TrainingConfig
    from kear.inputs import InputConfig

    return TrainConfig(
        model=ModelConfig(name_or_path=MINILM),
        inputs=InputConfig(max_length=args.max_length, max_examples=args.max_examples),
        data=DataConfig(train=str(work / "train.jsonl"), dev=str(work / "held-out.jsonl")),
        training=TrainingConfig(
            output_dir=str(work / "kear-run"),
            seed=args.seed,
            max_steps=args.steps,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            weight_decay=0.01,
            warmup_ratio=0.1,
            logging_steps=1,
            resume=False,
        ),
    )


def run_kear(config) -> dict:
    """Seconds of kear's training loop (from its metrics) and its held-out accuracy."""
    import json

    from kear.training import train

    result = train(config, progress=False)
    metrics = Path(config.training.output_dir) / "metrics.jsonl"
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    seconds = [line["seconds"] for line in lines if "loss" in line][-1]  # the training loop alone
    return {"seconds": seconds, "accuracy": result.best_accuracy}


def padded_tokens(examples, batches: list[list[int]], buckets: int = 1) -> int:
    """Tokens the encoder sees for these batches, padding included: each batch's sequences (one per choice) in
    ``buckets`` groups of similar length, each padded to its longest."""
    from kear.modeling import SPLIT_WHEN_BELOW

    total = 0
    for batch in batches:
        lengths = np.array(sorted(len(row) for i in batch for row in examples[i].input_ids))
        split = sum(int(g.max()) * len(g) for g in np.array_split(lengths, min(buckets, len(lengths))))
        whole = int(lengths[-1]) * len(lengths)
        total += split if split <= SPLIT_WHEN_BELOW * whole else whole  # the model's own rule
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        default=str(REFERENCE / "dev.json"),
        help=f"CommonsenseQA records with knowledge (KEAR JSON), or demo (default: dev.json in {REFERENCE_HELP})",
    )
    parser.add_argument("--train-size", type=int, default=1000, help="records used for training; the rest held out")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--max-examples", type=int, help="similar training questions kept per choice (default all)")
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--report", type=Path, default=Path("docs/benchmarks/train.md"), help="Markdown to write")
    args = parser.parse_args()
    if args.data != "demo" and not Path(args.data).is_file():
        raise SystemExit(
            f"bench_train: {args.data} is not here (it comes with the project's shared data; or --data demo)"
        )
    torch.set_num_threads(os.cpu_count() or 1)
    from kear.inputs import LengthGroupedBatchSampler

    with tempfile.TemporaryDirectory(prefix="kear-bench-train-") as folder:
        work = Path(folder)
        tokenizer, train_examples, held_out = prepare(
            args.data, args.train_size, work, args.max_length, args.max_examples
        )
        lengths = [e.length for e in train_examples]
        sampler = LengthGroupedBatchSampler(lengths, args.batch_size, seed=args.seed)
        grouped, random_batches, epoch = [], [], 0
        while len(grouped) < args.steps:  # both sides' batches, epoch after epoch, as their loops draw them
            sampler.set_epoch(epoch)
            grouped += sampler.batches()
            order = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(args.seed + epoch)).tolist()
            random_batches += [order[i : i + args.batch_size] for i in range(0, len(order), args.batch_size)]
            epoch += 1
        grouped, random_batches = grouped[: args.steps], random_batches[: args.steps]
        config = train_config(work, args)
        kear = run_kear(config)
        baseline = trainer_baseline(tokenizer, train_examples, held_out, work / "baseline-run", config.training)
    examples = args.steps * args.batch_size
    source = (
        "the generated demo sample (made-up words; knowledge from our retriever)"
        if args.data == "demo"
        else "CommonsenseQA dev records with their reference knowledge plus our BM25 examples"
    )
    rates = {name: examples / side["seconds"] for name, side in (("kear", kear), ("baseline", baseline))}
    report = "\n".join(
        [
            *header("Training benchmark"),
            f"The packaged MiniLM (all-MiniLM-L6-v2) on {source}: {len(train_examples)} for training, "
            f"{len(held_out)} held out; max length "
            f"{args.max_length}; {args.steps} steps of {args.batch_size} questions x 5 choices; "
            f"learning rate {args.learning_rate}.",
            f"Input lengths: mean {np.mean(lengths):.0f}, 95th percentile {np.percentile(lengths, 95):.0f} tokens.",
            "",
            "| loop | seconds | examples / s | padded tokens per step | held-out accuracy |",
            "|---|---:|---:|---:|---:|",
            f"| kear (`kear train`: length-grouped batches, length buckets) | {kear['seconds']:.1f} | "
            f"{rates['kear']:.2f} | "
            f"{padded_tokens(train_examples, grouped, 4) / len(grouped):,.0f} | {kear['accuracy']:.3f} |",
            f"| plain transformers (`Trainer` + `DataCollatorForMultipleChoice`) | {baseline['seconds']:.1f} | "
            f"{rates['baseline']:.2f} | {padded_tokens(train_examples, random_batches) / len(random_batches):,.0f} | "
            f"{baseline['accuracy']:.3f} |",
            "",
            f"**kear is {rates['kear'] / rates['baseline']:.2f}x the baseline's throughput** (goal: 1.3x at equal "
            "accuracy). Padded tokens per step are computed from the two sides' batch orders (kear: length-grouped "
            "batches, encoded in 4 groups of similar length, its default on CPU; the baseline: random batches "
            "padded to their longest sequence).",
            "",
        ]
    )
    write_report(args.report, report)


if __name__ == "__main__":
    main()
