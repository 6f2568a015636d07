#!/usr/bin/env python
"""Knowledge ablation on the real CommonsenseQA dev split, by k-fold cross-validation with a real encoder.

The 1,221 dev questions (``--data``, by default ``../shared/data/csqa-dev-reference``) are split into k folds;
each fold is held out in turn while the packaged MiniLM trains on the others. Knowledge comes from this
project's own retriever, not from the reference's stored fields:

* ConceptNet triples and Wiktionary definitions from the mini graph and mini dictionary that ship with the data;
* WordNet definitions as the alternative dictionary, when WordNet's files are installed;
* similar examples by BM25 over the *training folds only*, so a held-out question never sees itself.

Conditions (``configs/study/conditions.yaml``): no knowledge; each source alone; all of them; all of them with
the stored reference triples and meanings in place of ours. Each trains by the recipe
``configs/study/train.yaml`` (the options change it). The no-knowledge condition is also trained with plain
transformers (``AutoModelForMultipleChoice`` + ``Trainer``, same hyperparameters and folds) to check our loop
against it. Each fold's score is the held-out accuracy after the last epoch (nothing is selected on the held-out
fold).

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
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    CONFIGS,
    REFERENCE,
    REFERENCE_HELP,
    annotated,
    folds,
    header,
    our_knowledge,
    quiet,
    reference_indexes,
    train_fold,
    trainer_baseline,
    updated,
    write_report,
)

RECIPE = CONFIGS / "study" / "train.yaml"
CONDITIONS = CONFIGS / "study" / "conditions.yaml"
BASELINE = "no knowledge, plain transformers Trainer"
ORIGINS = ("ours", "wordnet", "reference")
WORDNET = Path("/usr/share/wordnet")

logger = logging.getLogger("study")


@dataclass
class Condition:
    """One condition of the study (see ``configs/study/conditions.yaml``).

    Args:
        sources: the knowledge in the input, by source: each one's segments, in KEAR's order (``None``: KEAR's).
        origin: where the knowledge comes from: one of :data:`ORIGINS`.
    """

    sources: list[str] | None = None
    origin: str = "ours"

    def __post_init__(self) -> None:
        from retrieval import sources
        from retrieval.settings import check_choice, check_texts

        check_texts(self.sources, "sources", choices=list(sources()), optional=True, what="source")
        check_choice(self.origin, "origin", ORIGINS)

    @property
    def knowledge(self) -> list[str]:
        """The input segments, by name."""
        from retrieval import default_segments, segments

        chosen = segments()
        return [name for name in default_segments() if self.sources is None or chosen[name].source in self.sources]


@dataclass
class Conditions:
    """The study's conditions by name, in the report's order."""

    conditions: dict[str, Condition] = field(default_factory=dict)


def knowledge_sets(train, test, folder: Path, config, wordnet: Path | None) -> dict[str, tuple[list, list]]:
    """A fold's records with each origin of knowledge: ours, WordNet definitions (with ``wordnet``, the WordNet
    index) and the reference's."""
    ours = our_knowledge(train, test, folder, config)
    sets = {"ours": ours}
    # the reference's triples and meanings; it has no similar examples, so those are ours
    sets["reference"] = tuple(
        [_mixed(reference, mine) for reference, mine in zip(part, our_part)]
        for part, our_part in zip((train, test), ours)
    )
    if wordnet:
        config = updated(config, {"sources": ["dictionary"], "dictionary": {"indexes": [str(wordnet)]}})
        sets["wordnet"] = (annotated(train, config), annotated(test, config))
    return sets


def _mixed(reference, mine):
    record = mine.without_knowledge()
    record.knowledge = dict(reference.knowledge)
    for choice, ref_choice, my_choice in zip(record.choices, reference.choices, mine.choices):
        choice.knowledge = {**ref_choice.knowledge, "retrieval": my_choice.knowledge["retrieval"]}
    return record


