#!/usr/bin/env python
"""Prediction on the CPU: a plain transformers loop against ``kear predict`` in each inference setting, with the
dev accuracy of each, from one trained model, in one run.

The model: the packaged MiniLM fine-tuned by kear on four of five folds of the real CommonsenseQA dev split
(``--data``, by default ``../shared/data/csqa-dev-reference``) with the reference release's own knowledge (its
triples and definitions); no dev set, so no epoch is chosen on the held-out fold. It is trained once into
``--work`` and reused by later runs. The held-out fold is then predicted by:

* **plain loop**: the same encoder and scorer weights in eager fp32, batches in file order tokenised with the
  tokenizer's own pair encoding and padded to their longest, every choice of a batch in one encoder call, argmax;
* **kear, torch** (full precision): ``kear.predict_file`` (length-sorted batches, encoder length buckets, lines
  synced to disk), the default ``--inference torch``;
* **kear, torch-bf16 / torch-int8 / onnx / onnx-int8**: the same with ``--inference`` set
  (:mod:`kear.inference`). The ONNX graph is exported (and quantised) on the first run and read from the cache
  after; the export's seconds are reported apart, as a one-time cost like a download.

Every loop's timing includes reading the records and tokenising; kear's also loading the model and writing the
prediction lines. The loops run in turns, ``--rounds`` times (so a load that comes and goes on the machine hits
them all alike); the table gives each loop's median questions per second and its median ratio, round by round,
to the plain loop.

    python scripts/bench_predict.py                        # trains first (about half an hour on 2 cores)
    python scripts/bench_predict.py --work runs/bench-predict --rounds 5
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _common import MINILM, REFERENCE, REFERENCE_HELP, header, quiet, write_report

logger = logging.getLogger("bench_predict")
# the reference release's own knowledge: it carries no similar examples, which the model is not given
KNOWLEDGE = ["qc_meaning", "ac_meaning", "triple"]
FASTER = ("torch-bf16", "torch-int8", "onnx", "onnx-int8")


def split(data: Path, work: Path, folds: int, seed: int, fold: int = 0) -> tuple[Path, Path]:
    """Write the training part (all folds but ``fold``) and the held-out fold as JSONL into ``work``; return their
    paths."""
    from kear.ablate import k_folds
    from retrieval import read_records, write_records

    training, held_out = k_folds(list(read_records(data / "dev.json")), folds, seed)[fold]
    work.mkdir(parents=True, exist_ok=True)
    write_records(work / "train.jsonl", training)
    write_records(work / "held-out.jsonl", held_out)
    return work / "train.jsonl", work / "held-out.jsonl"


def trained_model(work: Path, train_path: Path, args: argparse.Namespace) -> Path:
    """The model trained on ``train_path`` into ``work`` (once: a later run with the same ``--work`` reuses it)."""
    from kear.config import DataConfig, ModelConfig, TrainConfig, TrainingConfig
    from kear.inputs import InputConfig
    from kear.training import train

    best = work / "run" / "best"
    if (work / "run" / "results.json").is_file():  # written when the training has finished
        logger.info("reusing the model in %s", best)
        return best
    config = TrainConfig(
        model=ModelConfig(name_or_path=MINILM),
        inputs=InputConfig(max_length=args.max_length, knowledge=KNOWLEDGE),
        data=DataConfig(train=str(train_path)),
        training=TrainingConfig(
            output_dir=str(work / "run"),
            seed=args.seed,
            epochs=args.epochs,
            batch_size=16,
            learning_rate=args.learning_rate,
            weight_decay=0.01,
            warmup_ratio=0.1,
        ),
    )
    logger.info("training %s on %s (%d epochs, learning rate %g)", MINILM, train_path, args.epochs, args.learning_rate)
    train(config, progress=False)
    return best


def plain_loop(model_dir: Path, path: Path, batch_size: int) -> tuple[float, float]:
    """Seconds and accuracy of the textbook loop: tokenise a batch of pairs in file order, pad to its longest, run
    every choice through the encoder in one call, score the first token with the model's scorer, argmax."""
    from kear.inputs import choice_texts
    from kear.modeling import load_model, saved_inputs
    from retrieval import read_records

    model, tokenizer = load_model(model_dir)
    model.eval()
    inputs = saved_inputs(model)
    separator = f" {tokenizer.sep_token} "
    correct = total = 0
    started = time.perf_counter()
    records = list(read_records(path))
    with torch.no_grad():
        for start in range(0, len(records), batch_size):
            batch = records[start : start + batch_size]
            pairs = [pair for record in batch for pair in choice_texts(record, inputs)]
            encoded = tokenizer(
                [first for first, _ in pairs],
                [separator.join(pieces) for _, pieces in pairs],
                truncation="only_second",
                max_length=inputs.max_length,
                padding=True,
                return_tensors="pt",
            )
            hidden = model.encoder(**encoded).last_hidden_state[:, 0]
            logits = model.scorer(hidden).view(len(batch), -1)
            for record, chosen in zip(batch, logits.argmax(-1).tolist()):
                if record.answer_index is not None:
                    correct += chosen == record.answer_index
                    total += 1
    return time.perf_counter() - started, correct / total


