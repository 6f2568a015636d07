"""The output rule (``retrieval.outputs``): every command that writes x every output situation, one table.

The table below is docs/reliability.md's: what happens when the output given is new, kear's own, a user's file (with
and without ``--overwrite``), an input, inside an input, a link to an input, the wrong type (a folder where a file
goes or a file where a folder goes), in a folder kear cannot write, or written by another run. The refusals that
hold even with ``--overwrite`` are run with it. A refusal is one error line naming the output, with every file that
was there before unchanged and none removed; a success writes the output and changes nothing else of the user's.

A new command that writes is a new row of ``WRITERS``: the test that the commands are all here fails without it.
"""

from __future__ import annotations

import argparse
import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from kear.cli import build_parser, main
from kear.prediction import RESULTS_SUFFIX
from kear.recipes import recipe_path
from retrieval.data import sample_file
from retrieval.outputs import output_lock, own_record_path
from tests.conftest import snapshot

WRITTEN, REFUSED = "written", "refused"
# situation: (outcome, whether the run is given --overwrite)
SITUATIONS: dict[str, tuple[str, bool]] = {
    "new": (WRITTEN, False),
    "kear's own": (WRITTEN, False),
    "a user's": (REFUSED, False),
    "a user's, --overwrite": (WRITTEN, True),
    "an input": (REFUSED, True),
    "inside an input": (REFUSED, True),
    "a link to an input": (REFUSED, True),
    "the wrong type": (REFUSED, True),
    "unwritable": (REFUSED, True),
    "in use": (REFUSED, True),
}
UNWRITABLE = Path("/sys")  # no one writes there, root included (a read-only folder does not stop root)


@dataclass
class Writer:
    """A command that writes, as the matrix runs it.

    Args:
        name: the command (and, for kear ablate, which of its outputs).
        argv: its command line, given the output and the shared places (``{model}``...); run in the case's folder.
        folder: the output is a folder.
        input: a file the command reads, in the case's folder (``inside an input`` goes under ``input_folder``).
        files: what the case's folder holds first: name -> bytes, or a function given the path and the places.
        input_folder: a folder the command reads (default: none, and ``inside an input`` is under ``input``).
        lock: where the lock of a run writing the output is, relative to the output.
        beside: the suffixes of files written beside the output (a study's report: its JSON and chart).
        output: the output's name in the case's folder, for a command given only the folder it writes into (which
            names the file itself); ``argv`` is given the path the output gets.
    """

    name: str
    argv: Callable[[str], list[str]]
    folder: bool
    input: str
    files: dict[str, bytes | Callable[[Path, dict[str, str]], None]] = field(default_factory=dict)
    input_folder: str | None = None
    lock: str | None = None
    beside: tuple[str, ...] = ()
    output: str = "out"


def _copy(of: str) -> Callable[[Path, dict[str, str]], None]:
    return lambda path, places: path.write_bytes(Path(places[of]).read_bytes())


QUESTIONS = sample_file("questions.jsonl").read_bytes()
RETRIEVE = ["conceptnet.index={conceptnet}", "dictionary.indexes=[{dictionary}]", "examples.corpora=[train.jsonl]"]
TINY = ["model.name_or_path={encoder}", "data.train=train.jsonl", "inputs.max_length=48", "training.max_steps=1"]
PREDICTION = b'{"id":"q1","labels":["A","B"],"scores":[0.0,-1.0],"answer":"A"}\n'


