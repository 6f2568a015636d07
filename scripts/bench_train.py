#!/usr/bin/env python
"""Training throughput: kear's loop against transformers' ``Trainer``, same model, data, batch size and steps.

Every row trains the packaged MiniLM on the same knowledge-augmented CommonsenseQA records, in the same process,
one after the other, from the same token ids (the same texts, special tokens and truncation):

* **kear**: ``kear.training.train`` (length-grouped batches, each encoded in groups of similar length, only
  real choices encoded, fused AdamW), at its defaults and with ``model.attention_dropout=0``, which lets SDPA
  run its fused attention kernel in training;
* **Trainer**: ``AutoModelForMultipleChoice`` + ``Trainer`` + ``DataCollatorForMultipleChoice`` at its defaults
  (random batches, fused AdamW); with its own length grouping on (``train_sampling_strategy="group_by_length"``
  on a ``datasets.Dataset`` whose ``length`` column holds each question's longest choice), the strongest setting
  a careful user has; and grouped with the attention dropout off too, for a like-for-like comparison.

Data (``--data``): the real CommonsenseQA dev split with the reference knowledge (by default
``../shared/data/csqa-dev-reference/dev.json``), split into a training part and a held-out part, with similar
training questions added by our BM25 over the training part; or ``demo``, the generated demo sample. It reports
examples per second of the training loop (the Trainer's ``train_runtime``, kear's own clock), the tokens the
encoder saw per step padding included (counted at the encoder's input), and held-out accuracy.

    python scripts/bench_train.py                    # about 40 minutes on 2 cores
    python scripts/bench_train.py --steps 10         # a quick look
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from _common import MINILM, REFERENCE, REFERENCE_HELP, header, write_report


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


def train_config(work: Path, args: argparse.Namespace, attention_dropout: float | None, precision: str = "no"):
    """kear's settings for the benchmark; the Trainer takes the same optimisation settings (``precision``: the
    mixed precision, ``no`` or ``bf16``)."""
    from kear.config import DataConfig, ModelConfig, TrainConfig, TrainingConfig
    from kear.inputs import InputConfig

    return TrainConfig(
        model=ModelConfig(name_or_path=MINILM, attention_dropout=attention_dropout),
        inputs=InputConfig(max_length=args.max_length, max_examples=args.max_examples),
        data=DataConfig(train=str(work / "train.jsonl"), dev=str(work / "held-out.jsonl")),
        training=TrainingConfig(
            output_dir=str(work / f"kear-run-{attention_dropout}-{precision}"),
            seed=args.seed,
            max_steps=args.steps,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            weight_decay=0.01,
            warmup_ratio=0.1,
            logging_steps=1,
            resume=False,
            mixed_precision=precision,
        ),
    )


class TokenCounter:
    """Tokens (padding included) that come out of an encoder's embeddings in training forwards, whoever calls them
    (transformers calls the embeddings with keyword arguments, which only their output shows)."""

    def __init__(self) -> None:
        self.tokens = 0
        self.handle = torch.nn.modules.module.register_module_forward_hook(self.count)

    def count(self, module: torch.nn.Module, args: tuple, output: object) -> None:
        if module.training and type(module).__name__.endswith("Embeddings") and isinstance(output, torch.Tensor):
            self.tokens += output.shape[0] * output.shape[1]

    def close(self) -> None:
        self.handle.remove()


def run_kear(work: Path, args: argparse.Namespace, attention_dropout: float | None, precision: str) -> dict:
    """Seconds of kear's training loop (from its metrics), tokens per step and held-out accuracy."""
    import json

    from kear.training import train

    config = train_config(work, args, attention_dropout, precision)
    counter = TokenCounter()
    try:
        result = train(config, progress=False)
    finally:
        counter.close()
    metrics = Path(config.training.output_dir) / "metrics.jsonl"
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    seconds = [line["seconds"] for line in lines if "loss" in line][-1]  # the training loop alone
    return {"seconds": seconds, "accuracy": result.best_accuracy, "tokens": counter.tokens / args.steps}