def run_baseline(config, train, test, folder: Path) -> float:
    """The no-knowledge condition with plain transformers, on the same token ids and hyperparameters."""
    from transformers import AutoTokenizer

    from kear.inputs import encode_records
    from kear.modeling import resolve_model_path

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(config.model.name_or_path))
    inputs = updated(config.inputs, {"knowledge": []})
    encoded = [list(encode_records(records, tokenizer, inputs)) for records in (train, test)]
    return trainer_baseline(tokenizer, *encoded, folder / "baseline", config.training)["accuracy"]


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
    lines = [
        *header("Knowledge ablation on CommonsenseQA dev", seconds),
        f"{args.folds}-fold cross-validation over the {args.questions} real dev "
        f"questions; the packaged MiniLM (all-MiniLM-L6-v2, 22M parameters); max length {args.max_length}; "
        f"{args.max_steps or args.epochs:g} {'step(s)' if args.max_steps else 'epoch(s)'}; batch {args.batch_size}; "
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
    path.with_suffix(".json").write_text(json.dumps({"summary": summary, "args": vars(args)}, indent=1, default=str))
    write_report(path, "\n".join(lines))


def build_parser() -> argparse.ArgumentParser:
    """The study's options; the training ones default to its recipe, ``configs/study/train.yaml``."""
    from kear.config import TrainConfig
    from retrieval import load_settings

    recipe = load_settings(TrainConfig, RECIPE)
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=f"The training options default to the recipe, {RECIPE.relative_to(CONFIGS.parent)}; the conditions "
        f"are in {CONDITIONS.relative_to(CONFIGS.parent)}.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", type=Path, default=REFERENCE, help=f"the reference data's folder ({REFERENCE_HELP})")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    parser.add_argument("--epochs", type=float, default=recipe.training.epochs, help="epochs per run")
    parser.add_argument("--max-steps", type=int, help="stop each run after this many steps (smoke tests)")
    parser.add_argument("--max-length", type=int, default=recipe.inputs.max_length, help="tokens per choice")
    parser.add_argument(
        "--max-examples", type=int, default=recipe.inputs.max_examples, help="similar examples kept per choice"
    )
    parser.add_argument("--batch-size", type=int, default=recipe.training.batch_size, help="questions per step")
    parser.add_argument("--learning-rate", type=float, default=recipe.training.learning_rate, help="peak rate")
    parser.add_argument("--seed", type=int, default=recipe.training.seed, help="of the runs and of the folds")
    parser.add_argument("--max-questions", type=int, help="use only the first N questions (smoke tests)")
    parser.add_argument("--conditions", nargs="+", help="run only these conditions (names as in the report)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the plain-transformers run")
    parser.add_argument("--workdir", type=Path, help="where runs go (none: a new temporary folder)")
    parser.add_argument(
        "--report",
        type=Path,
        default=Path("docs/results/csqa-dev-study.md"),
        help="Markdown, with .png and .json beside",
    )
    return parser


def train_config(args: argparse.Namespace):
    """The recipe with the options' values."""
    from kear.config import TrainConfig
    from retrieval import load_settings

    values = {
        "inputs": {"max_length": args.max_length, "max_examples": args.max_examples},
        "training": {
            "seed": args.seed,
            "epochs": args.epochs,
            "max_steps": args.max_steps,
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
        },
    }
    return updated(load_settings(TrainConfig, RECIPE), values)


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    if not (args.data / "dev.json").is_file():
        parser.exit(
            2,
            f"study: {args.data / 'dev.json'} is not here: this study needs the project's shared "
            f"CommonsenseQA dev data (--data; default {REFERENCE_HELP})\n",
        )
    quiet()
    from retrieval import ingest_wordnet, load_settings, read_records
    from retrieval.agreement import knowledge_agreement

    started = time.perf_counter()
    config = train_config(args)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="kear-study-"))
    indexes = reference_indexes(args.data, work / "indexes", use_cache=False)
    wordnet = work / "indexes" / "wordnet" if (WORDNET / "index.noun").is_file() else None
    if wordnet:
        ingest_wordnet(WORDNET, wordnet, progress=False)
    records = list(read_records(args.data / "dev.json"))
    agreement = knowledge_agreement(
        records, annotated(records, updated(indexes, {"sources": ["conceptnet", "dictionary"]}))
    )
    records = records[: args.max_questions] if args.max_questions else records
    args.questions = len(records)
    conditions = load_settings(Conditions, CONDITIONS).conditions
    conditions = {n: c for n, c in conditions.items() if (wordnet or c.origin != "wordnet")}
    if args.conditions:
        conditions = {n: c for n, c in conditions.items() if n in args.conditions or n == "no knowledge"}
    results: dict[str, list[float]] = {name: [] for name in conditions}
    if not args.no_baseline:
        results[BASELINE] = []
    for number, (train, test) in enumerate(folds(records, args.folds, args.seed)):
        fold_dir = work / f"fold{number}"
        sets = knowledge_sets(train, test, fold_dir, indexes, wordnet)
        for name, condition in conditions.items():
            folder = fold_dir / name.replace(" ", "-").replace(",", "").replace("(", "").replace(")", "")
            run = updated(config, {"inputs": {"knowledge": condition.knowledge}})
            results[name].append(train_fold(run, *sets[condition.origin], folder))
            logger.info("fold %d/%d, %s: %.4f", number + 1, args.folds, name, results[name][-1])
        if not args.no_baseline:
            results[BASELINE].append(run_baseline(config, *sets["ours"], fold_dir))
            logger.info("fold %d/%d, %s: %.4f", number + 1, args.folds, BASELINE, results[BASELINE][-1])
    report(results, agreement, args, time.perf_counter() - started, args.report)


if __name__ == "__main__":
    main()
