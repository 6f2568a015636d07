"""``kear ablate``: what each kind of knowledge buys, measured fairly on any dataset with any encoder.

A study is a list of conditions (YAML), each a change to one training recipe: the knowledge in the input, how
the token budget is spent, where the knowledge comes from, or plain transformers' ``Trainer`` in place of kear's
loop. Every condition runs on the same folds (k-fold cross-validation of one file, or a given train/dev pair):

1. the fold's records get their knowledge; similar examples come from a BM25 corpus of its training part only;
2. hyperparameters are chosen on an **inner split of the training part**: one run per learning rate of
   ``selection.learning_rates``, evaluated after every epoch on the inner held-out share, so the number of epochs
   comes free; the run and epoch with the best inner accuracy is kept;
3. only then is that model scored on the fold's held-out part, once, with and without KEAR's majority-relation
   rule (on the scores: no extra run).

The held-out part never reaches step 2 (a test checks it). Each (condition, fold) result is appended to
``output_dir/cells.jsonl`` as soon as it is known, so a study stopped at any point resumes where it was, and
grows when conditions or folds are added; the report (:mod:`kear.report`) is written from whatever is finished.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from retrieval.errors import ConfigError, KearError
from retrieval.io import dump_json_line
from retrieval.outputs import check_output, check_writable, output_lock
from retrieval.records import Record, read_records, record_from_dict, write_records
from retrieval.settings import check_choice, check_int, check_number, check_text, load_settings, read_settings_file

from .budget import SegmentSurvival
from .config import TrainConfig
from .recipes import settings_file
from .rules import RuleConfig

logger = logging.getLogger(__name__)
KINDS = ("kear", "trainer")  # a condition's loop: kear's, or plain transformers' Trainer (no knowledge)
SOURCES = ("retrieval", "records")  # a condition's knowledge: retrieved anew, or the records' own (filled in)


@dataclass
class StudyData:
    """The records a study runs on.

    Args:
        records: one file (any format ``kear retrieve`` reads) for k-fold cross-validation.
        train: or a fixed training file, with ``dev`` its held-out file (one "fold").
        dev: the held-out file of ``train``.
        folds: k, for ``records``.
        run_folds: the folds to run now (default: all); the others can be added by a later run.
        seed: the order the records are dealt into folds and inner splits.
        max_records: use only the first N records (smoke runs).
    """

    records: str | None = None
    train: str | None = None
    dev: str | None = None
    folds: int = 5
    run_folds: list[int] | None = None
    seed: int = 42
    max_records: int | None = None

    def __post_init__(self) -> None:
        for key in ("records", "train", "dev"):
            check_text(getattr(self, key), key, optional=True)
        check_int(self.folds, "folds", 2)
        check_int(self.seed, "seed", 0)
        check_int(self.max_records, "max_records", 2, optional=True)
        for fold in self.run_folds or []:
            check_int(fold, "run_folds", 0, self.folds - 1)


@dataclass
class Selection:
    """How each condition's hyperparameters are chosen, on the training part alone.

    Args:
        learning_rates: one run per learning rate; the epoch count comes from evaluating after every epoch.
        inner_fraction: the share of the training part held out to choose on.
    """

    learning_rates: list[float] = field(default_factory=lambda: [3e-5, 1e-4])
    inner_fraction: float = 0.2

    def __post_init__(self) -> None:
        if not self.learning_rates:
            raise ValueError("learning_rates must list at least one learning rate")
        for rate in self.learning_rates:
            check_number(rate, "learning_rates", above=0)
        check_number(self.inner_fraction, "inner_fraction", above=0, below=1)


@dataclass
class StudyConfig:
    """Settings of ``kear ablate``.

    Args:
        data: the records and folds.
        selection: how hyperparameters are chosen.
        recipe: a ``kear train`` recipe (YAML) every condition starts from (model, inputs, training, retrieval
            with its indexes...); its data and output folder are the study's own.
        every_condition: changes to the recipe for every condition (``every_condition.inputs.max_length=64``).
        conditions: name -> changes to the recipe (its sections: ``inputs``, ``training``, ``retrieval``...),
            plus ``kind`` (``kear``, or ``trainer`` for plain transformers' ``Trainer`` without knowledge) and
            ``knowledge`` (``retrieval``: retrieved anew for the fold; ``records``: the records' own knowledge,
            with what they lack retrieved).
        reference: the condition the others are compared with (default: the first).
        rule_threshold: KEAR's majority-relation threshold, measured on every condition whose records carry the
            relations (0: not measured).
        output_dir: where cells, runs and the report go.
        report: the Markdown report (default ``output_dir/report.md``); the JSON and chart go beside it.
    """

    data: StudyData = field(default_factory=StudyData)
    selection: Selection = field(default_factory=Selection)
    recipe: str | None = None
    every_condition: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, Any] = field(default_factory=dict)
    reference: str | None = None
    rule_threshold: int = 3
    output_dir: str = "runs/ablate"
    report: str | None = None

    def __post_init__(self) -> None:
        pair = [path is not None for path in (self.data.train, self.data.dev)]
        if (any(pair) and not all(pair)) or (self.data.records is None) != all(pair):
            raise ValueError("data: give either records (for k folds) or both train and dev")
        if not self.conditions:
            raise ValueError("conditions must name at least one condition")
        for name, changes in self.conditions.items():
            if not isinstance(changes, dict):
                raise ValueError(f"conditions.{name} must be a mapping of changes to the recipe")
            check_choice(changes.get("kind", "kear"), f"conditions.{name}.kind", KINDS)
            check_choice(changes.get("knowledge", "retrieval"), f"conditions.{name}.knowledge", SOURCES)
        if self.reference is not None and self.reference not in self.conditions:
            raise ValueError(f"reference {self.reference!r} is not one of the conditions")
        check_int(self.rule_threshold, "rule_threshold", 0)
        check_text(self.output_dir, "output_dir")

    @property
    def baseline(self) -> str:
        return self.reference or next(iter(self.conditions))


def _merged(*layers: dict[str, Any]) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.merge(*[OmegaConf.create(layer) for layer in layers]))  # type: ignore


def condition_config(study: StudyConfig, name: str) -> TrainConfig:
    """The training settings of one condition: the recipe with the condition's changes (checked as ``kear train``
    checks them, errors naming ``conditions.NAME``)."""
    recipe, _ = read_settings_file(settings_file(study.recipe, "recipe")) if study.recipe else ({}, {})
    changes = {k: v for k, v in study.conditions[name].items() if k not in ("kind", "knowledge")}
    try:
        return load_settings(TrainConfig, values=_merged(recipe or {}, study.every_condition, changes))
    except ConfigError as error:
        raise ConfigError(f"conditions.{name}: {str(error).removeprefix('saved settings: ')}") from None


# ------------------------------------------------------------------------------------------------- folds


def fold_parts(study: StudyConfig) -> list[tuple[list[Record], list[Record]]]:
    """(training part, held-out part) of each fold: k seeded folds of ``data.records``, or the train/dev pair."""
    data = study.data
    if data.records is None:
        return [(_read(data.train, data.max_records), _read(data.dev, data.max_records))]
    return k_folds(_read(data.records, data.max_records), data.folds, data.seed)


def k_folds(records: list, k: int, seed: int) -> list[tuple[list, list]]:
    """``k`` cross-validation folds of ``records`` in a seeded random order: (training part, held-out part) each;
    every record is held out once."""
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    parts = [[records[i] for i in order[f::k]] for f in range(k)]
    return [([r for g, part in enumerate(parts) if g != f for r in part], parts[f]) for f in range(k)]


def _read(path: str | None, limit: int | None) -> list[Record]:
    records = list(read_records(path))
    return records[:limit] if limit else records


def inner_split(training: list[Record], fraction: float, seed: int) -> tuple[list[Record], list[Record]]:
    """The training part split into what the selection runs train on and what they are chosen on."""
    order = list(range(len(training)))
    random.Random(seed + 1).shuffle(order)
    size = max(1, round(len(training) * fraction))
    chosen = set(order[:size])
    return [r for i, r in enumerate(training) if i not in chosen], [training[i] for i in sorted(chosen)]


# ------------------------------------------------------------------------------------------------- cells


def _digest(value: Any) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _knowledge(records: list[Record], config: TrainConfig, mode: str, corpus: Path, rules: RuleConfig) -> list:
    """Records with the knowledge the condition's inputs (and the rule) read: retrieved anew, or the records' own
    with what they lack retrieved; similar examples from the fold's training part only (``corpus``)."""
    from .predictor import NeededKnowledge

    fresh = mode == "retrieval"
    records = [r.without_knowledge() if fresh else record_from_dict(r.to_dict()) for r in records]
    from retrieval.examples import ExamplesSource

    values = asdict(config.retrieval)
    values[ExamplesSource.name]["corpora"] = [str(corpus)]
    values["cache_dir"] = values["cache_dir"] or str(corpus.parents[2] / "cache")  # the study's own cache
    retrieval = load_settings(type(config.retrieval), values=values)
    # the rule's relations come with ConceptNet's triples: fetching them for records that keep their own triples
    # would replace those, so the rule is measured only where the knowledge is retrieved anew
    knowledge = NeededKnowledge(config.inputs, rules if fresh else None, retrieval)
    try:
        return knowledge.add(records)
    finally:
        knowledge.close()


