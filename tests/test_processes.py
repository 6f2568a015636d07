"""kear predict and kear evaluate as 2 real processes (gloo, on the CPU), started the way users start them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from kear.cli import main
from retrieval.data import sample_file

from .test_prediction import many_records

REPO = Path(__file__).resolve().parents[1]


def launch(args: list[str], cwd: Path) -> subprocess.Popen:
    """``kear ARGS`` started as 2 processes by ``accelerate launch`` with the CPU config, from outside the repo."""
    config = REPO / "kear" / "recipes" / "accelerate" / "cpu-2proc.yaml"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ACCELERATE_")}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config), "-m", "kear.cli"]
    return subprocess.Popen(
        [*command, *args, "--no-progress"],
        cwd=cwd,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(process: subprocess.Popen) -> tuple[int, str]:
    _, err = process.communicate(timeout=600)
    return process.returncode, err


@pytest.fixture
def overrides(sample_config) -> list[str]:
    return [
        f"conceptnet.index={sample_config.conceptnet.index}",
        f"dictionary.indexes=[{sample_config.dictionary.indexes[0]}]",
        f"examples.corpora=[{sample_file('train.jsonl')}]",
        f"cache_dir={sample_config.cache_dir}",
    ]


def test_predict_and_evaluate_in_two_processes_write_what_one_writes(
    trained_model, sample_knowledge, overrides, tmp_path: Path
) -> None:
    # raw records: each process retrieves the knowledge of half of every chunk, and the lines show it all
    raw = many_records(sample_file("questions.jsonl"), 600, tmp_path / "raw.jsonl")  # 3 chunks of 256
    known = many_records(sample_knowledge, 300, tmp_path / "known.jsonl")
    runs = {
        "predict": ["predict", "--model", str(trained_model), "--input", str(raw), "--with-knowledge", *overrides],
        "evaluate": ["evaluate", "--model", str(trained_model), "--input", str(known)],
    }
    for name, args in runs.items():
        one, two = tmp_path / f"{name}.one.jsonl", tmp_path / f"{name}.two.jsonl"
        assert main([*args, "--output", str(one), "--no-progress"]) == 0
        status, err = finished(launch([*args, "--output", str(two)], tmp_path))
        assert status == 0, err[-3000:]
        assert " by 2 processes; accuracy" in err, err[-3000:]  # the run says how many processes ran
        assert two.read_bytes() == one.read_bytes(), name
    assert len((tmp_path / "predict.two.jsonl").read_text().splitlines()) == 600
    assert all(json.loads(line)["knowledge"] for line in (tmp_path / "predict.two.jsonl").read_text().splitlines())


def _rank(launcher: subprocess.Popen, rank: int) -> psutil.Process:
    """The process of ``rank`` among the launcher's children."""
    for child in psutil.Process(launcher.pid).children(recursive=True):
        try:
            if child.environ().get("RANK") == str(rank) and "kear.cli" in child.cmdline():
                return child
        except psutil.Error:
            continue
    raise AssertionError(f"no process of rank {rank}")


def test_a_run_killed_in_either_process_continues_to_the_same_file(
    trained_model, sample_knowledge, tmp_path: Path
) -> None:
    source = many_records(sample_knowledge, 2560, tmp_path / "in.jsonl")  # 10 chunks of 256
    args = ["predict", "--model", str(trained_model), "--input", str(source), "--output", str(tmp_path / "out.jsonl")]
    whole = tmp_path / "whole.jsonl"
    assert main([*args[:-1], str(whole), "--no-progress"]) == 0
    record = tmp_path / ".out.jsonl.kear.json"
    kept = 0
    # first the process that only scores its share is killed, then (in the run that continues) the one that writes
    for killed in (1, 0):
        run = launch(args, tmp_path)
        deadline = time.monotonic() + 300
        while not (record.exists() and json.loads(record.read_text() or "{}").get("records", 0) >= kept + 256):
            assert run.poll() is None and time.monotonic() < deadline, "the run ended before it wrote a chunk"
            time.sleep(0.01)
        _rank(run, killed).send_signal(signal.SIGKILL)  # the launcher then stops the other one
        status, err = finished(run)
        assert status != 0
        if kept:  # a run that continues says so, and predicts nothing twice
            assert f"continuing {tmp_path / 'out.jsonl'} after its {kept} predictions" in err
        kept = json.loads(record.read_text())["records"]
        assert 256 <= kept < 2560 and kept % 256 == 0
    status, err = finished(launch(args, tmp_path))
    assert status == 0, err[-3000:]
    assert f"continuing {tmp_path / 'out.jsonl'} after its {kept} predictions" in err  # not predicted again
    assert f"{2560 - kept} predictions written ({kept} from an earlier run) by 2 processes" in err
    assert (tmp_path / "out.jsonl").read_bytes() == whole.read_bytes()
