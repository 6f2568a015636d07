#!/usr/bin/env python
"""What each kind of knowledge buys on the real CommonsenseQA dev split: ``kear ablate`` on 5 folds of it.

The 1,221 dev questions (``--data``) are split into 5 folds; the study (``study/csqa-dev``, a recipe kear ships) trains
the packaged MiniLM on each fold's training part under every condition, chooses the learning rate and epochs on
an inner split of that part, and scores the held-out fold once. Knowledge comes from this project's retriever
over the data's mini graph and mini dictionary (and WordNet, when installed), similar examples from the
training part only; one condition keeps the reference release's own triples and definitions.

This script builds the indexes the study reads (once, into ``OUTPUT_DIR/indexes``), runs the study
(resuming it if it was stopped) and adds to its report how far our retriever agrees with the reference's.

    python scripts/study_csqa_dev.py                                   # the whole study (resumable)
    python scripts/study_csqa_dev.py data.run_folds=[0,1]              # two folds now, the rest later
    python scripts/study_csqa_dev.py data.folds=2 data.max_records=30 selection.learning_rates=[1e-4] \\
        every_condition.training.epochs=1 output_dir=runs/smoke report=runs/smoke.md       # a smoke run
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from _common import REFERENCE, REFERENCE_HELP, quiet, reference_indexes

STUDY = "study/csqa-dev"  # a recipe kear ships (--config takes a file too)
WORDNET = Path("/usr/share/wordnet")


def build_indexes(data: Path, folder: Path) -> None:
    """The mini graph's and mini dictionary's indexes, and WordNet's when it is installed (each once)."""
    from retrieval import ingest_wordnet

    if not (folder / "conceptnet").is_dir() or not (folder / "wiktionary").is_dir():
        reference_indexes(data, folder)
    if (WORDNET / "index.noun").is_file() and not (folder / "wordnet").is_dir():
        ingest_wordnet(WORDNET, folder / "wordnet", progress=False)


def agreement_section(data: Path, indexes: Path) -> str:
    """How far our retriever's triples and definitions agree with the reference's, for every dev question."""
    from retrieval import RetrievalConfig, annotate, read_records
    from retrieval.agreement import knowledge_agreement

    config = RetrievalConfig(sources=["conceptnet", "dictionary"], use_cache=False)
    config.conceptnet.index, config.dictionary.indexes = str(indexes / "conceptnet"), [str(indexes / "wiktionary")]
    records = list(read_records(data / "dev.json"))
    ours = list(annotate([r.without_knowledge() for r in records], config, progress=False))
    rows = knowledge_agreement(records, ours).rows()
    lines = [
        "## Retrieval agreement with the reference",
        "",
        "| knowledge | same | of | rate |",
        "|---|---|---|---|",
    ]
    return "\n".join([*lines, *(f"| {name} | {same} | {total} | {rate:.1%} |" for name, same, total, rate in rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REFERENCE, help=f"the reference data (default {REFERENCE_HELP})")
    parser.add_argument("--config", default=STUDY, help=f"the study: a file or a recipe's name (default {STUDY})")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="study settings, e.g. data.folds=3")
    args = parser.parse_args()
    if not (args.data / "dev.json").is_file():
        parser.exit(
            2,
            f"study: {args.data / 'dev.json'} is not here: this study needs the project's shared "
            f"CommonsenseQA dev data (--data; default {REFERENCE_HELP})\n",
        )
    quiet()
    from kear.ablate import StudyConfig, ablate, check_study_outputs
    from kear.recipes import settings_file
    from retrieval import load_settings

    overrides = [f"data.records={args.data / 'dev.json'}", *args.overrides]
    study = load_settings(StudyConfig, settings_file(args.config), overrides)
    indexes = Path(study.output_dir) / "indexes"  # where the study's retrieval settings read them
    check_study_outputs(study)  # before the indexes go into output_dir: then the study may write among them
    build_indexes(args.data, indexes)
    if not (indexes / "wordnet").is_dir():  # WordNet is not installed: its condition cannot run here
        study.conditions = {n: c for n, c in study.conditions.items() if "wordnet" not in str(c.get("retrieval"))}
    command = shlex.join(["python", "scripts/study_csqa_dev.py", *map(str, args.overrides)])
    ablate(study, command, appendix=agreement_section(args.data, indexes), overwrite=True)


if __name__ == "__main__":
    main()
