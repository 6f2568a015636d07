"""The demo, with a tiny model so that the test is quick; ``make demo`` runs it with MiniLM."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kear.cli import main
from kear.demo import DemoSettings, run_demo
from retrieval.data import demo_file, make_demo


def test_shipped_demo_data_is_what_the_generator_makes(tmp_path: Path) -> None:
    # as the data is regenerated: ``python -m retrieval.data.make_demo FOLDER``
    command = [sys.executable, "-m", "retrieval.data.make_demo", str(tmp_path)]
    subprocess.run(command, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl", "conceptnet-assertions.csv", "kaikki.jsonl"):
        assert (tmp_path / name).read_text() == demo_file(name).read_text(), name
    assert make_demo.generate().parts["dev"] == [
        json.loads(line) for line in (tmp_path / "dev.jsonl").read_text().splitlines()
    ]


def test_demo_concepts_never_repeat_across_parts() -> None:
    concepts = {}
    for part in ("train", "dev", "test"):
        rows = [json.loads(line) for line in demo_file(f"{part}.jsonl").read_text().splitlines()]
        concepts[part] = {row["question"]["question_concept"] for row in rows}
        assert len(concepts[part]) == len(rows)
    assert not (concepts["train"] & concepts["dev"]) and not (concepts["train"] & concepts["test"])


def test_demo_runs_end_to_end(tiny_deberta: Path, tmp_path: Path) -> None:
    settings = DemoSettings(model=str(tiny_deberta), seeds=[1, 2], epochs=1, max_length=48)
    result = run_demo(tmp_path, settings, progress=False)
    assert [row[0] for row in result.rows] == [
        "without knowledge",
        "with knowledge, seed 1",
        "with knowledge, seed 2",
        "ensemble of 2 seeds (mean probability)",
    ]
    assert all(0 <= value <= 1 for _, dev, test in result.rows for value in (dev, test))
    assert (tmp_path / "predictions" / "test-ensemble.jsonl").is_file()
    assert result.table.count("\n") == 5


def test_demo_command(tiny_deberta: Path, tmp_path: Path, capsys) -> None:
    assert (
        main(
            [
                "demo",
                "--workdir",
                str(tmp_path),
                "--no-progress",
                f"model={tiny_deberta}",
                "epochs=1",
                "seeds=[3]",
                "max_length=48",
            ]
        )
        == 0
    )
    table = capsys.readouterr().out.strip().splitlines()
    assert table[0].startswith("| model | dev accuracy") and len(table) == 4


def test_the_demo_fills_only_a_new_empty_or_earlier_demo_folder(tmp_path: Path) -> None:
    from retrieval import KearError

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "train.knowledge.jsonl").write_text("my own file")
    with pytest.raises(KearError, match="mine: holds files kear did not write"):
        run_demo(mine, DemoSettings(seeds=[1]), progress=False)
    assert [p.name for p in mine.iterdir()] == ["train.knowledge.jsonl"]
