from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kear.cli import main
from retrieval.data import sample_file

from .conftest import write_lines


@pytest.fixture
def config_file(sample_indexes: dict[str, Path], tmp_path: Path) -> Path:
    path = tmp_path / "retrieval.yaml"
    path.write_text(
        f"conceptnet:\n  index: {sample_indexes['conceptnet']}\n"
        f"dictionary:\n  indexes: [{sample_indexes['dictionary']}]\n"
        f"examples:\n  corpora: [{sample_file('train.jsonl')}]\ncache_dir: {tmp_path / 'cache'}\n"
    )
    return path


def retrieve(config: Path, source: Path | str, output: Path | str, *extra: str) -> int:
    return main(
        [
            "retrieve",
            "--config",
            str(config),
            "--input",
            str(source),
            "--output",
            str(output),
            "--no-progress",
            *extra,
        ]
    )


def test_index_commands(tmp_path: Path) -> None:
    # (kind, dump, output folder, quiet flag, the file the index must hold)
    for kind, dump, output, quiet, made in [
        ("conceptnet", "conceptnet-assertions.csv", "conceptnet", "--no-progress", "meta.json"),
        ("wiktionary", "kaikki-english.jsonl", "wk", "-q", "dictionary.sqlite"),
    ]:
        argv = ["index", kind, str(sample_file(dump)), "--output", str(tmp_path / output), quiet]
        assert main(argv) == 0
        assert (tmp_path / output / made).is_file()


def test_retrieve_writes_every_record_and_a_rerun_is_cached(config_file: Path, tmp_path: Path, caplog) -> None:
    out = tmp_path / "out.jsonl"
    assert retrieve(config_file, sample_file("questions.jsonl"), out) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 12
    first = json.loads(lines[0])
    assert first["question"]["choices"][0]["triple"] == [["milk", "AtLocation", "refrigerator"]]
    caplog.clear()
    assert retrieve(config_file, sample_file("questions.jsonl"), out, "--sources", "conceptnet,dictionary") == 0
    assert "computed {'conceptnet': 0, 'dictionary': 0}" in caplog.text


def test_overrides_and_stdout(config_file: Path, capsys) -> None:
    assert retrieve(config_file, sample_file("questions.jsonl"), "-", "--sources", "examples", "examples.top_k=1") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 12
    assert all(len(c["retrieval"]) <= 1 for row in rows for c in row["question"]["choices"])


def test_bad_config_key_is_one_line(config_file: Path, tmp_path: Path, capsys) -> None:
    assert retrieve(config_file, sample_file("questions.jsonl"), tmp_path / "o.jsonl", "examples.topk=3") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Key 'topk'" in err and "Traceback" not in err


def test_malformed_input_keeps_the_old_output(config_file: Path, tmp_path: Path, capsys) -> None:
    good = sample_file("questions.jsonl").read_text().splitlines()
    bad = write_lines(tmp_path / "bad.jsonl", [*good[:2], '{"id": "x", "question": "broken"', *good[2:4]])
    out = tmp_path / "out.jsonl"
    assert retrieve(config_file, sample_file("questions.jsonl"), out) == 0  # a previous run's output
    previous = out.read_bytes()
    capsys.readouterr()
    assert retrieve(config_file, bad, out) == 1
    assert capsys.readouterr().err.strip() == f"kear: error: {bad}:3: invalid JSON (unexpected end of data)"
    assert out.read_bytes() == previous
    assert retrieve(config_file, bad, out, "--skip-invalid") == 0
    assert len(out.read_text().splitlines()) == 4


def test_wrong_number_of_choices_and_unknown_source(config_file: Path, tmp_path: Path, capsys) -> None:
    bad = write_lines(tmp_path / "one.jsonl", ['{"id": "x", "question": "q?", "choices": ["only"]}'])
    assert retrieve(config_file, bad, tmp_path / "o.jsonl") == 1
    assert "one.jsonl:1: a record needs at least 2 choices, got 1" in capsys.readouterr().err
    assert (
        retrieve(config_file, sample_file("questions.jsonl"), tmp_path / "o.jsonl", "--sources", "conceptnet,web") == 1
    )
    assert "unknown knowledge source(s) web" in capsys.readouterr().err


def test_ctrl_c_leaves_no_half_file(config_file: Path, tmp_path: Path, monkeypatch) -> None:
    def interrupted(self, records):
        raise KeyboardInterrupt

    monkeypatch.setattr("retrieval.examples.ExamplesSource.annotate", interrupted)
    out = tmp_path / "out" / "result.jsonl"
    assert retrieve(config_file, sample_file("questions.jsonl"), out) == 130
    assert not (tmp_path / "out").exists()  # not even the folder made for it


def test_console_script_errors_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kear.cli",
            "retrieve",
            "--input",
            str(tmp_path / "absent.jsonl"),
            "--output",
            "-",
            "--sources",
            "examples",
            f"examples.corpora=[{sample_file('train.jsonl')}]",
            f"cache_dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"kear: error: {tmp_path / 'absent.jsonl'}: no such file"
    assert "Traceback" not in result.stderr


def _ctrl_c_as_in_a_terminal() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _cmdline(process) -> str:
    import psutil

    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # it ended meanwhile
        return ""


def test_ctrl_c_during_a_two_thread_ingest(tmp_path: Path) -> None:
    """A real SIGINT to the process group, as Ctrl-C sends it, while one thread inflates and another scans: one
    line, status 130, nothing left behind."""
    import os
    import signal
    import time

    psutil = pytest.importorskip("psutil")
    rows = sample_file("conceptnet-assertions.csv").read_bytes()
    dump = tmp_path / "big.csv"
    dump.write_bytes(rows * (240_000_000 // len(rows)))  # read for about a second
    out = tmp_path / "index"
    process = subprocess.Popen(
        [sys.executable, "-m", "kear.cli", "index", "conceptnet", str(dump), "--output", str(out), "--no-progress"],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # a shell that starts the suite in the background (CI, `make test &`) hands it SIGINT ignored, and
        # Python keeps an ignored SIGINT ignored; a terminal's foreground job has it at the default, unblocked
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )
    # Ctrl-C once the inflating thread runs: the ingest is reading
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(psutil.Error):
            if psutil.Process(process.pid).num_threads() >= 2:
                break
        time.sleep(0.002)
    assert process.poll() is None, "the ingest ended before it was seen reading"
    state = Path(f"/proc/{process.pid}/status").read_text()
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    signals = [line for line in state.splitlines() if line.startswith("Sig")]
    assert process.returncode == 130, f"{err}\n{signals}"
    assert err.strip().splitlines()[-1] == "kear: interrupted" and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv"]


def test_quiet_shows_no_progress_bars(trained_model: Path, sample_knowledge: Path, tmp_path: Path, capfd) -> None:
    """-q says only what went wrong: no bar of kear's, nor of the libraries' (loading weights), in evaluate or
    predict; without it, evaluate shows its bar."""
    args = ["--model", str(trained_model), "--input", str(sample_knowledge)]
    assert main(["evaluate", *args]) == 0
    assert "predicting: 12 questions" in capfd.readouterr().err
    assert main(["evaluate", *args, "-q", "--output", str(tmp_path / "e.jsonl")]) == 0
    assert main(["predict", *args, "-q", "--output", str(tmp_path / "p.jsonl")]) == 0
    err = capfd.readouterr().err
    assert "predicting" not in err and "%|" not in err and "\r" not in err, err
