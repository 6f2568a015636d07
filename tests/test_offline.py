"""Without the Hub, a Hub id fails at once with one line (``retrieval/hub.py``), instead of a minute of retries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from retrieval import KearError, read_records

# a local port where nothing listens: every request is refused at once, and nothing leaves the machine
UNREACHABLE = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0"}


def _kear(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    environment = {**os.environ, **UNREACHABLE, "HF_HOME": str(cwd / "hf-home")}  # an empty cache
    return subprocess.run(
        [sys.executable, "-m", "kear.cli", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=environment,
        cwd=cwd,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (
            ["train", "model.name_or_path=someone/absent-encoder", "data.train=x.jsonl"],
            "tokenizer 'someone/absent-encoder'",
        ),
        (
            ["predict", "--model", "someone/absent-model", "--input", "x.jsonl", "--output", "p.jsonl"],
            "model 'someone/absent-model'",
        ),
    ],
    ids=["train", "predict"],
)
def test_a_hub_id_without_the_hub_is_one_line_at_once(args, what, tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text('{"id": "a", "question": "q?", "choices": ["x", "y"], "answer": 0}\n')
    result = _kear([*args, "--no-progress"], tmp_path)
    assert result.returncode == 1
    # no retry warnings before it: the first failed request decides
    assert result.stderr == (
        f"kear: error: cannot load {what}: the Hugging Face Hub cannot be reached and the files are not in the "
        "local cache\n"
    )
    assert not (tmp_path / "p.jsonl").exists()


def test_a_dataset_id_without_the_hub_is_one_line(monkeypatch) -> None:
    monkeypatch.setattr("retrieval.records.hub_unreachable", lambda: True)
    with pytest.raises(KearError, match=r"^tau/commonsense_qa: cannot load dataset: the Hugging Face Hub cannot be "):
        next(read_records("tau/commonsense_qa"))