def _select(runs: dict[float, list[float | None]]) -> tuple[float, int]:
    """The learning rate and epoch (1-based) of the best inner accuracy; ties go to the first (lowest epoch)."""
    best = max(
        ((acc, -i, -e, rate, e + 1) for i, (rate, curve) in enumerate(runs.items()) for e, acc in enumerate(curve)),
        key=lambda t: (-math.inf if t[0] is None else t[0], t[1], t[2]),
    )
    return best[3], best[4]


def run_cell(study: StudyConfig, name: str, fold: int, training: list, held_out: list, folder: Path) -> dict:
    """One condition on one fold: knowledge, selection on the inner split, one score on the held-out part."""
    started = time.perf_counter()
    config = condition_config(study, name)
    changes = study.conditions[name]
    rules = RuleConfig(majority_relation=study.rule_threshold or None)
    folder.mkdir(parents=True, exist_ok=True)
    write_records(folder / "corpus.jsonl", [r.without_knowledge() for r in training])
    mode = changes.get("knowledge", "retrieval")
    training = _knowledge(training, config, mode, folder / "corpus.jsonl", rules)
    held_out = _knowledge(held_out, config, mode, folder / "corpus.jsonl", rules)
    inner_train, inner_dev = inner_split(training, study.selection.inner_fraction, study.data.seed + fold)
    write_records(folder / "inner-train.jsonl", inner_train)
    write_records(folder / "inner-dev.jsonl", inner_dev)
    select = _select_trainer if changes.get("kind", "kear") == "trainer" else _select_kear
    runs, scorer = select(config, study.selection.learning_rates, folder)
    rate, epoch = _select(runs)
    predictions = scorer(rate, epoch, held_out)  # the held-out part, once, after the choice
    shutil.rmtree(folder / "runs", ignore_errors=True)
    return {
        "condition": name,
        "fold": fold,
        "settings": _digest(changes),
        "accuracy": _accuracy(predictions),
        "rule": _rule_score(predictions, held_out, rules),
        "selected": {"learning_rate": rate, "epochs": epoch, "inner_accuracy": runs[rate][epoch - 1]},
        "inner_curves": {str(k): v for k, v in runs.items()},
        "held_out": len(held_out),
        "inner": [len(inner_train), len(inner_dev)],
        **_token_stats(config, held_out),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _select_kear(config: TrainConfig, rates: Sequence[float], folder: Path):
    """One kear run per learning rate on the inner split; inner accuracy after every epoch."""
    from .modeling import load_model
    from .predictor import predict_records
    from .training import train

    runs = {}
    for i, rate in enumerate(rates):
        values = asdict(config)
        values["data"] = {**values["data"], "train": str(folder / "inner-train.jsonl")}
        values["data"].update(dev=str(folder / "inner-dev.jsonl"), retrieve=False)
        values["training"] = {**values["training"], "learning_rate": rate, "output_dir": str(folder / "runs" / str(i))}
        result = train(load_settings(TrainConfig, values=values), progress=False)
        runs[rate] = [entry.get("dev_accuracy") for entry in result.history if "dev_accuracy" in entry]
        # the run's best epoch is the one kept in best/ (ties: the first), which _select picks for this rate too
        shutil.copytree(folder / "runs" / str(i) / "best", folder / "runs" / f"best-{i}")

    def scorer(rate: float, epoch: int, held_out: list) -> list:
        model, tokenizer = load_model(folder / "runs" / f"best-{list(rates).index(rate)}")
        return predict_records(model, tokenizer, held_out, config.training.eval_batch_size or 16, rules=RuleConfig())

    return runs, scorer


def _select_trainer(config: TrainConfig, rates: Sequence[float], folder: Path):
    from .baseline import trainer_runs

    return trainer_runs(config, rates, folder)


def _accuracy(predictions: list) -> float | None:
    from .evaluation import accuracy_of

    return accuracy_of(predictions)


def _rule_score(predictions: list, records: list, rules: RuleConfig) -> dict | None:
    """Accuracy with KEAR's majority-relation rule applied to the same scores, and on how many questions it acted."""
    from retrieval.conceptnet.majority import kept_choices

    if not rules.active or rules.lacking(records):
        return None
    from .rules import apply_rules

    applied = sum(kept_choices(r, rules.majority_relation) is not None for r in records)
    return {"accuracy": _accuracy(apply_rules(predictions, records, rules)), "questions": applied}


def _token_stats(config: TrainConfig, records: list) -> dict:
    """Tokens per choice and, for each segment, the share of choices that kept it whole, on the held-out part."""
    from transformers import AutoTokenizer

    from .inputs import encode_records
    from .modeling import resolve_model_path

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(config.model.name_or_path))
    survival = SegmentSurvival()
    rows = [
        len(row) for e in encode_records(records, tokenizer, config.inputs, survival=survival) for row in e.input_ids
    ]
    return {"tokens_per_choice": round(sum(rows) / max(1, len(rows)), 1), "survival": survival.shares()}


