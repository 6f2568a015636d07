"""A hostile corpus: bad, odd and careless input to every subcommand, run in-process through ``kear.cli.main``.

Every case ends in one of two ways:

* a one-line error (``kear: error: ...``, or argparse's ``kear X: error: ...``) that names the file the user gave
  (and its line, where there is one), with a non-zero exit status; or
* a success that does the right thing, which the case checks.

In both, no traceback, and no existing file changes unless it is the output the user asked for (every file in
the case's folder, and the shared model and index folders, are hashed before and after). docs/reliability.md
counts the cases by subcommand: ``python -m pytest tests/test_hostile.py -q``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kear.cli import main
from retrieval.data import sample_file

SAMPLE = {name: sample_file(name).read_bytes() for name in ("questions.jsonl", "train.jsonl")}
SAMPLE["conceptnet-assertions.csv"] = sample_file("conceptnet-assertions.csv").read_bytes()
SAMPLE["kaikki-english.jsonl"] = sample_file("kaikki-english.jsonl").read_bytes()
QUESTIONS = [json.loads(line) for line in SAMPLE["questions.jsonl"].splitlines()]


@dataclass
class Case:
    """One hostile input.

    Args:
        command: the subcommand (for the count in docs/reliability.md).
        name: what is odd about the input.
        argv: the command line after ``kear``; ``{model}``, ``{encoder}``, ``{conceptnet}``, ``{dictionary}``, ``{here}`` and
            ``{sample}`` stand for the trained tiny model, the tiny encoder, the sample indexes, the case's folder
            and the bundled sample folder.
        files: files to make in the case's folder first: text, bytes, or a function given the path.
        error: for an error case, a regular expression the message must match (searched, after ``error: ``).
        names: the file (and ``:line``) the error must name, relative to the case's folder; ``None`` when the
            message names no file (a bad setting), in which case ``error`` says what it must name.
        check: for a success, what must hold afterwards (given the case's folder).
        changes: files of the case's folder a success may write or replace.
    """

    command: str
    name: str
    argv: list[str]
    files: dict[str, str | bytes | Callable[[Path], None]] = field(default_factory=dict)
    error: str | None = None
    names: str | None = None
    check: Callable[[Path], None] | None = None
    changes: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.command}: {self.name}"


CASES: list[Case] = []


def error(
    command: str, name: str, argv: list[str], message: str, names: str | None = None, *changes: str, **files
) -> None:
    CASES.append(Case(command, name, argv, dict(files.pop("files", {})), error=message, names=names, changes=changes))


def ok(command: str, name: str, argv: list[str], check: Callable[[Path], None], *changes: str, **files) -> None:
    CASES.append(Case(command, name, argv, dict(files.pop("files", {})), check=check, changes=changes))


def lines(*rows: object) -> str:
    return "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)


def question(number: int = 0, **changes: object) -> dict:
    row = json.loads(json.dumps(QUESTIONS[number]))
    row.update(changes)
    return row


def with_choices(choices: object, number: int = 0) -> dict:
    row = question(number)
    row["question"]["choices"] = choices
    return row


def gz(data: bytes) -> bytes:
    return gzip.compress(data)


def pickled_encoder(path: Path, places: dict[str, str]) -> None:
    """The tiny encoder as old checkpoints hold it: a pickle (``pytorch_model.bin``), no safetensors."""
    import torch
    from safetensors.torch import load_file

    path.mkdir(parents=True)
    for item in Path(places["encoder"]).iterdir():
        if item.name != "model.safetensors":
            (path / item.name).write_bytes(item.read_bytes())
    torch.save(load_file(Path(places["encoder"]) / "model.safetensors"), path / "pytorch_model.bin")


def corrupt_copy(of: str) -> Callable[[Path, dict[str, str]], None]:
    """A copy of a shared model folder whose ``model.safetensors`` is cut short."""

    def make(path: Path, places: dict[str, str]) -> None:
        path.mkdir(parents=True)
        for item in Path(places[of]).iterdir():
            (path / item.name).write_bytes(item.read_bytes())
        (path / "model.safetensors").write_bytes((path / "model.safetensors").read_bytes()[:200])

    return make


def copy_of(of: str) -> Callable[[Path, dict[str, str]], None]:
    return lambda path, places: path.write_bytes(Path(places[of]).read_bytes())


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def exists(*names: str) -> Callable[[Path], None]:
    def check(folder: Path) -> None:
        for name in names:
            assert (folder / name).exists(), name

    return check


# ------------------------------------------------------------------------------------------------ kear index

INDEX = ["index", "conceptnet"]
error("index", "dump missing", [*INDEX, "nope.csv", "--output", "out"], "no such file", "nope.csv")
error("index", "dump is a folder", [*INDEX, "dumps", "--output", "out"], "is a folder", "dumps", files={"dumps/x": ""})
error(
    "index",
    "too few columns on line 3",
    [*INDEX, "dump.csv", "--output", "out"],
    r"expected 5 tab-separated columns",
    "dump.csv:3",
    files={"dump.csv": b"\n".join([*SAMPLE["conceptnet-assertions.csv"].splitlines()[:2], b"a\tb\tc"]) + b"\n"},
)
error(
    "index",
    "truncated gzip",
    [*INDEX, "dump.csv.gz", "--output", "out"],
    "cut short",
    "dump.csv.gz",
    files={"dump.csv.gz": gz(SAMPLE["conceptnet-assertions.csv"] * 50)[:3000]},
)
error(
    "index",
    "not gzip at all, named .gz",
    [*INDEX, "dump.csv.gz", "--output", "out"],
    "not a readable gzip file",
    "dump.csv.gz",
    files={"dump.csv.gz": SAMPLE["conceptnet-assertions.csv"]},
)
error(
    "index",
    "binary garbage",
    [*INDEX, "dump.csv", "--output", "out"],
    r"columns|no ConceptNet",
    "dump.csv",
    files={"dump.csv": bytes(range(256)) * 40},
)
error(
    "index",
    "invalid JSON in the info column",
    [*INDEX, "dump.csv", "--output", "out"],
    "JSON",
    "dump.csv:1",
    files={"dump.csv": b"/a/x\t/r/AtLocation\t/c/en/milk\t/c/en/fridge\t{not json\n"},
)
error(
    "index",
    "output is an existing file",
    [*INDEX, "dump.csv", "--output", "notes.txt"],
    "is not a folder",
    "notes.txt",
    files={"dump.csv": SAMPLE["conceptnet-assertions.csv"], "notes.txt": "keep me\n"},
)
error(
    "index",
    "output is a folder of other files",
    [*INDEX, "dump.csv", "--output", "mine"],
    "holds files kear did not write",
    "mine",
    files={"dump.csv": SAMPLE["conceptnet-assertions.csv"], "mine/essay.txt": "years of work"},
)
error(
    "index",
    "output is the folder that holds the dump",
    [*INDEX, "idx/dump.csv", "--output", "idx"],
    "holds an input",
    "idx",
    files={"idx/dump.csv": SAMPLE["conceptnet-assertions.csv"], "idx/meta.json": '{"format": 1}'},
)
error(
    "index",
    "output is a device",
    [*INDEX, "dump.csv", "--output", "/dev/null"],
    "is not a folder",
    None,
    files={"dump.csv": SAMPLE["conceptnet-assertions.csv"]},
)
error(
    "index",
    "output under a file",
    [*INDEX, "dump.csv", "--output", "notes.txt/index"],
    "is not a folder",
    "notes.txt",
    files={"dump.csv": SAMPLE["conceptnet-assertions.csv"], "notes.txt": "x"},
)
ok(
    "index",
    "bad rows skipped with --skip-invalid",
    [*INDEX, "dump.csv", "--output", "out", "--skip-invalid"],
    exists("out/meta.json"),
    "out",
    files={"dump.csv": SAMPLE["conceptnet-assertions.csv"] + b"broken line\n"},
)
ok(
    "index",
    "gzip dump with CRLF line ends",
    [*INDEX, "dump.csv.gz", "--output", "out"],
    exists("out/meta.json"),
    "out",
    files={"dump.csv.gz": gz(SAMPLE["conceptnet-assertions.csv"].replace(b"\n", b"\r\n"))},
)
ok(
    "index",
    "a rebuild replaces its own index",
    [*INDEX, "dump.csv", "--output", "out"],
    exists("out/meta.json"),
    "out",
    files={"dump.csv": SAMPLE["conceptnet-assertions.csv"], "out/meta.json": '{"format": 1}'},
)
error("index", "unknown kind", ["index", "freebase", "dump.csv"], "invalid choice", None)
error("index", "conceptnet without a dump", [*INDEX], "needs the dump", None)

WIKT = ["index", "wiktionary"]
error("index", "wiktionary dump missing", [*WIKT, "k.jsonl", "--output", "out"], "no such file", "k.jsonl")
error(
    "index",
    "wiktionary invalid JSON on line 2",
    [*WIKT, "k.jsonl", "--output", "out"],
    "invalid JSON",
    "k.jsonl:2",
    files={"k.jsonl": SAMPLE["kaikki-english.jsonl"].splitlines(keepends=True)[0].decode() + "{oops\n"},
)
error(
    "index",
    "wiktionary truncated gzip",
    [*WIKT, "k.jsonl.gz", "--output", "out"],
    "cut short",
    "k.jsonl.gz",
    files={"k.jsonl.gz": gz(SAMPLE["kaikki-english.jsonl"] * 20)[:2000]},
)
error(
    "index",
    "wiktionary entry without a word",
    [*WIKT, "k.jsonl", "--output", "out"],
    "word",
    "k.jsonl:1",
    files={"k.jsonl": lines({"pos": "noun", "senses": [{"glosses": ["a thing"]}]})},
)
error(
    "index",
    "wiktionary senses not a list",
    [*WIKT, "k.jsonl", "--output", "out"],
    "senses",
    "k.jsonl:1",
    files={"k.jsonl": lines({"word": "milk", "pos": "noun", "senses": "white"})},
)
error(
    "index",
    "wiktionary line is a JSON list",
    [*WIKT, "k.jsonl", "--output", "out"],
    "object",
    "k.jsonl:1",
    files={"k.jsonl": "[1, 2, 3]\n"},
)
error(
    "index",
    "wiktionary output is the dump",
    [*WIKT, "k.jsonl", "--output", "k.jsonl"],
    "is not a folder",
    "k.jsonl",
    files={"k.jsonl": SAMPLE["kaikki-english.jsonl"]},
)
ok(
    "index",
    "wiktionary plain and gzip give the same index",
    [*WIKT, "k.jsonl.gz", "--output", "out"],
    exists("out/meta.json"),
    "out",
    files={"k.jsonl.gz": gz(SAMPLE["kaikki-english.jsonl"])},
)
error("index", "wordnet folder missing", ["index", "wordnet", "nowhere", "--output", "out"], "nowhere", None)
error(
    "index",
    "wordnet folder without its files",
    ["index", "wordnet", "wn", "--output", "out"],
    r"WordNet|index\.",
    "wn",
    files={"wn/readme.txt": "not wordnet"},
)

# --------------------------------------------------------------------------------------------- kear retrieve

RETRIEVE = [
    "retrieve",
    "--output",
    "out.jsonl",
    "conceptnet.index={conceptnet}",
    "dictionary.indexes=[{dictionary}]",
    "examples.corpora=[{sample}/train.jsonl]",
]


def retrieve(source: str, *extra: str) -> list[str]:
    return [*RETRIEVE[:3], "--input", source, *RETRIEVE[3:], *extra]


def bad_records(name: str, content: str | bytes, message: str, line: int | None, file: str = "in.jsonl") -> None:
    where = file if line is None else f"{file}:{line}"
    error("retrieve", name, retrieve(file), message, where, files={file: content})


error("retrieve", "input missing", retrieve("absent.jsonl"), "no such file", "absent.jsonl")
bad_records("empty input", "", "holds no records", None)
bad_records("blank lines only", "\n\n  \n", "holds no records", None)
bad_records("invalid JSON on line 2", lines(question(0), "{oops"), "invalid JSON", 2)
bad_records("a JSON string as a record", lines(question(0), '"just text"'), "JSON object", 2)
bad_records("a JSON list as a record", lines("[1, 2]"), "JSON object", 1)
bad_records("no question", lines({"id": "x", "choices": ["a", "b"]}), "question", 1)
bad_records("no id", lines({"question": "q?", "choices": ["a", "b"]}), "'id'", 1)
bad_records("question is a number", lines({"id": "x", "question": 5, "choices": ["a", "b"]}), "question", 1)
bad_records("empty question", lines({"id": "x", "question": "  ", "choices": ["a", "b"]}), "question", 1)
bad_records("choices not a list", lines({"id": "x", "question": "q?", "choices": "a,b"}), "choices", 1)
bad_records("one choice", lines({"id": "x", "question": "q?", "choices": ["a"]}), "at least 2 choices", 1)
bad_records("27 choices", lines({"id": "x", "question": "q?", "choices": [str(i) for i in range(27)]}), "at most 26", 1)
bad_records("a choice is a number list", lines({"id": "x", "question": "q?", "choices": [[1], [2]]}), "choice", 1)
bad_records(
    "empty choice text", lines(with_choices([{"label": "A", "text": ""}, {"label": "B", "text": "b"}])), "text", 1
)
bad_records(
    "duplicate labels",
    lines(with_choices([{"label": "A", "text": "x"}, {"label": "A", "text": "y"}])),
    "duplicate choice labels",
    1,
)
bad_records("answer not a label", lines(question(0, answerKey="Z")), "answer", 1)
bad_records("answer is true", lines({"id": "x", "question": "q?", "choices": ["a", "b"], "answer": True}), "answer", 1)
bad_records(
    "answer index out of range",
    lines({"id": "x", "question": "q?", "choices": ["a", "b"], "answer": 5}),
    "out of range",
    1,
)
bad_records(
    "question concept is a list",
    lines({"id": "x", "question": "q?", "choices": ["a", "b"], "question_concept": ["milk"]}),
    "question_concept",
    1,
)
bad_records("duplicate ids", lines(question(0), question(1, id=QUESTIONS[0]["id"])), "duplicate", 2)
bad_records("JSON nested a thousand deep", lines("[" * 1000 + "]" * 1000), r"nested|JSON object", 1)
bad_records("not UTF-8", b'{"id": "x", "question": "caf\xe9?", "choices": ["a", "b"]}\n', r"JSON|UTF", 1)
bad_records("a JSON list file cut short", "[" + json.dumps(question(0)) + ",", "invalid JSON", 1, "in.json")
bad_records("a JSON list file with a bad item", json.dumps([question(0), {"id": "y"}]), "item 2", None, "in.json")
bad_records("a JSON file that is an object", json.dumps({"records": []}), r"JSON|object", None, "in.json")
bad_records(
    "qc_meaning is a number", lines(question(0, question={**question(0)["question"], "qc_meaning": 5})), "qc_meaning", 1
)
bad_records(
    "triple is a string",
    lines(with_choices([{"label": "A", "text": "x", "triple": "x"}, {"label": "B", "text": "y"}])),
    "triple",
    1,
)
bad_records(
    "retrieval is an object",
    lines(with_choices([{"label": "A", "text": "x", "retrieval": {"a": 1}}, {"label": "B", "text": "y"}])),
    "retrieval",
    1,
)
bad_records(
    "weight is a word",
    lines(with_choices([{"label": "A", "text": "x", "weight": "heavy"}, {"label": "B", "text": "y"}])),
    "weight",
    1,
)
bad_records("truncated gzip input", gz(SAMPLE["questions.jsonl"] * 30)[:900], "cut short", None, "in.jsonl.gz")
error(
    "retrieve",
    "a parquet file that is not one",
    retrieve("in.parquet"),
    "in.parquet",
    "in.parquet",
    files={"in.parquet": "not parquet"},
)
error(
    "retrieve",
    "a folder that is not a dataset",
    retrieve("folder"),
    "folder",
    "folder",
    files={"folder/readme.txt": "x"},
)
error(
    "retrieve",
    "output is the input",
    [*retrieve("in.jsonl")[:2], "in.jsonl", *retrieve("in.jsonl")[3:]],
    "is also an input",
    "in.jsonl",
    files={"in.jsonl": SAMPLE["questions.jsonl"]},
)
error(
    "retrieve",
    "output is a training corpus",
    [
        *retrieve("in.jsonl", "examples.corpora=[in.jsonl]")[:1],
        "--output",
        "in.jsonl",
        "--input",
        "q.jsonl",
        "examples.corpora=[in.jsonl]",
        "conceptnet.index={conceptnet}",
        "dictionary.indexes=[{dictionary}]",
    ],
    "is also an input",
    "in.jsonl",
    files={"in.jsonl": SAMPLE["train.jsonl"], "q.jsonl": SAMPLE["questions.jsonl"]},
)
error(
    "retrieve",
    "output is a folder",
    [*retrieve("in.jsonl")[:2], "outdir", *retrieve("in.jsonl")[3:]],
    "is a folder",
    "outdir",
    files={"in.jsonl": SAMPLE["questions.jsonl"], "outdir/x": ""},
)
error(
    "retrieve",
    "output is /dev/null",
    [*retrieve("in.jsonl")[:2], "/dev/null", *retrieve("in.jsonl")[3:]],
    "is not a regular file",
    None,
    files={"in.jsonl": SAMPLE["questions.jsonl"]},
)
error(
    "retrieve",
    "conceptnet.index missing",
    retrieve("in.jsonl", "conceptnet.index=nowhere"),
    "nowhere",
    None,
    files={"in.jsonl": SAMPLE["questions.jsonl"]},
)
error(
    "retrieve",
    "conceptnet.index is a file",
    retrieve("in.jsonl", "conceptnet.index=in.jsonl"),
    r"in\.jsonl.*ConceptNet index",
    None,
    files={"in.jsonl": SAMPLE["questions.jsonl"]},
)
error(
    "retrieve",
    "conceptnet.index with a corrupt meta.json",
    retrieve("in.jsonl", "conceptnet.index=idx"),
    "idx",
    None,
    files={"in.jsonl": SAMPLE["questions.jsonl"], "idx/meta.json": "{not json"},
)
error(
    "retrieve",
    "dictionary.indexes a folder of other files",
    retrieve("in.jsonl", "dictionary.indexes=[stuff]"),
    "stuff",
    None,
    files={"in.jsonl": SAMPLE["questions.jsonl"], "stuff/a.txt": "x"},
)
error(
    "retrieve",
    "corpus missing",
    retrieve("in.jsonl", "examples.corpora=[gone.jsonl]"),
    "gone.jsonl",
    None,
    files={"in.jsonl": SAMPLE["questions.jsonl"]},
)
error(
    "retrieve",
    "corpus empty",
    retrieve("in.jsonl", "examples.corpora=[empty.jsonl]"),
    "empty.jsonl",
    None,
    files={"in.jsonl": SAMPLE["questions.jsonl"], "empty.jsonl": ""},
)
error(
    "retrieve",
    "corpus without answers",
    retrieve("in.jsonl", "examples.corpora=[noans.jsonl]"),
    "noans.jsonl",
    None,
    files={
        "in.jsonl": SAMPLE["questions.jsonl"],
        "noans.jsonl": lines(*[{k: v for k, v in q.items() if k != "answerKey"} for q in QUESTIONS]),
    },
)
error(
    "retrieve",
    "unknown source",
    retrieve("in.jsonl", "--sources", "conceptnet,wiki"),
    "unknown knowledge source",
    None,
    files={"in.jsonl": SAMPLE["questions.jsonl"]},
)
error(
    "retrieve",
    "unknown setting",
    retrieve("in.jsonl", "conceptnet.indx=x"),
    "indx",
    None,
    files={"in.jsonl": SAMPLE["questions.jsonl"]},
)
error(
    "retrieve",
    "setting of the wrong type",
    retrieve("in.jsonl", "examples.top_k=many"),
    "top_k",
    None,
    files={"in.jsonl": SAMPLE["questions.jsonl"]},
)
error(
    "retrieve",
    "top_k of zero",
    retrieve("in.jsonl", "examples.top_k=0"),
    "top_k",
    None,
    files={"in.jsonl": SAMPLE["questions.jsonl"]},
)
error(
    "retrieve",
    "override without =",
    retrieve("in.jsonl", "conceptnet.index"),
    "key=value",
    None,
    files={"in.jsonl": SAMPLE["questions.jsonl"]},
)
error(
    "retrieve",
    "override of malformed YAML",
    retrieve("in.jsonl", "examples.corpora=[a, b"),
    "invalid YAML",
    None,
    files={"in.jsonl": SAMPLE["questions.jsonl"]},
)
error(
    "retrieve",
    "config file missing",
    [*retrieve("in.jsonl"), "--config", "nope.yaml"],
    "no such settings file",
    "nope.yaml",
    files={"in.jsonl": SAMPLE["questions.jsonl"]},
)
error(
    "retrieve",
    "config of invalid YAML",
    [*retrieve("in.jsonl"), "--config", "c.yaml"],
    "invalid YAML",
    "c.yaml",
    files={"in.jsonl": SAMPLE["questions.jsonl"], "c.yaml": "conceptnet: [unclosed\n"},
)
error(
    "retrieve",
    "config that is a list",
    [*retrieve("in.jsonl"), "--config", "c.yaml"],
    "mapping",
    "c.yaml",
    files={"in.jsonl": SAMPLE["questions.jsonl"], "c.yaml": "- a\n- b\n"},
)
error(
    "retrieve",
    "config with an unknown key",
    [*retrieve("in.jsonl"), "--config", "c.yaml"],
    "nope",
    "c.yaml",
    files={"in.jsonl": SAMPLE["questions.jsonl"], "c.yaml": "nope: 1\n"},
)
error(
    "retrieve",
    "config with a self-referential alias",
    [*retrieve("in.jsonl"), "--config", "c.yaml"],
    "alias",
    "c.yaml",
    files={"in.jsonl": SAMPLE["questions.jsonl"], "c.yaml": "conceptnet: &a\n  relations: *a\n"},
)
error(
    "retrieve",
    "config that is an alias bomb",
    [*retrieve("in.jsonl"), "--config", "c.yaml"],
    "alias",
    "c.yaml",
    files={
        "in.jsonl": SAMPLE["questions.jsonl"],
        "c.yaml": "a: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)},"
            f" *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
            for i in range(8)
        ),
    },
)
error(
    "retrieve",
    "config that is binary",
    [*retrieve("in.jsonl"), "--config", "c.yaml"],
    "c.yaml",
    "c.yaml",
    files={"in.jsonl": SAMPLE["questions.jsonl"], "c.yaml": bytes(range(256))},
)
error(
    "retrieve",
    "cache_dir is a file",
    retrieve("in.jsonl", "cache_dir=in.jsonl"),
    "in.jsonl",
    None,
    files={"in.jsonl": SAMPLE["questions.jsonl"]},
)
error("retrieve", "stdin of invalid JSON", [*retrieve("-")], "invalid JSON", "<stdin>:1")
ok(
    "retrieve",
    "answerKey a number with number labels",
    retrieve("in.jsonl", "--sources", "conceptnet"),
    lambda f: [r["answerKey"] for r in read_jsonl(f / "out.jsonl")] == ["1"] or pytest.fail("answer read as index"),
    "out.jsonl",
    files={
        "in.jsonl": lines(
            {
                "id": "x",
                "answerKey": 1,
                "question": {
                    "stem": "q?",
                    "choices": [{"label": "1", "text": "milk"}, {"label": "2", "text": "attic"}],
                },
            }
        )
    },
)
ok(
    "retrieve",
    "a 2 MB choice is cut, not chewed on",
    retrieve("in.jsonl"),
    lambda f: (
        max(len(c["text"]) for c in read_jsonl(f / "out.jsonl")[0]["question"]["choices"]) < 100_000
        or pytest.fail("not cut")
    ),
    "out.jsonl",
    files={"in.jsonl": lines(with_choices([{"label": "A", "text": "milk " * 400_000}, {"label": "B", "text": "x"}]))},
)
ok(
    "retrieve",
    "a 1,200-word choice",
    retrieve("in.jsonl"),
    exists("out.jsonl"),
    "out.jsonl",
    files={
        "in.jsonl": lines(
            with_choices([{"label": "A", "text": " ".join(["word"] * 1200)}, {"label": "B", "text": "attic"}])
        )
    },
)
ok(
    "retrieve",
    "output replaces an earlier output",
    retrieve("in.jsonl"),
    lambda f: len(read_jsonl(f / "out.jsonl")) == 12 or pytest.fail("not replaced"),
    "out.jsonl",
    files={"in.jsonl": SAMPLE["questions.jsonl"], "out.jsonl": "old\n"},
)
ok(
    "retrieve",
    "duplicate ids skipped with --skip-invalid",
    retrieve("in.jsonl", "--skip-invalid"),
    lambda f: len(read_jsonl(f / "out.jsonl")) == 1 or pytest.fail("duplicate kept"),
    "out.jsonl",
    files={"in.jsonl": lines(question(0), question(0))},
)
ok(
    "retrieve",
    "a UTF-8 byte order mark",
    retrieve("in.jsonl"),
    exists("out.jsonl"),
    "out.jsonl",
    files={"in.jsonl": b"\xef\xbb\xbf" + SAMPLE["questions.jsonl"]},
)

# ------------------------------------------------------------------------------------------------ kear train

TRAIN = [
    "train",
    "model.name_or_path={encoder}",
    "data.train=train.jsonl",
    "training.output_dir=run",
    "inputs.max_length=48",
    "training.max_steps=1",
    "training.batch_size=4",
]
TRAIN_FILES = {"train.jsonl": SAMPLE["questions.jsonl"]}


def bad_train(name: str, extra: list[str], message: str, names: str | None = None, **files) -> None:
    error("train", name, [*TRAIN, *extra], message, names, files={**TRAIN_FILES, **files})


error("train", "no training data", ["train", "model.name_or_path={encoder}"], "data.train is not set", None)
bad_train("training data missing", ["data.train=gone.jsonl"], "no such file", "gone.jsonl")
bad_train("training data empty", ["data.train=empty.jsonl"], "holds no records", "empty.jsonl", **{"empty.jsonl": ""})
bad_train(
    "training data invalid on line 2",
    ["data.train=bad.jsonl"],
    "invalid JSON",
    "bad.jsonl:2",
    **{"bad.jsonl": lines(question(0), "{oops")},
)
bad_train("dev data invalid", ["data.dev=bad.jsonl"], "invalid JSON", "bad.jsonl:1", **{"bad.jsonl": "{oops\n"})
bad_train("wrong number of choices", ["data.num_choices=4"], "expected 4 choices", "train.jsonl:1")
bad_train("num_choices of 1", ["data.num_choices=1"], "num_choices", None)
bad_train("unknown key", ["training.epoch=3"], "epoch", None)
bad_train("epochs not a number", ["training.epochs=many"], "epochs", None)
bad_train("logging_steps zero", ["training.logging_steps=0"], "logging_steps", None)
bad_train("negative learning rate", ["training.learning_rate=-1e-5"], "learning_rate", None)
bad_train("learning rate NaN", ["training.learning_rate=nan"], "learning_rate", None)
bad_train("learning rate infinite", ["training.learning_rate=inf"], "learning_rate", None)
bad_train("batch size zero", ["training.batch_size=0"], "batch_size", None)
bad_train("epochs negative", ["training.epochs=-1", "training.max_steps=null"], "epochs", None)
bad_train("max_steps zero", ["training.max_steps=0"], "max_steps", None)
bad_train("unknown scheduler", ["training.scheduler=zigzag"], "scheduler", None)
bad_train("unknown precision", ["training.mixed_precision=fp12"], "mixed_precision", None)
bad_train("max length of a billion", ["inputs.max_length=1000000000"], "max_length", None)
bad_train("max length of two", ["inputs.max_length=2"], "max_length", None)
bad_train("warmup ratio above one", ["training.warmup_ratio=2"], "warmup_ratio", None)
bad_train("dropout of one", ["model.classifier_dropout=1.0"], "classifier_dropout", None)
bad_train("unknown knowledge segment", ["inputs.knowledge=[wikipedia]"], "knowledge", None)
bad_train("unknown head", ["model.head=nope"], "unknown head", None)
bad_train("unknown head setting", ["model.head=eanet", "model.head_settings={{slotz: 4}}"], "slotz", None)
bad_train("unknown tracker", ["training.report_to=[nope]"], "report_to", None)
bad_train("LoRA of rank zero", ["lora.enabled=true", "lora.r=0"], "lora.r", None)
bad_train("encoder folder missing", ["model.name_or_path=./no/such/encoder"], "no/such/encoder", None)
bad_train(
    "encoder folder holds only a pickle",
    ["model.name_or_path=pickled"],
    r"pickle|safetensors",
    None,
    pickled=pickled_encoder,
)
bad_train(
    "encoder folder with corrupt safetensors",
    ["model.name_or_path=corrupt"],
    r"corrupt|safetensors",
    None,
    corrupt=corrupt_copy("encoder"),
)
bad_train(
    "encoder that needs remote code",
    ["model.name_or_path=remote"],
    r"remote code|trust_remote_code",
    None,
    **{"remote/config.json": json.dumps({"model_type": "brand-new", "auto_map": {"AutoModel": "m.Model"}})},
)
bad_train("output_dir is a file", ["training.output_dir=notes.txt"], "not a folder", None, **{"notes.txt": "x"})
bad_train(
    "output_dir of other files",
    ["training.output_dir=mine"],
    "holds files kear did not write",
    None,
    **{"mine/essay.txt": "years of work"},
)
bad_train("config file missing", ["--config", "nope.yaml"], "no such settings file", "nope.yaml")
bad_train("config of a scalar", ["--config", "c.yaml"], "mapping", "c.yaml", **{"c.yaml": "42\n"})
bad_train(
    "config with a tab indent",
    ["--config", "c.yaml"],
    "invalid YAML",
    "c.yaml",
    **{"c.yaml": "training:\n\tepochs: 1\n"},
)
bad_train(
    "data.retrieve with no index",
    ["data.retrieve=true", "data.train=raw.jsonl"],
    r"conceptnet.index|index",
    None,
    **{"raw.jsonl": SAMPLE["questions.jsonl"]},
)

# --------------------------------------------------------------------------------------------- kear evaluate

EVALUATE = ["evaluate", "--model", "{model}", "--input", "in.jsonl", "--output", "out.jsonl"]
EVAL_FILES = {"in.jsonl": SAMPLE["questions.jsonl"]}
error("evaluate", "model folder missing", [*EVALUATE[:2], "gone", *EVALUATE[3:]], "gone", None, files=EVAL_FILES)
error(
    "evaluate",
    "an encoder folder, not a kear model",
    [*EVALUATE[:2], "{encoder}", *EVALUATE[3:]],
    "not a kear model folder",
    None,
    files=EVAL_FILES,
)
error("evaluate", "input missing", [*EVALUATE[:4], "gone.jsonl", *EVALUATE[5:]], "no such file", "gone.jsonl")
error("evaluate", "input empty", EVALUATE, "holds no records", "in.jsonl", files={"in.jsonl": ""})
error(
    "evaluate",
    "input invalid on line 3",
    EVALUATE,
    "invalid JSON",
    "in.jsonl:3",
    files={"in.jsonl": lines(question(0), question(1), "{oops")},
)
error("evaluate", "output is the input", [*EVALUATE[:6], "in.jsonl"], "is also an input", "in.jsonl", files=EVAL_FILES)
error(
    "evaluate",
    "output is a folder",
    [*EVALUATE[:6], "outdir"],
    "is a folder",
    "outdir",
    files={**EVAL_FILES, "outdir/x": ""},
)
error(
    "evaluate",
    "records without knowledge and no index",
    EVALUATE,
    "lack knowledge the model uses",
    None,
    files=EVAL_FILES,
)
error("evaluate", "batch size zero", [*EVALUATE, "--batch-size", "0"], "batch-size", None, files=EVAL_FILES)
error("evaluate", "batch size not a number", [*EVALUATE, "--batch-size", "lots"], "batch-size", None, files=EVAL_FILES)
error("evaluate", "unknown retrieval setting", [*EVALUATE, "conceptnet.nope=1"], "nope", None, files=EVAL_FILES)
error(
    "evaluate",
    "model folder with a corrupt config.json",
    [*EVALUATE[:2], "broken", *EVALUATE[3:]],
    "broken",
    None,
    files={**EVAL_FILES, "broken/config.json": "{not json", "broken/model.safetensors": b"x"},
)

# ---------------------------------------------------------------------------------------------- kear predict

PREDICT = ["predict", "--model", "{model}", "--input", "in.jsonl", "--output", "out.jsonl"]
KNOWLEDGE = {"in.jsonl": copy_of("knowledge")}  # the sample questions with their knowledge
error("predict", "model folder missing", [*PREDICT[:2], "./gone", *PREDICT[3:]], "gone", None, files=KNOWLEDGE)
error(
    "predict",
    "model folder without weights",
    [*PREDICT[:2], "m", *PREDICT[3:]],
    "missing model.safetensors",
    None,
    files={**KNOWLEDGE, "m/config.json": "{}"},
)
error(
    "predict",
    "model weights corrupt",
    [*PREDICT[:2], "m", *PREDICT[3:]],
    r"corrupt|safetensors",
    None,
    files={**KNOWLEDGE, "m": corrupt_copy("model")},
)
error(
    "predict",
    "input invalid on line 2",
    PREDICT,
    "invalid JSON",
    "in.jsonl:2",
    "out.jsonl",  # the predictions of the lines before it stay, to continue after (kear predict resumes)
    ".out.jsonl.kear.json",
    files={
        "in.jsonl": lambda path, places: path.write_text(
            Path(places["knowledge"]).read_text().splitlines()[0] + "\n{oops\n"
        )
    },
)
error("predict", "input empty", PREDICT, "holds no records", "in.jsonl", files={"in.jsonl": ""})
error("predict", "output is the input", [*PREDICT[:6], "in.jsonl"], "is also an input", "in.jsonl", files=KNOWLEDGE)
error("predict", "output is /dev/null", [*PREDICT[:6], "/dev/null"], "is not a regular file", None, files=KNOWLEDGE)
error(
    "predict",
    "output is an unrelated file",
    PREDICT,
    "kear has no record of writing it",
    "out.jsonl",
    files={**KNOWLEDGE, "out.jsonl": "first line\nlast line without newline"},
)
error(
    "predict",
    "output is a folder",
    [*PREDICT[:6], "outdir"],
    "is a folder",
    "outdir",
    files={**KNOWLEDGE, "outdir/x": ""},
)
error(
    "predict",
    "output is a symbolic link",
    PREDICT,
    "symbolic link",
    "out.jsonl",
    files={**KNOWLEDGE, "target.jsonl": "", "out.jsonl": lambda p, _: p.symlink_to(p.with_name("target.jsonl"))},
)
error("predict", "batch size negative", [*PREDICT, "--batch-size", "-3"], "batch-size", None, files=KNOWLEDGE)
error(
    "predict",
    "raw records and the index not here",
    [*PREDICT, "conceptnet.index=gone"],
    "gone",
    None,
    files={"in.jsonl": SAMPLE["questions.jsonl"]},
)
error(
    "predict", "an override that is not a setting", [*PREDICT, "batch_size=lots"], "batch_size", None, files=KNOWLEDGE
)


def finished_predict(path: Path, places: dict[str, str]) -> None:
    """A first run of PREDICT, finished, in the case's folder (the current directory)."""
    assert main([*_argv(PREDICT, path.parent, places), "--no-progress"]) == 0


ok(
    "predict",
    "output replaced when asked",
    [*PREDICT, "--overwrite"],
    lambda f: len(read_jsonl(f / "out.jsonl")) == 12 or pytest.fail("not replaced"),
    "out.jsonl",
    ".out.jsonl.kear.json",
    files={**KNOWLEDGE, "out.jsonl": "someone's notes\n"},
)
ok(
    "predict",
    "a second run continues and adds nothing",
    PREDICT,
    lambda f: len(read_jsonl(f / "out.jsonl")) == 12 or pytest.fail("lines doubled"),
    "out.jsonl",
    ".out.jsonl.kear.json",
    files={**KNOWLEDGE, "first run": finished_predict},
)

# --------------------------------------------------------------------------------------------- kear ensemble

PRED = {"id": "q1", "labels": ["A", "B"], "scores": [0.0, -1.0], "answer": "A"}


def members(*rows: dict, second: list[dict] | None = None) -> dict:
    return {"a.jsonl": lines(*rows), "b.jsonl": lines(*(second or rows))}


ENSEMBLE = ["ensemble", "a.jsonl", "b.jsonl", "--output", "e.jsonl"]
error(
    "ensemble", "one member", ["ensemble", "a.jsonl", "--output", "e.jsonl"], "at least two", None, files=members(PRED)
)
error(
    "ensemble",
    "member missing",
    ["ensemble", "a.jsonl", "gone.jsonl", "--output", "e.jsonl"],
    "no such file",
    "gone.jsonl",
    files=members(PRED),
)
error("ensemble", "member invalid JSON", ENSEMBLE, "invalid JSON", "b.jsonl:1", files=members(PRED, second=["{oops"]))  # type: ignore[list-item]
error(
    "ensemble",
    "member without scores",
    ENSEMBLE,
    "scores",
    "b.jsonl:1",
    files=members(PRED, second=[{"id": "q1", "labels": ["A", "B"]}]),
)
error(
    "ensemble",
    "scores of the wrong length",
    ENSEMBLE,
    "same length",
    "b.jsonl:1",
    files=members(PRED, second=[{**PRED, "scores": [0.0]}]),
)
error(
    "ensemble",
    "a NaN score (not JSON)",
    ENSEMBLE,
    "invalid JSON",
    "b.jsonl:1",
    files=members(PRED, second=[{**PRED, "scores": [0.0, float("nan")]}]),
)
error(
    "ensemble",
    "a score of 1e999 (infinite)",
    ENSEMBLE,
    "invalid JSON",
    "b.jsonl:1",
    files={"a.jsonl": lines(PRED), "b.jsonl": '{"id": "q1", "labels": ["A", "B"], "scores": [0, 1e999]}\n'},
)
error(
    "ensemble",
    "a score that is the text nan",
    ENSEMBLE,
    "finite numbers",
    "b.jsonl:1",
    files=members(PRED, second=[{**PRED, "scores": [0.0, "nan"]}]),
)
error(
    "ensemble",
    "a line that is a list",
    ENSEMBLE,
    "JSON object",
    "b.jsonl:1",
    files={"a.jsonl": lines(PRED), "b.jsonl": "[1, 2]\n"},
)
error(
    "ensemble",
    "a score that is a word",
    ENSEMBLE,
    "finite numbers",
    "b.jsonl:1",
    files=members(PRED, second=[{**PRED, "scores": [0.0, "high"]}]),
)
error(
    "ensemble",
    "answer not a label",
    ENSEMBLE,
    "answer",
    "b.jsonl:1",
    files=members(PRED, second=[{**PRED, "answer": "Z"}]),
)
error(
    "ensemble",
    "members of other records",
    ENSEMBLE,
    "score different records",
    None,
    files=members(PRED, second=[{**PRED, "id": "q9"}]),
)
error(
    "ensemble",
    "members with other labels",
    ENSEMBLE,
    "has labels",
    None,
    files=members(PRED, second=[{**PRED, "labels": ["X", "Y"], "answer": "X"}]),
)
error("ensemble", "duplicate ids in a member", ENSEMBLE, "duplicate", "a.jsonl:2", files=members(PRED, PRED))
error(
    "ensemble",
    "an empty member",
    ENSEMBLE,
    r"no predictions|holds no",
    "a.jsonl",
    files={"a.jsonl": "", "b.jsonl": lines(PRED)},
)
error("ensemble", "weighted without dev", [*ENSEMBLE, "--method", "weighted"], "needs --dev", None, files=members(PRED))
error(
    "ensemble",
    "dev files for another method",
    [*ENSEMBLE, "--dev", "a.jsonl", "b.jsonl"],
    "--dev is for",
    None,
    files=members(PRED),
)
error(
    "ensemble",
    "dev files one short",
    [*ENSEMBLE, "--method", "weighted", "--dev", "a.jsonl"],
    "development files for 2 members",
    None,
    files=members(PRED),
)
error(
    "ensemble",
    "output is a member",
    ["ensemble", "a.jsonl", "b.jsonl", "--output", "a.jsonl"],
    "is also an input",
    "a.jsonl",
    files=members(PRED),
)
error("ensemble", "no output", ["ensemble", "a.jsonl", "b.jsonl"], "--output", None, files=members(PRED))
error("ensemble", "unknown method", [*ENSEMBLE, "--method", "median"], "invalid choice", None, files=members(PRED))
error(
    "ensemble",
    "models without input",
    ["ensemble", "--models", "{model}", "{model}", "--output", "e.jsonl"],
    "--models needs --input",
    None,
)
ok(
    "ensemble",
    "raw logits from another tool",
    ENSEMBLE,
    lambda f: abs(sum(read_jsonl(f / "e.jsonl")[0]["probabilities"]) - 1) < 1e-9 or pytest.fail("not normalised"),
    "e.jsonl",
    files=members({**PRED, "scores": [12.0, 3.0]}),
)

# ------------------------------------------------------------------------------------------------ kear push

PUSH = ["push", "{model}", "someone/kear-x", "--dry-run", "up"]
error("push", "model folder missing", ["push", "gone", "someone/x", "--dry-run", "up"], "gone", None)
error(
    "push",
    "not a kear model folder",
    ["push", "plain", "someone/x", "--dry-run", "up"],
    "not a kear model folder",
    None,
    files={"plain/readme.txt": "x"},
)
error(
    "push", "dry run into a file", [*PUSH[:4], "notes.txt"], "is not a folder", "notes.txt", files={"notes.txt": "keep"}
)
error(
    "push",
    "dry run into other files",
    [*PUSH[:4], "mine"],
    "holds files kear did not write",
    "mine",
    files={"mine/essay.txt": "keep"},
)
error("push", "dry run into the model folder", [*PUSH[:4], "{model}"], "holds files kear did not write", None)
error("push", "a repository id of three parts", ["push", "{model}", "a/b/c"], r"repository id|repo id|a/b/c", None)
error("push", "offline, for real", ["push", "{model}", "someone/kear-x"], "cannot push to the Hub", None)
ok(
    "push",
    "a dry run replaces its own folder",
    PUSH,
    exists("up/README.md"),
    "up",
    files={"up/README.md": "old card", "up/config.json": json.dumps({"model_type": "kear"})},
)

# ------------------------------------------------------------------------------- found by a hostile tester


def model_copy(edit: Callable[[dict], None] | None = None, drop: tuple[str, ...] = ()) -> Callable:
    """A copy of the trained model folder, its config.json edited (or files left out)."""

    def make(path: Path, places: dict[str, str]) -> None:
        path.mkdir(parents=True)
        for item in Path(places["model"]).iterdir():
            if item.name not in drop:
                (path / item.name).write_bytes(item.read_bytes())
        if edit is not None:
            config = json.loads((path / "config.json").read_text())
            edit(config)
            (path / "config.json").write_text(json.dumps(config))

    return make


def folder_copy(of: str) -> Callable:
    def make(path: Path, places: dict[str, str]) -> None:
        path.mkdir(parents=True)
        for item in Path(places[of]).iterdir():
            (path / item.name).write_bytes(item.read_bytes())

    return make


error(
    "retrieve",
    "output inside the ConceptNet index",
    [
        *retrieve("in.jsonl", "conceptnet.index=conceptnet")[:2],
        "conceptnet/meta.json",
        *retrieve("in.jsonl", "conceptnet.index=conceptnet")[3:],
    ],
    "is inside an input folder",
    "conceptnet/meta.json",
    files={"in.jsonl": SAMPLE["questions.jsonl"], "conceptnet": folder_copy("conceptnet")},
)
error(
    "retrieve",
    "output is the retrieval cache",
    [
        *retrieve("in.jsonl", "cache_dir=cache")[:2],
        "cache/retrieval.sqlite",
        *retrieve("in.jsonl", "cache_dir=cache")[3:],
    ],
    "is also an input",
    "cache/retrieval.sqlite",
    files={"in.jsonl": SAMPLE["questions.jsonl"], "cache/retrieval.sqlite": b"x"},
)
error(
    "evaluate",
    "output inside the model folder",
    [*EVALUATE[:2], "m", *EVALUATE[3:6], "m/config.json"],
    "is inside an input folder",
    "m/config.json",
    files={**EVAL_FILES, "m": model_copy()},
)
error(
    "ensemble",
    "output inside a member model",
    ["ensemble", "--models", "m", "m", "--input", "in.jsonl", "--output", "m/config.json"],
    "is inside an input folder",
    "m/config.json",
    files={"in.jsonl": copy_of("knowledge"), "m": model_copy()},
)
error(
    "predict",
    "overwrite into the model's weights",
    [*PREDICT[:2], "m", *PREDICT[3:6], "m/model.safetensors", "--overwrite"],
    "is inside an input folder",
    "m/model.safetensors",
    files={**KNOWLEDGE, "m": model_copy()},
)
error("predict", "output named as a folder", [*PREDICT[:6], "newdir/"], "names a folder", "newdir/", files=KNOWLEDGE)
error(
    "retrieve",
    "a failed run leaves no folders made for its output",
    [*retrieve("bad.jsonl")[:2], "new/deep/o.jsonl", *retrieve("bad.jsonl")[3:]],
    "invalid JSON",
    "bad.jsonl:1",
    files={"bad.jsonl": "{oops\n"},
)
error(
    "train",
    "training data inside output_dir/best",
    [*TRAIN[:2], "data.train=run/best/t.jsonl", *TRAIN[3:]],
    "holds run/best/t.jsonl",
    None,
    files={"run/train_config.yaml": "{}", "run/best/t.jsonl": SAMPLE["questions.jsonl"]},
)
bad_train("a kear model as the encoder", ["model.name_or_path={model}"], "is a kear model, not a pretrained encoder")
error(
    "evaluate",
    "a config asking for more layers than the weights hold",
    [*EVALUATE[:2], "m", *EVALUATE[3:]],
    "weights lack",
    None,
    files={**EVAL_FILES, "m": model_copy(lambda c: c["encoder"].update(num_hidden_layers=4))},
)
error(
    "evaluate",
    "a config of another hidden size than the weights",
    [*EVALUATE[:2], "m", *EVALUATE[3:]],
    r"sizes|m",
    None,
    files={**EVAL_FILES, "m": model_copy(lambda c: c["encoder"].update(hidden_size=64))},
)
error(
    "evaluate",
    "a saved max_length beyond the encoder's positions",
    [*EVALUATE[:2], "m", *EVALUATE[3:]],
    "max_length",
    None,
    files={**EVAL_FILES, "m": model_copy(lambda c: c["inputs"].update(max_length=1024))},
)
error(
    "evaluate",
    "a tokenizer.json of the wrong shape",
    [*EVALUATE[:2], "m", *EVALUATE[3:]],
    "tokenizer",
    None,
    files={**EVAL_FILES, "m": model_copy(), "m/tokenizer.json": '{"version": "1.0", "garbage": true}'},
)
error(
    "evaluate",
    "a model folder without a tokenizer",
    [*EVALUATE[:2], "m", *EVALUATE[3:]],
    "no tokenizer",
    None,
    files={**EVAL_FILES, "m": model_copy(drop=("tokenizer.json", "tokenizer_config.json", "spm.model"))},
)
error(
    "index",
    "conceptnet over a dictionary index",
    [*INDEX, "dump.csv", "--output", "dx"],
    "another kind of kear index",
    "dx",
    files={"dump.csv": SAMPLE["conceptnet-assertions.csv"], "dx": folder_copy("dictionary")},
)
error("retrieve", "input is /dev/null", retrieve("/dev/null"), "holds no records", "/dev/null")
error(
    "retrieve",
    "input is a named pipe with nothing in it",
    retrieve("fifo"),
    "holds no records",
    "fifo",
    files={"fifo": lambda p, _: _fifo_with(p, b"")},
)
error(
    "retrieve",
    "a settings file with a key twice",
    [*retrieve("in.jsonl"), "--config", "c.yaml"],
    "duplicate key",
    "c.yaml:3",
    files={"in.jsonl": SAMPLE["questions.jsonl"], "c.yaml": "examples:\n  top_k: 1\n  top_k: 2\n"},
)
error(
    "retrieve",
    "relations none of which the index has",
    retrieve("in.jsonl", "conceptnet.relations=[NotARelation]"),
    "conceptnet.relations",
    None,
    files={"in.jsonl": SAMPLE["questions.jsonl"]},
)
error(
    "retrieve",
    "--sources empty",
    [*retrieve("in.jsonl"), "--sources", ""],
    "--sources",
    None,
    files={"in.jsonl": SAMPLE["questions.jsonl"]},
)
error(
    "retrieve",
    "--sources with a source twice",
    [*retrieve("in.jsonl"), "--sources", "conceptnet,conceptnet"],
    "--sources",
    None,
    files={"in.jsonl": SAMPLE["questions.jsonl"]},
)
error(
    "ensemble",
    "members that disagree on the answer",
    ENSEMBLE,
    "has answer B",
    None,
    files=members(PRED, second=[{**PRED, "answer": "B"}]),
)


def _fifo_with(path: Path, data: bytes) -> None:
    """A named pipe that a writer thread fills with ``data`` once a reader opens it."""
    import os
    import threading

    os.mkfifo(path)

    def feed() -> None:
        with open(path, "wb") as pipe:
            pipe.write(data)

    threading.Thread(target=feed, daemon=True).start()


# ------------------------------------------------------------------------------------------------ kear demo

DEMO = ["demo", "--workdir", "work", "model={encoder}", "epochs=1", "seeds=[1]", "max_length=48"]
error("demo", "unknown setting", [*DEMO, "epoch=1"], "epoch", None)
error("demo", "no seeds", [*DEMO, "seeds=[]"], "seeds", None)
error("demo", "zero epochs", [*DEMO, "epochs=0"], "epochs", None)
error(
    "demo",
    "workdir is a file",
    [*DEMO[:2], "notes.txt", *DEMO[3:]],
    "is not a folder",
    "notes.txt",
    files={"notes.txt": "keep"},
)
error(
    "demo",
    "workdir of other files",
    [*DEMO[:2], "mine", *DEMO[3:]],
    "holds files kear did not write",
    "mine",
    files={"mine/train.knowledge.jsonl": "mine"},
)
error("demo", "model missing", [*DEMO, "model=./gone"], "gone", None)

# -------------------------------------------------------------------------------------------------- the runs


def test_the_corpus_covers_every_subcommand_and_is_large() -> None:
    counts = Counter(case.command for case in CASES)
    assert set(counts) == {"index", "retrieve", "train", "evaluate", "predict", "ensemble", "push", "demo"}
    assert len(CASES) >= 150, len(CASES)
    assert len({case.id for case in CASES}) == len(CASES)


def snapshot(*folders: Path) -> dict[str, str]:
    out = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def places(trained_model, tiny_deberta, sample_indexes, sample_knowledge) -> dict[str, str]:
    return {
        "model": str(trained_model),
        "encoder": str(tiny_deberta),
        "conceptnet": str(sample_indexes["conceptnet"]),
        "dictionary": str(sample_indexes["dictionary"]),
        "sample": str(sample_file("questions.jsonl").parent),
        "knowledge": str(sample_knowledge),
    }


def _make(folder: Path, files: dict, places: dict[str, str]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path, places)
        else:
            path.write_bytes(content if isinstance(content, bytes) else content.encode())


def _argv(argv: list[str], folder: Path, places: dict[str, str]) -> list[str]:
    return [part.format(here=folder, **places) for part in argv]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_hostile_input(case: Case, places, tmp_path: Path, monkeypatch, capsys) -> None:
    folder = tmp_path / "case"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("KEAR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("sys.stdin", _Stdin(b"{not json\n"))
    _make(folder, case.files, places)
    shared = [Path(places[k]) for k in ("model", "encoder", "conceptnet", "dictionary")]
    before = snapshot(folder, *shared)
    capsys.readouterr()
    try:
        status = main([*_argv(case.argv, folder, places), *(["--no-progress"] if case.command != "push" else [])])
    except SystemExit as stop:  # argparse
        status = stop.code
    err = capsys.readouterr().err
    after = snapshot(folder, *shared)
    errors = [line for line in err.splitlines() if re.match(r"kear( \w+)?: error: ", line)]
    assert "Traceback" not in err
    if case.error is not None:
        assert status not in (0, None), f"succeeded: {err[-500:]}"
        assert len(errors) == 1, err[-2000:]
        message = errors[0].split("error: ", 1)[1]
        assert re.search(case.error, message), message
        if case.names is not None:
            assert case.names in message, message
        # nothing changed, nothing added (a failure leaves no litter either), but for what the case says it may
        # write before the failure (the lines kear predict keeps, to continue after)
        new = {path for path in after.keys() - before.keys() if not _declared(path, folder, case.changes)}
        assert {path: after.get(path) for path in before} == before and not new, (new, before.keys() - after.keys())
    else:
        assert status == 0, err[-2000:]
        assert not errors, err[-2000:]
        case.check(folder)
        kept = {path: digest for path, digest in before.items() if not _declared(path, folder, case.changes)}
        assert {path: after.get(path) for path in kept} == kept


def _declared(path: str, folder: Path, changes: tuple[str, ...]) -> bool:
    return any(path == str(folder / name) or path.startswith(f"{folder / name}/") for name in changes)


class _Stdin:
    """Standard input holding some bytes, as ``sys.stdin`` (for ``--input -``)."""

    def __init__(self, data: bytes) -> None:
        import io

        self.buffer = io.BytesIO(data)