def _study(path: Path, places: dict[str, str]) -> None:
    """A one-cell study of the tiny encoder on the sample (one condition, one train/dev pair, one step)."""
    recipe = {"model": {"name_or_path": places["encoder"]}, "inputs": {"max_length": 48, "knowledge": []}}
    recipe["training"] = {"max_steps": 1, "batch_size": 4}
    # the study measures KEAR's rule on ConceptNet's relations: retrieved from the sample index
    recipe["retrieval"] = {"conceptnet": {"index": places["conceptnet"]}, "sources": ["conceptnet"]}
    (path.parent / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    study = {
        "data": {"train": "train.jsonl", "dev": "dev.jsonl"},
        "selection": {"learning_rates": [1e-3], "inner_fraction": 0.2},
        "recipe": "recipe.yaml",
        "conditions": {"plain": {}},
    }
    path.write_text(yaml.safe_dump(study))


STUDY = {"train.jsonl": QUESTIONS, "dev.jsonl": QUESTIONS, "study.yaml": _study}

WRITERS = [
    Writer(
        "retrieve",
        lambda out: ["retrieve", "--input", "in.jsonl", "--output", out, *RETRIEVE],
        False,
        "in.jsonl",
        {"in.jsonl": QUESTIONS, "train.jsonl": sample_file("train.jsonl").read_bytes()},
        "{conceptnet}",
    ),
    Writer(
        "index conceptnet",
        lambda out: ["index", "conceptnet", "dump.csv", "--output", out],
        True,
        "dump.csv",
        {"dump.csv": sample_file("conceptnet-assertions.csv").read_bytes()},
    ),
    Writer(
        "index wiktionary",
        lambda out: ["index", "wiktionary", "kaikki.jsonl", "--output", out],
        True,
        "kaikki.jsonl",
        {"kaikki.jsonl": sample_file("kaikki-english.jsonl").read_bytes()},
    ),
    Writer(
        "index examples",
        lambda out: ["index", "examples", "train.jsonl", "--output", out],
        True,
        "train.jsonl",
        {"train.jsonl": sample_file("train.jsonl").read_bytes()},
    ),
    Writer(
        "train",
        lambda out: ["train", *TINY, f"training.output_dir={out}"],
        True,
        "train.jsonl",
        {"train.jsonl": QUESTIONS},
        "{encoder}",
    ),
    *(
        Writer(
            command,
            lambda out, command=command: [command, "--model", "{model}", "--input", "in.jsonl", "--output", out],
            False,
            "in.jsonl",
            {"in.jsonl": _copy("knowledge")},
            "{model}",
            beside=(RESULTS_SUFFIX,) if command == "evaluate" else (),  # its results, beside the lines
        )
        for command in ("evaluate", "predict")
    ),
    Writer(
        "evaluate --results",
        lambda out: ["evaluate", "--model", "{model}", "--input", "in.jsonl", "--results", out],
        False,
        "in.jsonl",
        {"in.jsonl": _copy("knowledge")},
        "{model}",
    ),
    Writer(
        "recipe copy",
        lambda out: ["recipe", "copy", "train/tiny", str(Path(out).parent)],
        False,
        str(recipe_path("train/tiny")),  # what it reads: the recipe kear ships
        output="tiny.yaml",
    ),
    Writer(
        "ensemble",
        lambda out: ["ensemble", "a.jsonl", "b.jsonl", "--output", out],
        False,
        "a.jsonl",
        {"a.jsonl": PREDICTION, "b.jsonl": PREDICTION},
    ),
    Writer(
        "push --dry-run",
        lambda out: ["push", "{model}", "user/kear-tiny", "--dry-run", out],
        True,
        "in.jsonl",  # push reads no file of the case: the model folder is its input
        {"in.jsonl": QUESTIONS},
        "{model}",
    ),
    Writer(
        "ablate (output_dir)",
        lambda out: ["ablate", "--config", "study.yaml", f"output_dir={out}"],
        True,
        "train.jsonl",
        STUDY,
        lock="cells.jsonl",
    ),
    Writer(
        "ablate (report)",
        lambda out: ["ablate", "--config", "study.yaml", "output_dir=study", f"report={out}"],
        False,
        "train.jsonl",
        STUDY,
        beside=(".json", ".png"),
    ),
    Writer(
        "demo",
        lambda out: ["demo", "--workdir", out, "model={encoder}", "epochs=1", "seeds=[1]", "max_length=48"],
        True,
        "in.jsonl",  # the demo reads its own bundled data: the encoder folder is its input
        {"in.jsonl": QUESTIONS},
        "{encoder}",
    ),
]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})


