#!/usr/bin/env python
"""Accuracy of every pooling head against KEAR's first-token head and one extra self-attention layer.

Same encoder (the packaged MiniLM) and settings for every head; the heads and their settings are in
``study/heads`` (``kear recipe show study/heads``):

* **demo**: the bundled knowledge-dependent sample (train on its training part, score its development part)
  with ``kear demo``'s recipe (``kear/recipes/demo.yaml``), over several seeds;
* **dev folds**: the real CommonsenseQA dev split (``--data``) with all three kinds of knowledge, over
  cross-validation folds, with the study's recipe (``study/train``, as ``scripts/study_csqa_dev.py``
  trains); skipped when the data is absent.

Reports mean and standard deviation per head in ``docs/results/heads.md``.

    python scripts/ablate_heads.py                          # about an hour on 2 cores (66 minutes measured)
    python scripts/ablate_heads.py --parts demo --seeds 1 2 --demo-epochs 1
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common as common

HEADS = common.CONFIGS / "study" / "heads.yaml"
STUDY_RECIPE = common.CONFIGS / "study" / "train.yaml"
logger = logging.getLogger("ablation")


@dataclass
class Head:
    """One head of the ablation: its ``model.head`` and ``model.head_settings``."""

    head: str = "first_token"
    head_settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from kear.config import ModelConfig

        ModelConfig(head=self.head, head_settings=self.head_settings)  # checks both as a training recipe would


@dataclass
class Heads:
    """The ablation's heads by their name in the report, in its order."""

    heads: dict[str, Head] = field(default_factory=dict)


def demo_part(args: argparse.Namespace, heads: dict[str, Head], work: Path) -> dict[str, list[float]]:
    """Accuracy on the demo's development questions, per head and seed."""
    from kear.demo import DemoSettings, demo_train_config, prepare_demo
    from kear.training import train

    prepare_demo(work, use_cache=False)
    settings = DemoSettings(epochs=args.demo_epochs)
    results = {}
    for number, (name, head) in enumerate(heads.items()):
        results[name] = []
        for seed in args.seeds:
            config = demo_train_config(settings, work, work / "runs" / f"{number}-{head.head}" / str(seed), seed)
            config = common.updated(config, {"model": vars(head), "training": {"max_steps": args.max_steps}})
            results[name].append(train(config, progress=False).history[-1]["dev_accuracy"])
            logger.info("demo, %s, seed %d: %.4f", name, seed, results[name][-1])
    return results


def dev_part(args: argparse.Namespace, heads: dict[str, Head], work: Path) -> dict[str, list[float]] | None:
    """Held-out accuracy on the CommonsenseQA dev folds, per head and fold (``None`` without the data)."""
    from kear.ablate import k_folds
    from kear.config import TrainConfig
    from retrieval import load_settings, read_records

    if not (args.data / "dev.json").is_file():
        logger.warning("no CommonsenseQA dev data at %s: the dev-fold part is skipped", args.data)
        return None
    indexes = common.reference_indexes(args.data, work, use_cache=False)
    records = list(read_records(args.data / "dev.json"))
    recipe = load_settings(TrainConfig, STUDY_RECIPE)  # with KEAR's input: all three kinds of knowledge
    recipe = common.updated(recipe, {"training": {"epochs": args.epochs, "max_steps": args.max_steps}})
    results = {name: [] for name in heads}
    for number, (train, test) in enumerate(k_folds(records, args.folds, recipe.training.seed)):
        records_with_knowledge = common.our_knowledge(train, test, work / f"fold{number}", indexes)
        for name, head in heads.items():
            config = common.updated(recipe, {"model": vars(head)})
            accuracy = common.train_fold(
                config, *records_with_knowledge, work / f"fold{number}" / f"{head.head}-{number}"
            )
            results[name].append(accuracy)
            logger.info("dev fold %d, %s: %.4f", number + 1, name, accuracy)
    return results


def table(results: dict[str, list[float]], unit: str) -> list[str]:
    rows = ["| head | mean accuracy | std | " + unit + " |", "|---|---:|---:|---|"]
    for name, values in results.items():
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        rows.append(
            f"| {name} | {statistics.mean(values):.3f} | {spread:.3f} | {', '.join(f'{v:.3f}' for v in values)} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["demo", "dev"], choices=["demo", "dev"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="seeds for the demo part")
    parser.add_argument("--folds", type=int, default=2, help="folds for the dev part")
    parser.add_argument("--demo-epochs", type=int, default=2, help="epochs on the demo sample (as `kear demo`)")
    parser.add_argument("--epochs", type=float, default=1, help="epochs on the dev folds (as the study)")
    parser.add_argument("--max-steps", type=int, help="stop each run after this many steps (smoke tests)")
    parser.add_argument(
        "--data", type=Path, default=common.REFERENCE, help=f"the reference data's folder ({common.REFERENCE_HELP})"
    )
    parser.add_argument("--report", type=Path, default=Path("docs/results/heads.md"))
    args = parser.parse_args()
    common.quiet()
    from retrieval import load_settings

    heads = load_settings(Heads, HEADS).heads
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="kear-heads-"))
    demo = demo_part(args, heads, work / "demo") if "demo" in args.parts else None
    dev = dev_part(args, heads, work / "dev") if "dev" in args.parts else None
    lines = [
        *common.header("Pooling heads: accuracy ablation", time.perf_counter() - started),
        "Every head on the same encoder (the packaged MiniLM) with the same settings and all three kinds of "
        "knowledge in the input; each head's own settings are in `kear recipe show study/heads`.",
        "",
    ]
    if demo is not None:
        lines += [
            "## Bundled demo sample",
            "",
            f"150 training questions, {args.demo_epochs} epoch(s), max length 80, learning rate 2e-4; accuracy on the "
            f"50 development questions over seeds {args.seeds}.",
            "",
            *table(demo, "per seed"),
            "",
        ]
    if dev is not None:
        lines += [
            "## Real CommonsenseQA dev, cross-validation",
            "",
            f"Held-out accuracy over {args.folds} folds of the 1,221 questions (knowledge from our retriever: "
            "mini graph, mini dictionary, BM25 over the training folds), after the last epoch; "
            f"{args.epochs:g} epoch(s), other settings as the study's recipe (`kear recipe show study/train`).",
            "",
            *table(dev, "per fold"),
            "",
        ]
    common.write_report(args.report, "\n".join(lines))
    args.report.with_suffix(".json").write_text(json.dumps({"demo": demo, "dev": dev}, indent=1))


if __name__ == "__main__":
    main()