def run_trainer(
    tokenizer, train, held_out, work: Path, args, grouped: bool, attention_dropout: float | None, precision
):
    """Seconds of the Trainer's loop (its ``train_runtime``), tokens per step and held-out accuracy."""
    from kear.baseline import fit_trainer, trainer_predictions
    from kear.evaluation import accuracy_of

    training = train_config(work, args, None, precision).training
    folder = work / f"trainer-{grouped}-{attention_dropout}-{precision}"
    counter = TokenCounter()
    try:
        trainer = fit_trainer(
            MINILM, tokenizer, train, training, folder, group_by_length=grouped, attention_dropout=attention_dropout
        )
    finally:
        counter.close()
    seconds = next(e["train_runtime"] for e in reversed(trainer.state.log_history) if "train_runtime" in e)
    accuracy = accuracy_of(trainer_predictions(trainer, held_out))
    return {"seconds": seconds, "accuracy": accuracy, "tokens": counter.tokens / args.steps}


ROWS = {  # name: (loop, length grouping, attention dropout, mixed precision)
    "kear (`kear train` defaults: length-grouped batches, length buckets)": ("kear", True, None, "no"),
    "kear, `model.attention_dropout=0` (SDPA's fused kernel in training)": ("kear", True, 0.0, "no"),
    "kear, `model.attention_dropout=0 training.mixed_precision=bf16`": ("kear", True, 0.0, "bf16"),
    "Trainer, defaults (random batches)": ("trainer", False, None, "no"),
    'Trainer, `train_sampling_strategy="group_by_length"` with a length column': ("trainer", True, None, "no"),
    "Trainer, length grouping and attention dropout 0": ("trainer", True, 0.0, "no"),
    "Trainer, length grouping, attention dropout 0 and `bf16=True`": ("trainer", True, 0.0, "bf16"),
}