def kear_loop(model_dir: Path, path: Path, output: Path, batch_size: int, inference: str) -> tuple[float, float]:
    """Seconds and accuracy of ``kear.predict_file`` with one inference setting (a fresh output each time)."""
    from kear.prediction import predict_file

    output.unlink(missing_ok=True)
    output.with_name(f".{output.name}.kear.json").unlink(missing_ok=True)
    started = time.perf_counter()
    report = predict_file(model_dir, path, output, batch_size=batch_size, progress=False, inference=inference)
    return time.perf_counter() - started, report.accuracy


def agreement(work: Path, names: list[str]) -> dict[str, tuple[float, float]]:
    """For each setting's predictions: the share whose answer is full precision's, and the largest difference of a
    probability from full precision's."""
    from kear.ensemble import read_predictions

    reference = read_predictions(work / "torch.jsonl")
    out = {}
    for name in names:
        mine = read_predictions(work / f"{name}.jsonl")
        same = sum(a.prediction == b.prediction for a, b in zip(mine, reference)) / len(reference)
        gap = max(abs(p - q) for a, b in zip(mine, reference) for p, q in zip(a.probabilities, b.probabilities))
        out[name] = (same, gap)
    return out


def answers(path: Path) -> list[bool]:
    """Whether each prediction line of ``path`` chose the gold answer (lines in the file's order)."""
    from kear.ensemble import read_predictions

    return [p.prediction == p.answer for p in read_predictions(path) if p.answer is not None]


def pooled_accuracy(args: argparse.Namespace, work: Path) -> tuple[list[str], dict[str, tuple[float, float]]]:
    """Accuracy of every setting over ``--accuracy-folds`` folds, each predicted by a model trained on the others
    (fold 0's is the timed model), and each setting's paired difference with full precision, question by question,
    with its 95% interval: on one fold of 245 questions a point is 2.45 answers, within what int8's changed answers
    move the count by. Returns the table's lines and each faster setting's (difference, half-width)."""
    names = ["torch", *FASTER]
    right: dict[str, list[bool]] = {name: answers(work / f"{name}.jsonl") for name in names}
    for fold in range(1, args.accuracy_folds):
        folder = work / f"fold{fold}"
        train_path, fold_held_out = split(args.data, folder, args.folds, args.seed, fold)
        fold_model = trained_model(folder, train_path, args)
        for name in names:
            _, accuracy = kear_loop(fold_model, fold_held_out, folder / f"{name}.jsonl", args.batch_size, name)
            right[name] += answers(folder / f"{name}.jsonl")
            logger.info("fold %d, %s: accuracy %.4f", fold, name, accuracy)
    count = len(right["torch"])
    rows, differences = [], {}
    for name in names:
        label = f"kear, `--inference {name}`"
        if name == "torch":
            rows.append(f"| {label} | {sum(right[name]) / count:.4f} | | | |")
            continue
        changes = [int(mine) - int(full) for mine, full in zip(right[name], right["torch"])]
        mean = sum(changes) / count
        half = 1.96 * statistics.stdev(changes) / count**0.5
        gained, lost = changes.count(1), changes.count(-1)
        differences[name] = (mean, half)
        rows.append(f"| {label} | {sum(right[name]) / count:.4f} | {mean:+.4f} ± {half:.4f} | {gained} | {lost} |")
    return [
        f"Accuracy over {args.accuracy_folds} folds ({count} questions), each fold predicted by a model trained on "
        "the other folds alike (`--accuracy-folds`); the difference with full precision is paired question by "
        "question (mean ± half-width of its 95% interval):",
        "",
        "| setting | accuracy | difference with `torch` | answers it gets right that `torch` does not | and wrong "
        "that `torch` gets right |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
    ], differences


