"""A knowledge source is one declaration: a toy source defined here, and nowhere else, flows through retrieval,
inputs, training, prediction and the model card, and the model side never names a segment itself."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

import retrieval.source
from kear.cli import main
from kear.inputs import InputConfig, choice_texts
from retrieval import Knowledge, KnowledgeSource, Record, Segment, read_records, register, segments
from retrieval.data import sample_file
from retrieval.settings import check_text

REPO = Path(__file__).resolve().parents[1]


@dataclass
class ToyConfig:
    """Settings of the toy source.

    Args:
        adjective: the word the fact gives each choice.
    """

    adjective: str = "tangible"

    def __post_init__(self) -> None:
        check_text(self.adjective, "adjective")


class ToySource(KnowledgeSource):
    """One made-up fact per choice, in a field of its own."""

    name = "toy"
    config_class = ToyConfig
    segments = (Segment("toy_fact", "choice", "toy_fact", "Toy: a made-up fact about the choice"),)

    def data_identity(self) -> str:
        return "toy-1"

    def annotate(self, records: Sequence[Record]) -> list[Knowledge]:
        fact = lambda text: f"{text} is {self.config.adjective}"  # noqa: E731
        return [Knowledge(choices=[{"toy_fact": fact(c.text)} for c in record.choices]) for record in records]


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[ToySource]]:
    """The toy source, registered for one test only (the registry is as before afterwards)."""
    monkeypatch.setitem(retrieval.source._SOURCES, "toy", ToySource)
    yield register(ToySource)


def test_a_new_source_flows_from_retrieval_to_the_model_card(toy, tiny_deberta: Path, tmp_path: Path) -> None:
    cache = f"cache_dir={tmp_path / 'cache'}"
    # kear retrieve: the source's own section and name, from the command line
    knowledge = tmp_path / "toy.jsonl"
    argv = ["retrieve", "--input", sample_file("questions.jsonl"), "--output", knowledge, "--sources", "toy"]
    assert main([*map(str, argv), "toy.adjective=edible", cache]) == 0
    records = list(read_records(knowledge))
    assert all(c.knowledge["toy_fact"] == f"{c.text} is edible" for r in records for c in r.choices)
    assert "triple" not in records[0].choices[0].knowledge  # only the source asked for ran

    # inputs: the segment by its name, rendered as its source declares
    first, pieces = choice_texts(records[0], InputConfig(knowledge=["toy_fact"]))[0]
    assert pieces == [f"{records[0].choices[0].text} is edible"] and first.endswith(records[0].choices[0].text)

    # a 2-step training run whose model remembers where its knowledge came from
    output = tmp_path / "run"
    train = ["train", f"model.name_or_path={tiny_deberta}", f"data.train={knowledge}", f"data.dev={knowledge}"]
    train.append("data.allow_train_as_dev=true")  # a smoke run on its own data
    settings = ["inputs.max_length=64", "inputs.knowledge=[toy_fact]", "retrieval.sources=[toy]"]
    steps = ["training.max_steps=2", "training.batch_size=4", f"training.output_dir={output}"]
    assert main([*train, *settings, *steps, "retrieval.toy.adjective=edible", f"retrieval.{cache}"]) == 0
    saved = json.loads((output / "best" / "config.json").read_text())
    assert saved["inputs"]["knowledge"] == ["toy_fact"] and saved["retrieval"]["toy"] == {"adjective": "edible"}

    # kear predict on records without the toy's knowledge: retrieved with the model's settings
    predictions = tmp_path / "predictions.jsonl"
    plain = sample_file("questions.jsonl")
    argv = ["predict", "--model", output / "best", "--input", plain, "--output", predictions, cache]
    assert main(list(map(str, argv))) == 0
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert [row["id"] for row in rows] == [r.id for r in records]

    # the model card says what the knowledge is, as the source captions it
    upload = tmp_path / "upload"
    assert main(["push", str(output / "best"), "me/toy", "--dry-run", str(upload)]) == 0
    assert "Toy: a made-up fact about the choice" in (upload / "README.md").read_text()


def test_the_registry_refuses_a_segment_name_another_source_declares(toy) -> None:
    class Copycat(ToySource):
        name = "copycat"

    with pytest.raises(ValueError, match="toy_fact already declared by another source"):
        register(Copycat)
    assert "copycat" not in retrieval.source.sources()


def test_importing_the_model_loads_no_knowledge_source() -> None:
    code = "import sys, kear.modeling; print(*sys.modules, sep='\\n')"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    loaded = set(result.stdout.split())
    heavy = {"retrieval.conceptnet", "retrieval.dictionary", "retrieval.examples", "lemminflect", "bm25s"}
    assert not heavy & loaded, heavy & loaded
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert not heavy & imported and "kear.modeling" in imported  # the -X importtime trace says the same


def _literals(path: Path) -> set[str]:
    """The string constants of a module that are not docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    }


def test_the_model_side_names_no_segment() -> None:
    names = set(segments())
    assert {"qc_meaning", "ac_meaning", "triple", "examples"} <= names
    named = {str(path.relative_to(REPO)): _literals(path) & names for path in sorted((REPO / "kear").rglob("*.py"))}
    assert not {path: found for path, found in named.items() if found}


def test_the_literal_check_can_fail(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text('"""Mentions triple in prose."""\nSEGMENT = "triple"\n')
    assert _literals(module) == {"triple"}
