"""Runs killed with SIGKILL at several points, then run again as they were: the same bytes as a run never
interrupted, no temporary file left, no process left behind.

SIGKILL runs no clean-up, so what these tests check is what the next run does with what the killed one left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from retrieval.data import sample_file

from .conftest import write_lines

psutil = pytest.importorskip("psutil")


def kear(*args: str) -> list[str]:
    return [sys.executable, "-m", "kear.cli", *args, "--no-progress"]


def run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def kill_when(command: list[str], cwd: Path, ready: Callable[[], bool], timeout: float = 120) -> list[int]:
    """Start ``command``, SIGKILL it as soon as ``ready()`` holds (``ready`` may take the run's ``psutil.Process``);
    return the pids of its children then alive.

    Fails when the run ends before it could be killed there: that point was not tested.
    """
    process = subprocess.Popen(
        command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + timeout
    watched = psutil.Process(process.pid)
    while not (ready(watched) if ready.__code__.co_argcount else ready()):
        assert process.poll() is None, f"the run ended before the kill point: {process.stderr.read()[-2000:]!r}"
        assert time.monotonic() < deadline, "the kill point never came"
        time.sleep(0.005)
    children = [child.pid for child in psutil.Process(process.pid).children(recursive=True)]
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()
    return children


def assert_gone(pids: list[int]) -> None:
    """No process the killed run started is still alive a moment later (zombies of its dead parent aside)."""
    deadline = time.monotonic() + 0.5
    while (alive := [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert alive == []


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def lines_in(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.is_file() else 0


@pytest.fixture(scope="module")
def many_questions(sample_knowledge: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 questions with knowledge (the sample's, under new ids): three chunks of kear predict."""
    rows = [json.loads(line) for line in sample_knowledge.read_text().splitlines()]
    out = []
    for copy in range(50):
        for row in rows:
            out.append(json.dumps({**row, "id": f"{row['id']}-{copy}"}))
    return write_lines(tmp_path_factory.mktemp("many") / "questions.jsonl", out)


def test_kill_predict_anywhere_then_rerun(trained_model: Path, many_questions: Path, tmp_path: Path) -> None:
    command = kear("predict", "--model", str(trained_model), "--input", str(many_questions), "--output", "out.jsonl")
    whole = tmp_path / "whole"
    whole.mkdir()
    run(command, whole)
    expected = (whole / "out.jsonl").read_bytes()
    assert expected.count(b"\n") == 600
    work = tmp_path / "work"
    work.mkdir()
    out = work / "out.jsonl"
    points = {
        "while it loads the model": lambda: (work / ".out.jsonl.kear-lock").exists(),
        "after the first chunk": lambda: lines_in(out) >= 256,
        "after the second chunk": lambda: lines_in(out) >= 512,
    }
    for name, ready in points.items():
        assert_gone(kill_when(command, work, ready))
        assert lines_in(out) < 600, name
    run(command, work)
    assert out.read_bytes() == expected
    assert sorted(p.name for p in work.iterdir()) == [".out.jsonl.kear.json", "out.jsonl"]


def test_kill_retrieve_then_rerun(sample_indexes: dict[str, Path], tmp_path: Path) -> None:
    rows = [json.loads(line) for line in sample_file("questions.jsonl").read_text().splitlines()]
    records = write_lines(
        tmp_path / "records.jsonl",
        [json.dumps({**row, "id": f"{row['id']}-{n}"}) for n in range(400) for row in rows],
    )
    settings = [
        f"conceptnet.index={sample_indexes['conceptnet']}",
        f"dictionary.indexes=[{sample_indexes['dictionary']}]",
        f"examples.corpora=[{sample_file('train.jsonl')}]",
        "batch_size=64",
    ]
    whole, work = tmp_path / "whole", tmp_path / "work"
    whole.mkdir()
    work.mkdir()
    run([*kear("retrieve", "--input", str(records), "--output", "out.jsonl"), *settings, "cache_dir=cache"], whole)
    command = [*kear("retrieve", "--input", str(records), "--output", "out.jsonl"), *settings, "cache_dir=cache"]
    cache = work / "cache" / "retrieval.sqlite"
    points = {
        "before any knowledge is cached": lambda: (work / ".out.jsonl.kear-lock").exists(),
        "with some of it cached": lambda: cache.exists() and cache.stat().st_size > 200_000,
    }
    for name, ready in points.items():
        assert_gone(kill_when(command, work, ready))
        assert not (work / "out.jsonl").exists(), name  # an atomic output: nothing, or all of it
    run(command, work)
    assert (work / "out.jsonl").read_bytes() == (whole / "out.jsonl").read_bytes()
    assert sorted(p.name for p in work.iterdir()) == [".out.jsonl.kear.json", "cache", "out.jsonl"]


def test_kill_an_ingest_while_it_reads_then_rerun(tmp_path: Path) -> None:
    rows = sample_file("conceptnet-assertions.csv").read_bytes()
    dump = tmp_path / "dump.csv"
    dump.write_bytes(rows * (240_000_000 // len(rows)))  # read for about a second
    whole, work = tmp_path / "whole", tmp_path / "work"
    whole.mkdir()
    work.mkdir()
    command = kear("index", "conceptnet", str(dump), "--output", "index")
    run(command, whole)
    reading = {}  # when the run was first seen with its inflating thread

    def threads(run) -> bool:
        return run.num_threads() >= 2

    def a_while(run) -> bool:
        if run.num_threads() >= 2:
            reading.setdefault(run.pid, time.monotonic())
        return run.pid in reading and time.monotonic() - reading[run.pid] > 0.2

    for ready in (threads, a_while):
        assert not kill_when(command, work, ready), "an ingest starts no process"
        assert not (work / "index").exists()
    run(command, work)
    built, reference = files(work / "index"), files(whole / "index")
    meta = json.loads(built.pop("meta.json")), json.loads(reference.pop("meta.json"))
    assert built == reference  # every array and list of the index, byte for byte
    for kept in (meta[0], meta[1]):
        kept.pop("build_id")  # a new id per build, by design (caches key on it)
    assert meta[0] == meta[1]
    assert sorted(p.name for p in work.iterdir()) == ["index"]


def test_kill_train_before_and_after_a_checkpoint_then_rerun(
    tiny_deberta: Path, sample_knowledge: Path, tmp_path: Path
) -> None:
    from .test_training import settings

    extra = ("training.epochs=6", "training.save_steps=2", "model.classifier_dropout=0.3")
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    run(kear("train", *settings(tiny_deberta, sample_knowledge, whole, *extra)), tmp_path)
    command = kear("train", *settings(tiny_deberta, sample_knowledge, broken, *extra))
    state = broken / "checkpoint" / "trainer_state.json"

    def step() -> int:
        # the checkpoint folder is swapped in whole, so the file can vanish between a look and a read
        try:
            return json.loads(state.read_text())["global_step"]
        except (FileNotFoundError, json.JSONDecodeError):
            return 0

    points = {
        "before the first checkpoint": lambda: (broken / "train_config.yaml").exists(),
        "after a checkpoint in mid-epoch": lambda: step() >= 2,
        "after a later one": lambda: step() >= 8,
    }
    for ready in points.values():
        assert_gone(kill_when(command, tmp_path, ready))
        assert not (broken / "results.json").exists()
    run(command, tmp_path)
    assert (broken / "results.json").read_text() == (whole / "results.json").read_text()
    assert (broken / "metrics.jsonl").read_text().count("\n") == (whole / "metrics.jsonl").read_text().count("\n")
    losses = [
        [json.loads(x).get("loss") for x in (run_ / "metrics.jsonl").read_text().splitlines()]
        for run_ in (broken, whole)
    ]
    assert losses[0] == losses[1]
    assert sorted(p.name for p in broken.iterdir()) == sorted(
        ["best", "checkpoint", "metrics.jsonl", "results.json", "train_config.yaml"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "whole"]  # no lock left beside it
    assert os.listdir(broken / "best")


def test_two_writers_on_one_output(trained_model: Path, many_questions: Path, tmp_path: Path) -> None:
    """Two real runs on one output: the second stops at once with one line; the first's file comes out whole."""
    command = kear("predict", "--model", str(trained_model), "--input", str(many_questions), "--output", "out.jsonl")
    whole = tmp_path / "whole"
    whole.mkdir()
    run(command, whole)
    work = tmp_path / "work"
    work.mkdir()
    first = subprocess.Popen(command, cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (work / ".out.jsonl.kear-lock").exists():
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)
    # the first is held where it stands, lock taken, while the second runs: the two overlap however fast either is
    first.send_signal(signal.SIGSTOP)
    try:
        second = subprocess.run(
            command, cwd=work, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
        )
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 1
    assert second.stderr.strip().splitlines()[-1] == (
        "kear: error: out.jsonl: another kear run is writing it; wait for it to end, or write elsewhere"
    )
    assert first.wait(timeout=300) == 0
    assert (work / "out.jsonl").read_bytes() == (whole / "out.jsonl").read_bytes()


def test_sigterm_ends_a_run_cleanly(sample_indexes: dict[str, Path], tmp_path: Path) -> None:
    """SIGTERM, as timeout, schedulers and container stops send it: one line, and nothing left behind."""
    rows = [json.loads(line) for line in sample_file("questions.jsonl").read_text().splitlines()]
    records = write_lines(
        tmp_path / "records.jsonl", [json.dumps({**row, "id": f"{row['id']}-{n}"}) for n in range(400) for row in rows]
    )
    work = tmp_path / "work"
    work.mkdir()
    command = [
        *kear("retrieve", "--input", str(records), "--output", "out.jsonl"),
        f"conceptnet.index={sample_indexes['conceptnet']}",
        f"dictionary.indexes=[{sample_indexes['dictionary']}]",
        f"examples.corpora=[{sample_file('train.jsonl')}]",
        "batch_size=64",
        "cache_dir=cache",
    ]
    process = subprocess.Popen(command, cwd=work, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    cache = work / "cache" / "retrieval.sqlite"
    deadline = time.monotonic() + 120
    while not (cache.exists() and cache.stat().st_size > 100_000):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143 and err.strip().splitlines()[-1] == "kear: terminated"
    assert sorted(p.name for p in work.iterdir()) == ["cache"]
    assert sorted(p.name for p in (work / "cache").iterdir()) == ["retrieval.sqlite"]  # the cache, closed cleanly