def verdict(speed: dict[str, float], accuracy: dict[str, float], pooled: dict[str, tuple[float, float]]) -> str:
    """The targets (the fastest setting at least 2x the plain loop, its accuracy within 1 point of full precision),
    judged from this run's figures: on the timed fold, and over all folds where ``--accuracy-folds`` gave them.
    When the fastest setting's accuracy does not hold, the fastest setting whose accuracy does is judged too: that
    is the one a user who wants the same answers faster should pick."""
    judged = lambda met: "met" if met else "not met"  # noqa: E731

    def holds(name: str) -> bool:
        """Within 1 point: the whole 95% interval over every fold, or the timed fold's difference without them."""
        if name in pooled:
            mean, half = pooled[name]
            return abs(mean) + half <= 0.01
        return abs(accuracy[name] - accuracy["torch"]) <= 0.01

    def judge(name: str, title: str) -> str:
        on_fold = accuracy[name] - accuracy["torch"]
        text = (
            f"**{title}: `--inference {name}`, {speed[name]:.2f}x the plain loop** (target 2x: "
            f"{judged(speed[name] >= 2)}). Its accuracy against full precision on the timed fold: "
            f"{100 * on_fold:+.2f} points (within 1 point: {judged(abs(on_fold) <= 0.01)}; a fold's 95% interval "
            "is several points wide)"
        )
        if name in pooled:
            mean, half = pooled[name]
            text += (
                f"; over every fold: {100 * mean:+.2f} points, 95% interval {100 * (mean - half):+.2f} to "
                f"{100 * (mean + half):+.2f} (within 1 point as an estimate: {judged(abs(mean) <= 0.01)}; "
                f"{'the whole interval within it' if holds(name) else 'the interval reaches beyond it'})"
            )
        return text + "."

    fastest = max(FASTER, key=speed.__getitem__)
    text = judge(fastest, "Fastest setting")
    if holds(fastest):
        return text + " Both targets are met by the fastest setting."
    accurate = [name for name in FASTER if holds(name)]
    if not accurate:
        return text + " No faster setting keeps accuracy within 1 point."
    best = max(accurate, key=speed.__getitem__)
    met = speed[best] >= 2
    return f"{text}\n\n{judge(best, 'Fastest setting whose accuracy holds')} " + (
        "Both targets are met by this setting." if met else "It is not 2x the plain loop: that target is not met."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REFERENCE, help=f"the reference data's folder ({REFERENCE_HELP})")
    parser.add_argument("--work", type=Path, help="folder for the trained model and the files (default: temporary)")
    parser.add_argument("--folds", type=int, default=5, help="folds of the dev split; the first is held out")
    parser.add_argument("--seed", type=int, default=42, help="the folds' and the training's seed")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16, help="questions per forward pass, every loop")
    parser.add_argument("--rounds", type=int, default=3, help="turns of every loop; the table gives medians")
    parser.add_argument(
        "--accuracy-folds",
        type=int,
        default=1,
        help="also train on the other folds for folds 1 to N-1 and report every setting's accuracy over the N folds",
    )
    parser.add_argument("--report", type=Path, default=Path("docs/benchmarks/predict.md"))
    args = parser.parse_args()
    if not 1 <= args.accuracy_folds <= args.folds:
        parser.error(f"--accuracy-folds must be from 1 to --folds ({args.folds})")
    if not (args.data / "dev.json").is_file():
        parser.exit(2, f"bench_predict: {args.data / 'dev.json'} is not here (--data; default {REFERENCE_HELP})\n")
    quiet()
    temporary = args.work is None
    work = Path(tempfile.mkdtemp(prefix="kear-bench-predict-")) if temporary else args.work
    work.mkdir(parents=True, exist_ok=True)
    # the exported graphs go in a cache of this run's own, so the first run's export is measured, not found
    os.environ["KEAR_CACHE"] = str(work / "kear-cache")
    shutil.rmtree(work / "kear-cache" / "onnx", ignore_errors=True)
    try:
        train_path, held_out = split(args.data, work, args.folds, args.seed)
        model_dir = trained_model(work, train_path, args)
        names = ["torch", *FASTER]
        exports, accuracy = {}, {}
        for name in names:  # a first, untimed, pass of each: the export for the ONNX ones, and warm caches
            seconds, accuracy[name] = kear_loop(model_dir, held_out, work / f"{name}.jsonl", args.batch_size, name)
            exports[name] = seconds
            logger.info("first run of %s: %.1f s, accuracy %.4f", name, seconds, accuracy[name])
        times: dict[str, list[float]] = {"plain loop": [], **{name: [] for name in names}}
        for turn in range(args.rounds):
            seconds, accuracy["plain loop"] = plain_loop(model_dir, held_out, args.batch_size)
            times["plain loop"].append(seconds)
            for name in names:
                seconds, _ = kear_loop(model_dir, held_out, work / f"{name}.jsonl", args.batch_size, name)
                times[name].append(seconds)
            logger.info("round %d: %s", turn + 1, ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()))
        same = agreement(work, list(FASTER))
        count = sum(1 for _ in held_out.open())
        pooled, differences = pooled_accuracy(args, work) if args.accuracy_folds > 1 else ([], {})
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
    threads = torch.get_num_threads()
    # the machine may be shared: say how busy it was and at what priority this ran, with the numbers
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    conditions = f"Load average at the end {load}; this process's niceness {os.nice(0)}."
    rows, speed = [], {}
    for name, seconds in times.items():
        ratios = [plain / mine for plain, mine in zip(times["plain loop"], seconds)]
        speed[name] = statistics.median(ratios)
        label = name if name == "plain loop" else f"kear, `--inference {name}`"
        agrees = "" if name not in same else f"{same[name][0]:.3f} | {same[name][1]:.3f}"
        first = f"{exports[name]:.1f}" if name in exports else ""
        rows.append(
            f"| {label} | {count / statistics.median(seconds):.1f} | {speed[name]:.2f}x "
            f"| {accuracy[name]:.4f} | {agrees or '|'} | {first} |"
        )
    report = "\n".join(
        [
            *header("Prediction benchmark: inference settings on the CPU"),
            f"The packaged MiniLM fine-tuned by kear on {args.folds - 1} of {args.folds} folds of CommonsenseQA dev "
            f"(the reference release's triples and definitions; {args.epochs} epochs, learning rate "
            f"{args.learning_rate:g}, batch 16, max length {args.max_length}), predicting the held-out fold: "
            f"{count} questions x 5 choices, {args.batch_size} questions per forward pass, {threads} threads. "
            f"Medians of {args.rounds} rounds, the loops in turns; the ratio is taken round by round. kear's seconds "
            "include loading the model and writing the prediction lines; the first run's seconds include the ONNX "
            "export and quantisation (cached after). " + conditions,
            "",
            "| loop | questions / s | against the plain loop | held-out accuracy | same answer as `torch` "
            "| largest probability difference | first run, s |",
            "|---|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            verdict(speed, accuracy, differences),
            "",
            *pooled,
        ]
    )
    write_report(args.report, report)


if __name__ == "__main__":
    main()