# ------------------------------------------------------------------------------------------------- a study


def protocol(study: StudyConfig) -> dict:
    """What every cell of a study shares: changing it makes the finished cells another study's (as JSON holds it,
    so that it compares equal with a saved copy)."""
    data = study.data
    files = [data.records] if data.records else [data.train, data.dev]
    found = {
        "data": [_file_digest(f) for f in files],
        "folds": 1 if data.records is None else data.folds,
        "seed": data.seed,
        "max_records": data.max_records,
        "selection": asdict(study.selection),
        "recipe": read_settings_file(settings_file(study.recipe, "recipe"))[0] if study.recipe else None,
        "every condition": study.every_condition,
        "rule_threshold": study.rule_threshold,
    }
    return json.loads(json.dumps(found, default=str))


def _file_digest(path: str) -> str:
    from retrieval.io import file_digest

    target = Path(path)
    return file_digest(target) if target.is_file() else path


def finished_cells(folder: Path, study: StudyConfig) -> dict[tuple[str, int], dict]:
    """The cells a study has already finished (checked against its protocol and conditions)."""
    saved = folder / "protocol.json"
    current = protocol(study)
    if saved.is_file() and _read_protocol(saved) != current:
        raise KearError(
            f"{folder}: holds a study with another protocol (data, folds, seed, selection, recipe or rule); "
            "give another output_dir"
        )
    if not saved.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(current, indent=1))
    cells = {}
    path = folder / "cells.jsonl"
    if not path.exists():
        _restore_cells(path, study, current)
    for number, cell in enumerate(_read_cells(path), start=1):
        name = cell["condition"]
        if name in study.conditions and cell["settings"] != _digest(study.conditions[name]):
            raise KearError(f"{path}:{number}: condition {name!r} has changed since it ran; give it a new name")
        cells[name, cell["fold"]] = cell
    return cells