def verdict(found: dict[str, dict], rate: dict[str, float], held_out: int, epochs: float, real: float) -> list[str]:
    """The ratios the issue asks for, and what sets them: padding, attention dropout, and how far training got.

    ``real`` is the mean number of real (unpadded) tokens in a step: no batching can encode fewer.
    """
    kear, fast, fast_bf16, _, grouped, grouped_fast, grouped_bf16 = list(ROWS)
    fastest = max((name for name, row in ROWS.items() if row[0] == "kear"), key=rate.__getitem__)
    pairs = {
        "at both defaults": (kear, grouped),
        "with the attention dropout off on both sides": (fast, grouped_fast),
        "with the dropout off and bf16 autocast on both sides": (fast_bf16, grouped_bf16),
    }
    like = {text: rate[mine] / rate[theirs] for text, (mine, theirs) in pairs.items()}
    accuracies = [side["accuracy"] for side in found.values()]
    half_width = 1.96 * (0.25 * 0.75 / held_out) ** 0.5  # a proportion near a quarter, binomial
    return [
        f"**kear's fastest setting ({fastest.removeprefix('kear, ')}) is {rate[fastest] / rate[grouped]:.2f}x the "
        "length-grouped Trainer at its defaults** (target 1.2x at equal accuracy). Like for like, the same switches "
        "on both sides: kear is "
        + ", ".join(f"{ratio:.2f}x {text}" for text, ratio in like.items())
        + (": like for like, the target is not met." if max(like.values()) < 1.2 else "."),
        "",
        f"Why: with its length grouping on, the Trainer pads almost as little as kear ({found[grouped]['tokens']:,.0f} "
        f"against {found[kear]['tokens']:,.0f} tokens per step), and both then spend each step in the same encoder, "
        "so kear's batching has little left to win (CommonsenseQA has 5 choices everywhere: encoding only real "
        "choices saves nothing here). A loop that padded nothing at all would encode "
        f"{real:,.0f} tokens per step against the grouped Trainer's {found[grouped]['tokens']:,.0f}: at most "
        f"{found[grouped]['tokens'] / real:.2f}x fewer, so batching alone "
        + ("cannot" if found[grouped]["tokens"] / real < 1.2 else "could at best")
        + " reach 1.2x on these data (attention grows with the square of a sequence's length, but at these lengths "
        "the linear layers dominate). "
        "What sets a step's cost on this CPU is first the attention dropout: with it, SDPA "
        "cannot use its fused kernel and builds every attention matrix; without it a step costs "
        f"{rate[fast] / rate[kear]:.2f}x less in kear and {rate[grouped_fast] / rate[grouped]:.2f}x less in the "
        "Trainer. kear's `model.attention_dropout=0` is that switch; a Trainer user gets the same by setting the "
        "encoder config's `attention_probs_dropout_prob=0`. Then the precision: bf16 autocast (this CPU has "
        f"AVX-512 BF16) makes a step {rate[fast_bf16] / rate[fast]:.2f}x cheaper again in kear "
        f"(`training.mixed_precision=bf16`) and {rate[grouped_bf16] / rate[grouped_fast]:.2f}x in the Trainer "
        "(`bf16=True`). The rest (fused AdamW, 2 threads) is the same on both sides; compiling the encoder with "
        "`torch.compile` does not make a step cheaper here ([compile.md](compile.md), "
        "`python scripts/bench_compile.py`).",
        "",
        f"Accuracy: after {epochs:.1f} epoch(s) of the training part, held-out accuracies range from "
        f"{min(accuracies):.3f} to {max(accuracies):.3f}, around chance (0.2; MiniLM learns CommonsenseQA slowly), "
        f"each within about ±{half_width:.3f} (95%, {held_out} questions): this step count does not compare the "
        "loops' accuracy; [train-demo.md](train-demo.md) does, where both learn the task to the same accuracy.",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        default=str(REFERENCE / "dev.json"),
        help=f"CommonsenseQA records with knowledge (KEAR JSON), or demo (default: dev.json in {REFERENCE_HELP})",
    )
    parser.add_argument("--train-size", type=int, default=1000, help="records used for training; the rest held out")
    parser.add_argument("--steps", type=int, default=125)
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
    found = {}
    with tempfile.TemporaryDirectory(prefix="kear-bench-train-") as folder:
        work = Path(folder)
        tokenizer, train_examples, held_out = prepare(
            args.data, args.train_size, work, args.max_length, args.max_examples
        )
        for name, (loop, grouped, dropout, precision) in ROWS.items():
            if loop == "kear":
                found[name] = run_kear(work, args, dropout, precision)
            else:
                found[name] = run_trainer(tokenizer, train_examples, held_out, work, args, grouped, dropout, precision)
    lengths = [e.length for e in train_examples]
    real = np.mean([sum(len(row) for row in e.input_ids) for e in train_examples]) * args.batch_size
    examples = args.steps * args.batch_size
    source = (
        "the generated demo sample (made-up words; knowledge from our retriever)"
        if args.data == "demo"
        else "CommonsenseQA dev records with their reference knowledge plus our BM25 examples"
    )
    rate = {name: examples / side["seconds"] for name, side in found.items()}
    lines = [
        *header("Training benchmark"),
        f"The packaged MiniLM (all-MiniLM-L6-v2) on {source}: {len(train_examples)} for training, "
        f"{len(held_out)} held out; max length {args.max_length}; {args.steps} steps of {args.batch_size} "
        f"questions x 5 choices; learning rate {args.learning_rate}; fp32 unless a row says bf16 (autocast, on both "
        f"sides), on {torch.get_num_threads()} threads.",
        f"Input lengths (each question's longest choice): mean {np.mean(lengths):.0f}, 95th percentile "
        f"{np.percentile(lengths, 95):.0f} tokens; {real:,.0f} real tokens per step of {args.batch_size} questions.",
        "",
        "| loop | seconds | examples / s | tokens per step, padding included | held-out accuracy |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {name} | {side['seconds']:.1f} | {rate[name]:.2f} | {side['tokens']:,.0f} | {side['accuracy']:.3f} |"
            for name, side in found.items()
        ),
        "",
        *verdict(found, rate, len(held_out), examples / len(train_examples), real),
    ]
    write_report(args.report, "\n".join(lines))


if __name__ == "__main__":
    main()