def _writing(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> set[str]:
    """The commands below ``parser`` that write (that take --overwrite), by their words: ``recipe copy``."""
    below = _subcommands(parser)
    if not below:
        return {" ".join(words)} if any(a.dest == "overwrite" for a in parser._actions) else set()
    return {name for word, command in below.items() for name in _writing(command, (*words, word))}


def _command_of(argv: list[str]) -> str:
    """The command a command line runs, by its words: ``recipe copy`` of ``recipe copy NAME DIR``, ``index`` of
    ``index conceptnet DUMP``."""
    parser, words = build_parser(), []
    for word in argv:
        if word not in _subcommands(parser):
            break
        words.append(word)
        parser = _subcommands(parser)[word]
    return " ".join(words)


def test_every_command_that_writes_is_in_the_matrix() -> None:
    assert _writing(build_parser()) == {_command_of(writer.argv("out")) for writer in WRITERS}


def _place(situation: str, writer: Writer, folder: Path, places: dict[str, str]) -> str:
    """Make the situation in the case's folder; the output to give."""
    out = folder / writer.output
    if situation == "kear's own":
        assert _run(writer, writer.output, places) == 0, "the first run failed"
    elif situation.startswith("a user's"):
        if writer.folder:
            out.mkdir()
            (out / "notes.txt").write_text("a user's notes\n")
        else:
            out.write_text("a user's notes\n")
    elif situation == "an input":
        return writer.input_folder.format(**places) if writer.folder and writer.input_folder else writer.input
    elif situation == "inside an input":
        inside = writer.input_folder.format(**places) if writer.input_folder else writer.input
        return f"{inside}/{writer.output}"
    elif situation == "a link to an input":
        out.symlink_to(folder / writer.input)
    elif situation == "the wrong type":
        if writer.folder:
            out.write_text("a file where a folder goes\n")
        else:
            out.mkdir()
            (out / "notes.txt").write_text("a folder where a file goes\n")
    elif situation == "unwritable":
        return str(UNWRITABLE / writer.output)
    return writer.output


def _run(writer: Writer, out: str, places: dict[str, str], *extra: str) -> int:
    argv = [part.format(**places) for part in writer.argv(out)]
    try:
        return main([*argv, *extra, "--no-progress"])
    except SystemExit as stop:
        return int(stop.code or 0)


@pytest.mark.parametrize("situation", list(SITUATIONS))
@pytest.mark.parametrize("writer", WRITERS, ids=lambda writer: writer.name)
def test_the_output_rule(writer: Writer, situation: str, places, tmp_path: Path, monkeypatch, capsys) -> None:
    if situation == "unwritable" and not UNWRITABLE.is_dir():
        pytest.skip(f"{UNWRITABLE} is not here")
    folder = tmp_path / "case"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("KEAR_CACHE", str(tmp_path / "cache"))
    for name, content in writer.files.items():
        if callable(content):
            content(folder / name, places)
        else:
            (folder / name).write_bytes(content)
    out = _place(situation, writer, folder, places)
    shared = [Path(places[k]) for k in ("model", "encoder", "conceptnet", "dictionary")]
    before = snapshot(folder, *shared)
    capsys.readouterr()
    outcome, overwrite = SITUATIONS[situation]
    with (
        output_lock(folder / writer.output / (writer.lock or "")) if situation == "in use" else contextlib.nullcontext()
    ):
        status = _run(writer, out, places, *(["--overwrite"] if overwrite else []))
    err = capsys.readouterr().err
    after = snapshot(folder, *shared)
    errors = [line for line in err.splitlines() if re.match(r"kear( \w+)?: error: ", line)]
    assert "Traceback" not in err, err[-3000:]
    if outcome == REFUSED:
        assert status != 0, f"written: {err[-1000:]}"
        assert len(errors) == 1, err[-2000:]
        assert Path(out).name in errors[0], errors[0]
        assert {path: after.get(path) for path in before} == before  # nothing changed, nothing removed
        assert not after.keys() - before.keys(), after.keys() - before.keys()
        return
    assert status == 0 and not errors, err[-2000:]
    output = folder / out
    assert output.is_dir() and any(output.iterdir()) if writer.folder else output.is_file() and output.stat().st_size
    written = [output, *(output.with_suffix(suffix) for suffix in writer.beside)]
    ours = tuple(str(p) for path in written for p in (path, own_record_path(path)))  # and kear's records of them
    kept = {path: digest for path, digest in before.items() if not path.startswith(ours)}
    if writer.folder and overwrite and writer.name.split()[0] in ("train", "ablate", "demo"):
        kept[str(output / "notes.txt")] = before[str(output / "notes.txt")]  # they write among the user's files
    assert {path: after.get(path) for path in kept} == kept


def test_a_refusal_says_how_to_go_on(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a.jsonl").write_bytes(PREDICTION)
    Path("notes.jsonl").write_text("my notes\n")
    assert main(["ensemble", "a.jsonl", "a.jsonl", "--output", "notes.jsonl"]) == 1
    assert "notes.jsonl: exists and kear did not write it; give --overwrite" in capsys.readouterr().err
    assert Path("notes.jsonl").read_text() == "my notes\n"