def _read_protocol(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        why = error.strerror if isinstance(error, OSError) else "not JSON"
        raise KearError(f"{path}: not a study's protocol ({why}); give another output_dir") from None


def report_path(study: StudyConfig) -> Path:
    """The study's Markdown report; its JSON (every cell, the protocol) and chart go beside it."""
    return Path(study.report or Path(study.output_dir) / "report.md")


def _restore_cells(path: Path, study: StudyConfig, current: dict) -> None:
    """Start ``cells.jsonl`` from the cells of the report's JSON when that is of the same protocol: a study whose
    report was kept (committed, copied) goes on on another machine, from a new ``output_dir``."""
    saved = report_path(study).with_suffix(".json")
    try:
        found = json.loads(saved.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(found, dict) or found.get("protocol") != current or not isinstance(found.get("cells"), list):
        return
    # the caller holds the lock of cells.jsonl: written beside it, then moved into place whole
    staged = path.with_name(f"{path.name}.restored")
    staged.write_bytes(b"".join(dump_json_line(cell) for cell in found["cells"]))
    os.replace(staged, path)
    logger.info("%d finished cells taken from %s", len(found["cells"]), saved)


def _read_cells(path: Path) -> list[dict]:
    """The cells of ``cells.jsonl``; a torn last line (a study killed as it wrote) is cut off."""
    if not path.is_file():
        return []
    data = path.read_bytes()
    whole = data[: data.rfind(b"\n") + 1]
    if len(whole) < len(data):
        with path.open("r+b") as handle:
            handle.truncate(len(whole))
    try:
        return [json.loads(line) for line in whole.splitlines() if line.strip()]
    except ValueError as error:
        raise KearError(f"{path}: not a study's cells ({error}); give another output_dir") from None


def _append(path: Path, cell: dict) -> None:
    """One finished cell, on disk before the next starts (flushed and synced)."""
    with path.open("ab") as handle:
        handle.write(dump_json_line(cell))
        handle.flush()
        os.fsync(handle.fileno())


def check_study_outputs(study: StudyConfig, overwrite: bool = False) -> None:
    """Refuse, before any work, what a study may not write (:mod:`retrieval.outputs`): an ``output_dir`` that holds
    files of no study, and a report (its Markdown, JSON or chart) over one of the study's files (its data, recipe,
    cells, protocol) or over a file that is no report of kear's.

    Args:
        study: the study's settings.
        overwrite: write into an ``output_dir`` of other files, and over reports that are not kear's (never over
            the study's own files).
    """
    from .report import REPORT, report_files

    folder = Path(study.output_dir)
    data = study.data
    recipe = study.recipe and settings_file(study.recipe, "recipe")  # a file, or a recipe kear ships
    reads = [data.records, data.train, data.dev, recipe, folder / "cells.jsonl", folder / "protocol.json"]
    check_output(folder, reads[:4], folder=True, overwrite=overwrite, owned=lambda f: (f / "protocol.json").is_file())
    kept = _kept_report(study)
    for path in report_files(report_path(study)):
        check_output(path, reads, kind=REPORT, overwrite=overwrite or kept)
        check_writable(path)


def _kept_report(study: StudyConfig) -> bool:
    """Whether the report's JSON is this study's (the same protocol), kept from a run elsewhere (committed, copied,
    so without kear's record beside it): the study goes on from it and writes it again."""
    try:
        found = json.loads(report_path(study).with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(found, dict) and found.get("protocol") == protocol(study)


def ablate(
    study: StudyConfig, command: str | None = None, appendix: str = "", *, overwrite: bool = False
) -> dict[tuple[str, int], dict]:
    """Run every (condition, fold) cell not finished yet, appending each to ``cells.jsonl`` and writing the report
    again after each, so that a long study shows (and can be read) as it goes.

    Args:
        study: the study's settings.
        command: the command line that runs it, for the report.
        appendix: Markdown added at the end of the report (a study's own sections).
        overwrite: write into an ``output_dir`` that holds other files, and over a report kear did not write
            (see :func:`check_study_outputs`).

    Returns every finished cell of the study by (condition, fold).
    """
    from .report import write_report

    check_study_outputs(study, overwrite)
    folder = Path(study.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with output_lock(folder / "cells.jsonl"):
        cells = finished_cells(folder, study)
        parts = fold_parts(study)
        wanted = study.data.run_folds if study.data.run_folds is not None else range(len(parts))
        todo = [(name, fold) for fold in wanted for name in study.conditions if (name, fold) not in cells]
        logger.info("%d cells finished, %d to run", len(cells), len(todo))
        for number, (name, fold) in enumerate(todo, start=1):
            logger.info("cell %d/%d: %s, fold %d", number, len(todo), name, fold)
            training, held_out = parts[fold]
            cell = run_cell(study, name, fold, training, held_out, folder / "cells" / f"fold{fold}" / _slug(name))
            _append(folder / "cells.jsonl", cell)
            cells[name, fold] = cell
            logger.info("%s, fold %d: held-out accuracy %s", name, fold, cell["accuracy"])
            write_report(study, cells, command, appendix)
    write_report(study, cells, command, appendix)
    return cells


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-") or "condition"
