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
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kear.cli import main
from retrieval.data import sample_file
from retrieval.records import read_records, write_records
from tests.conftest import snapshot

SAMPLE = {name: sample_file(name).read_bytes() for name in ("questions.jsonl", "train.jsonl")}
SAMPLE["conceptnet-assertions.csv"] = sample_file("conceptnet-assertions.csv").read_bytes()
SAMPLE["kaikki-english.jsonl"] = sample_file("kaikki-english.jsonl").read_bytes()
QUESTIONS = [json.loads(line) for line in SAMPLE["questions.jsonl"].splitlines()]

# the files a case makes in its folder first: text, bytes, or a function given the path and the shared places
Files = dict[str, str | bytes | Callable[[Path, dict[str, str]], None]]


@dataclass
class Case:
    """One hostile input.

    Args:
        command: the subcommand (for the count in docs/reliability.md).
        name: what is odd about the input.
        argv: the command line after ``kear``; ``{model}``, ``{encoder}``, ``{conceptnet}``, ``{dictionary}``,
            ``{here}`` and ``{sample}`` stand for the trained tiny model, the tiny encoder, the sample indexes, the
            case's folder and the bundled sample folder.
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
    files: Files = field(default_factory=dict)
    error: str | None = None
    names: str | None = None
    check: Callable[[Path], None] | None = None
    changes: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.command}: {self.name}"


CASES: list[Case] = []


def error(
    command: str,
    name: str,
    argv: list[str],
    message: str,
    names: str | None = None,
    *changes: str,
    files: Files | None = None,
) -> None:
    """An error case (see :class:`Case`); ``changes`` are the files it may leave written before the error."""
    CASES.append(Case(command, name, argv, dict(files or {}), error=message, names=names, changes=changes))


def ok(
    command: str, name: str, argv: list[str], check: Callable[[Path], None], *changes: str, files: Files | None = None
) -> None:
    """A success case (see :class:`Case`)."""
    CASES.append(Case(command, name, argv, dict(files or {}), check=check, changes=changes))


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


def copy_folder(of: str, path: Path, places: dict[str, str], drop: tuple[str, ...] = ()) -> None:
    """Copy the shared folder ``places[of]`` to ``path``, but for the files named in ``drop``."""
    path.mkdir(parents=True)
    for item in Path(places[of]).iterdir():
        if item.name not in drop:
            (path / item.name).write_bytes(item.read_bytes())


def pickled_encoder(path: Path, places: dict[str, str]) -> None:
    """The tiny encoder as old checkpoints hold it: a pickle (``pytorch_model.bin``), no safetensors."""
    import torch
    from safetensors.torch import load_file

    copy_folder("encoder", path, places, drop=("model.safetensors",))
    torch.save(load_file(Path(places["encoder"]) / "model.safetensors"), path / "pytorch_model.bin")


def corrupt_copy(of: str) -> Callable[[Path, dict[str, str]], None]:
    """A copy of a shared model folder whose ``model.safetensors`` is cut short."""

    def make(path: Path, places: dict[str, str]) -> None:
        copy_folder(of, path, places)
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


def has_lines(name: str, count: int, why: str) -> Callable[[Path], None]:
    """A check that the case's file ``name`` holds ``count`` JSON lines (failing with ``why``)."""
    return lambda folder: len(read_jsonl(folder / name)) == count or pytest.fail(why)


# ------------------------------------------------------------------------------------------------ kear index

CSV, KAIKKI = SAMPLE["conceptnet-assertions.csv"], SAMPLE["kaikki-english.jsonl"]
INDEX, WIKT = ["index", "conceptnet"], ["index", "wiktionary"]


def bad_dump(kind: list[str], name: str, dump: str, content: str | bytes | None, message: str, line: int = 0) -> None:
    """``kear index`` of ``dump`` (holding ``content``; None: not there) into ``out``: an error naming the dump
    (and the ``line``, unless 0)."""
    where = f"{dump}:{line}" if line else dump
    error(
        "index",
        name,
        [*kind, dump, "--output", "out"],
        message,
        where,
        files={} if content is None else {dump: content},
    )


def bad_index_output(name: str, output: str, message: str, names: str | None, files: Files) -> None:
    """``kear index conceptnet`` of the sample (dump.csv) into ``output``, among ``files``: an error."""
    error("index", name, [*INDEX, "dump.csv", "--output", output], message, names, files={"dump.csv": CSV, **files})


def good_index(kind: list[str], name: str, dump: str, files: Files, *extra: str) -> None:
    """``kear index`` of ``dump`` into ``out``, which succeeds: the index's meta.json is there."""
    ok("index", name, [*kind, dump, "--output", "out", *extra], exists("out/meta.json"), "out", files=files)


bad_dump(INDEX, "dump missing", "nope.csv", None, "no such file")
error("index", "dump is a folder", [*INDEX, "dumps", "--output", "out"], "is a folder", "dumps", files={"dumps/x": ""})
bad_dump(
    INDEX,
    "too few columns on line 3",
    "dump.csv",
    b"\n".join([*CSV.splitlines()[:2], b"a\tb\tc"]) + b"\n",
    r"expected 5 tab-separated columns",
    3,
)
bad_dump(INDEX, "truncated gzip", "dump.csv.gz", gz(CSV * 50)[:3000], "cut short")
bad_dump(INDEX, "not gzip at all, named .gz", "dump.csv.gz", CSV, "not a readable gzip file")
bad_dump(INDEX, "binary garbage", "dump.csv", bytes(range(256)) * 40, r"columns|no ConceptNet")
bad_dump(
    INDEX,
    "invalid JSON in the info column",
    "dump.csv",
    b"/a/x\t/r/AtLocation\t/c/en/milk\t/c/en/fridge\t{not json\n",
    "JSON",
    1,
)
bad_index_output("output is an existing file", "notes.txt", "is not a folder", "notes.txt", {"notes.txt": "keep me\n"})
bad_index_output(
    "output is a folder of other files",
    "mine",
    "holds files kear did not write",
    "mine",
    {"mine/essay.txt": "years of work"},
)
error(
    "index",
    "output is the folder that holds the dump",
    [*INDEX, "idx/dump.csv", "--output", "idx"],
    "holds an input",
    "idx",
    files={"idx/dump.csv": CSV, "idx/meta.json": '{"format": 1}'},
)
bad_index_output("output is a device", "/dev/null", "is not a folder", None, {})
bad_index_output("output under a file", "notes.txt/index", "is not a folder", "notes.txt", {"notes.txt": "x"})
good_index(
    INDEX, "bad rows skipped with --skip-invalid", "dump.csv", {"dump.csv": CSV + b"broken line\n"}, "--skip-invalid"
)
good_index(INDEX, "gzip dump with CRLF line ends", "dump.csv.gz", {"dump.csv.gz": gz(CSV.replace(b"\n", b"\r\n"))})
good_index(INDEX, "a rebuild replaces its own index", "dump.csv", {"dump.csv": CSV, "out/meta.json": '{"format": 1}'})
error("index", "unknown kind", ["index", "freebase", "dump.csv"], "no such kind of index; choose from", None)
error("index", "conceptnet without a dump", [*INDEX], "needs the dump", None)

bad_dump(WIKT, "wiktionary dump missing", "k.jsonl", None, "no such file")
bad_dump(
    WIKT,
    "wiktionary invalid JSON on line 2",
    "k.jsonl",
    KAIKKI.splitlines(keepends=True)[0].decode() + "{oops\n",
    "invalid JSON",
    2,
)
bad_dump(WIKT, "wiktionary truncated gzip", "k.jsonl.gz", gz(KAIKKI * 20)[:2000], "cut short")
bad_dump(
    WIKT,
    "wiktionary entry without a word",
    "k.jsonl",
    lines({"pos": "noun", "senses": [{"glosses": ["a thing"]}]}),
    "word",
    1,
)
bad_dump(
    WIKT,
    "wiktionary senses not a list",
    "k.jsonl",
    lines({"word": "milk", "pos": "noun", "senses": "white"}),
    "senses",
    1,
)
bad_dump(WIKT, "wiktionary line is a JSON list", "k.jsonl", "[1, 2, 3]\n", "object", 1)
error(
    "index",
    "wiktionary output is the dump",
    [*WIKT, "k.jsonl", "--output", "k.jsonl"],
    "is also an input",
    "k.jsonl",
    files={"k.jsonl": KAIKKI},
)
good_index(WIKT, "wiktionary plain and gzip give the same index", "k.jsonl.gz", {"k.jsonl.gz": gz(KAIKKI)})
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

QUESTIONS_FILE = {"in.jsonl": SAMPLE["questions.jsonl"]}  # the sample questions, as the input
RETRIEVE_SETTINGS = [
    "conceptnet.index={conceptnet}",
    "dictionary.indexes=[{dictionary}]",
    "examples.corpora=[{sample}/train.jsonl]",
]


def retrieve(source: str, *extra: str, output: str = "out.jsonl") -> list[str]:
    """The command line of ``kear retrieve`` over the sample indexes and corpus."""
    return ["retrieve", "--output", output, "--input", source, *RETRIEVE_SETTINGS, *extra]


def bad_records(name: str, content: str | bytes, message: str, line: int | None, file: str = "in.jsonl") -> None:
    where = file if line is None else f"{file}:{line}"
    error("retrieve", name, retrieve(file), message, where, files={file: content})


def bad_retrieve(
    name: str,
    extra: list[str],
    message: str,
    names: str | None = None,
    files: Files | None = None,
    output: str = "out.jsonl",
) -> None:
    """``kear retrieve`` of the sample questions (in.jsonl) with ``extra`` arguments, among ``files``: an error."""
    error(
        "retrieve",
        name,
        retrieve("in.jsonl", *extra, output=output),
        message,
        names,
        files={**QUESTIONS_FILE, **(files or {})},
    )


def bad_config(name: str, text: str | bytes, message: str, where: str = "c.yaml") -> None:
    """``kear retrieve`` of the sample questions, ``--config c.yaml`` holding ``text``: an error naming ``where``."""
    bad_retrieve(name, ["--config", "c.yaml"], message, where, {"c.yaml": text})


def good_retrieve(name: str, extra: list[str], check: Callable[[Path], None], files: Files) -> None:
    """``kear retrieve`` of in.jsonl with ``extra`` arguments, which succeeds: ``check`` holds for out.jsonl."""
    ok("retrieve", name, retrieve("in.jsonl", *extra), check, "out.jsonl", ".out.jsonl.kear.json", files=files)


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
bad_records("a parquet file that is not one", "not parquet", "in.parquet", None, "in.parquet")
error(
    "retrieve",
    "a folder that is not a dataset",
    retrieve("folder"),
    "folder",
    "folder",
    files={"folder/readme.txt": "x"},
)
bad_retrieve("output is the input", [], "is also an input", "in.jsonl", output="in.jsonl")
error(
    "retrieve",
    "output is a training corpus",
    [
        "retrieve",
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
bad_retrieve("output is a folder", [], "is a folder", "outdir", {"outdir/x": ""}, output="outdir")
bad_retrieve("output is /dev/null", [], "is not a regular file", output="/dev/null")
bad_retrieve("conceptnet.index missing", ["conceptnet.index=nowhere"], "nowhere")
bad_retrieve("conceptnet.index is a file", ["conceptnet.index=in.jsonl"], r"in\.jsonl.*ConceptNet index")
bad_retrieve(
    "conceptnet.index with a corrupt meta.json", ["conceptnet.index=idx"], "idx", None, {"idx/meta.json": "{not json"}
)
bad_retrieve(
    "dictionary.indexes a folder of other files", ["dictionary.indexes=[stuff]"], "stuff", None, {"stuff/a.txt": "x"}
)
bad_retrieve("corpus missing", ["examples.corpora=[gone.jsonl]"], "gone.jsonl")
bad_retrieve("corpus empty", ["examples.corpora=[empty.jsonl]"], "empty.jsonl", None, {"empty.jsonl": ""})
bad_retrieve(
    "corpus without answers",
    ["examples.corpora=[noans.jsonl]"],
    "noans.jsonl",
    None,
    {"noans.jsonl": lines(*[{k: v for k, v in q.items() if k != "answerKey"} for q in QUESTIONS])},
)
bad_retrieve("unknown source", ["--sources", "conceptnet,wiki"], "unknown knowledge source")
bad_retrieve("unknown setting", ["conceptnet.indx=x"], "indx")
bad_retrieve("setting of the wrong type", ["examples.top_k=many"], "top_k")
bad_retrieve("top_k of zero", ["examples.top_k=0"], "top_k")
bad_retrieve("override without =", ["conceptnet.index"], "key=value")
bad_retrieve("override of malformed YAML", ["examples.corpora=[a, b"], "invalid YAML")
bad_retrieve("config file missing", ["--config", "nope.yaml"], "no such file, and no recipe of that name", "nope.yaml")
bad_config("config of invalid YAML", "conceptnet: [unclosed\n", "invalid YAML")
bad_config("config that is a list", "- a\n- b\n", "mapping")
bad_config("config with an unknown key", "nope: 1\n", "nope")
bad_config("config with a self-referential alias", "conceptnet: &a\n  relations: *a\n", "alias")
bad_config(
    "config that is an alias bomb",
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)},"
        f" *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    ),
    "alias",
)
bad_config("config that is binary", bytes(range(256)), "c.yaml")
bad_retrieve("cache_dir is a file", ["cache_dir=in.jsonl"], "in.jsonl")
error("retrieve", "stdin of invalid JSON", retrieve("-"), "invalid JSON", "<stdin>:1")
good_retrieve(
    "answerKey a number with number labels",
    ["--sources", "conceptnet"],
    lambda f: [r["answerKey"] for r in read_jsonl(f / "out.jsonl")] == ["1"] or pytest.fail("answer read as index"),
    {
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
good_retrieve(
    "a 2 MB choice is cut, not chewed on",
    [],
    lambda f: (
        max(len(c["text"]) for c in read_jsonl(f / "out.jsonl")[0]["question"]["choices"]) < 100_000
        or pytest.fail("not cut")
    ),
    {"in.jsonl": lines(with_choices([{"label": "A", "text": "milk " * 400_000}, {"label": "B", "text": "x"}]))},
)
good_retrieve(
    "a 1,200-word choice",
    [],
    exists("out.jsonl"),
    {
        "in.jsonl": lines(
            with_choices([{"label": "A", "text": " ".join(["word"] * 1200)}, {"label": "B", "text": "attic"}])
        )
    },
)
good_retrieve(
    "output replaces an earlier output",
    [],
    has_lines("out.jsonl", 12, "not replaced"),
    {**QUESTIONS_FILE, "out.jsonl": lambda path, places: write_records(path, read_records(sample_file("train.jsonl")))},
)
good_retrieve(
    "a user's file replaced with --overwrite",
    ["--overwrite"],
    has_lines("out.jsonl", 12, "not replaced"),
    {**QUESTIONS_FILE, "out.jsonl": "my notes\n"},
)
good_retrieve(
    "duplicate ids skipped with --skip-invalid",
    ["--skip-invalid"],
    has_lines("out.jsonl", 1, "duplicate kept"),
    {"in.jsonl": lines(question(0), question(0))},
)
good_retrieve(
    "a UTF-8 byte order mark", [], exists("out.jsonl"), {"in.jsonl": b"\xef\xbb\xbf" + SAMPLE["questions.jsonl"]}
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


def bad_train_settings(table: dict[str, str]) -> None:
    """``kear train`` with one bad override each, from a table of case name: override; the message names the
    setting (the override's key after its last dot)."""
    for name, override in table.items():
        bad_train(name, [override], override.split("=")[0].rpartition(".")[2])


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
bad_train_settings(
    {
        "num_choices of 1": "data.num_choices=1",
        "unknown key": "training.epoch=3",
        "epochs not a number": "training.epochs=many",
        "logging_steps zero": "training.logging_steps=0",
        "negative learning rate": "training.learning_rate=-1e-5",
        "learning rate NaN": "training.learning_rate=nan",
        "learning rate infinite": "training.learning_rate=inf",
        "batch size zero": "training.batch_size=0",
    }
)
bad_train("epochs negative", ["training.epochs=-1", "training.max_steps=null"], "epochs", None)
bad_train_settings(
    {
        "max_steps zero": "training.max_steps=0",
        "unknown scheduler": "training.scheduler=zigzag",
        "unknown precision": "training.mixed_precision=fp12",
        "max length of a billion": "inputs.max_length=1000000000",
        "max length of two": "inputs.max_length=2",
        "warmup ratio above one": "training.warmup_ratio=2",
        "dropout of one": "model.classifier_dropout=1.0",
        "unknown knowledge segment": "inputs.knowledge=[wikipedia]",
    }
)
bad_train("unknown head", ["model.head=nope"], "unknown head", None)
bad_train("unknown head setting", ["model.head=eanet", "model.head_settings={{slotz: 4}}"], "slotz", None)
bad_train_settings({"unknown tracker": "training.report_to=[nope]"})
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
bad_train("config file missing", ["--config", "nope.yaml"], "no such file, and no recipe of that name", "nope.yaml")
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


def model_run(
    command: str, *extra: str, model: str = "{model}", source: str = "in.jsonl", output: str = "out.jsonl"
) -> list[str]:
    """The command line of ``kear evaluate`` or ``kear predict``."""
    return [command, "--model", model, "--input", source, "--output", output, *extra]


def bad_evaluate(
    name: str, argv: list[str], message: str, names: str | None = None, files: Files | None = None
) -> None:
    """``kear evaluate`` of the sample questions (in.jsonl), among ``files``: an error."""
    error("evaluate", name, argv, message, names, files={**QUESTIONS_FILE, **(files or {})})


def bad_saved_model(name: str, message: str, files: Files) -> None:
    """``kear evaluate`` of the sample questions with the model folder ``m`` that ``files`` make: an error."""
    bad_evaluate(name, model_run("evaluate", model="m"), message, None, files)


bad_evaluate("model folder missing", model_run("evaluate", model="gone"), "gone")
bad_evaluate("an encoder folder, not a kear model", model_run("evaluate", model="{encoder}"), "not a kear model folder")
error("evaluate", "input missing", model_run("evaluate", source="gone.jsonl"), "no such file", "gone.jsonl")
bad_evaluate("input empty", model_run("evaluate"), "holds no records", "in.jsonl", {"in.jsonl": ""})
error(
    "evaluate",
    "input invalid on line 3",
    model_run("evaluate"),
    "invalid JSON",
    "in.jsonl:3",
    "out.jsonl",  # the lines before it stay, to continue after (kear evaluate streams as kear predict does)
    ".out.jsonl.kear.json",
    files={
        "in.jsonl": lambda path, places: path.write_text(
            "".join(line + "\n" for line in Path(places["knowledge"]).read_text().splitlines()[:2]) + "{oops\n"
        )
    },
)
bad_evaluate("output is the input", model_run("evaluate", output="in.jsonl"), "is also an input", "in.jsonl")
bad_evaluate("output is a folder", model_run("evaluate", output="outdir"), "is a folder", "outdir", {"outdir/x": ""})
bad_evaluate("records without knowledge and no index", model_run("evaluate"), "lack knowledge the model uses")
bad_evaluate("batch size zero", model_run("evaluate", "--batch-size", "0"), "batch-size")
bad_evaluate("batch size not a number", model_run("evaluate", "--batch-size", "lots"), "batch-size")
bad_evaluate("unknown retrieval setting", model_run("evaluate", "conceptnet.nope=1"), "nope")
bad_evaluate(
    "model folder with a corrupt config.json",
    model_run("evaluate", model="broken"),
    "broken",
    None,
    {"broken/config.json": "{not json", "broken/model.safetensors": b"x"},
)

# ---------------------------------------------------------------------------------------------- kear predict

KNOWLEDGE = {"in.jsonl": copy_of("knowledge")}  # the sample questions with their knowledge


def bad_predict(name: str, argv: list[str], message: str, names: str | None = None, files: Files | None = None) -> None:
    """``kear predict`` of the sample questions with their knowledge (in.jsonl), among ``files``: an error."""
    error("predict", name, argv, message, names, files={**KNOWLEDGE, **(files or {})})


bad_predict("model folder missing", model_run("predict", model="./gone"), "gone")
bad_predict(
    "model folder without weights",
    model_run("predict", model="m"),
    "missing model.safetensors",
    None,
    {"m/config.json": "{}"},
)
bad_predict(
    "model weights corrupt", model_run("predict", model="m"), r"corrupt|safetensors", None, {"m": corrupt_copy("model")}
)
error(
    "predict",
    "input invalid on line 2",
    model_run("predict"),
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
bad_predict("input empty", model_run("predict"), "holds no records", "in.jsonl", {"in.jsonl": ""})
bad_predict("output is the input", model_run("predict", output="in.jsonl"), "is also an input", "in.jsonl")
bad_predict("output is /dev/null", model_run("predict", output="/dev/null"), "is not a regular file")
bad_predict(
    "output is an unrelated file",
    model_run("predict"),
    "kear did not write it",
    "out.jsonl",
    {"out.jsonl": "first line\nlast line without newline"},
)
bad_predict("output is a folder", model_run("predict", output="outdir"), "is a folder", "outdir", {"outdir/x": ""})
bad_predict(
    "output is a symbolic link",
    model_run("predict"),
    "symbolic link",
    "out.jsonl",
    {"target.jsonl": "", "out.jsonl": lambda p, _: p.symlink_to(p.with_name("target.jsonl"))},
)
bad_predict("batch size negative", model_run("predict", "--batch-size", "-3"), "batch-size")
bad_predict(
    "raw records and the index not here", model_run("predict", "conceptnet.index=gone"), "gone", None, QUESTIONS_FILE
)
bad_predict("an override that is not a setting", model_run("predict", "batch_size=lots"), "batch_size")


def finished_predict(path: Path, places: dict[str, str]) -> None:
    """A first run of ``kear predict``, finished, in the case's folder (the current directory)."""
    assert main([*_argv(model_run("predict"), path.parent, places), "--no-progress"]) == 0


ok(
    "predict",
    "output replaced when asked",
    model_run("predict", "--overwrite"),
    has_lines("out.jsonl", 12, "not replaced"),
    "out.jsonl",
    ".out.jsonl.kear.json",
    files={**KNOWLEDGE, "out.jsonl": "someone's notes\n"},
)
ok(
    "predict",
    "a second run continues and adds nothing",
    model_run("predict"),
    has_lines("out.jsonl", 12, "lines doubled"),
    "out.jsonl",
    ".out.jsonl.kear.json",
    files={**KNOWLEDGE, "first run": finished_predict},
)

# --------------------------------------------------------------------------------------------- kear ensemble

PRED = {"id": "q1", "labels": ["A", "B"], "scores": [0.0, -1.0], "answer": "A"}
ENSEMBLE = ["ensemble", "a.jsonl", "b.jsonl", "--output", "e.jsonl"]


def members(*rows: dict, second: list[object] | None = None) -> dict:
    return {"a.jsonl": lines(*rows), "b.jsonl": lines(*(second or rows))}


def bad_ensemble(name: str, argv: list[str], message: str, names: str | None = None) -> None:
    """``kear ensemble`` where both members (a.jsonl, b.jsonl) hold :data:`PRED`: an error."""
    error("ensemble", name, argv, message, names, files=members(PRED))


def bad_member(name: str, row: object, message: str, names: str | None = "b.jsonl:1") -> None:
    """``kear ensemble`` of a.jsonl (:data:`PRED`) and b.jsonl (``row``, a JSON line or the text of one): an error."""
    error("ensemble", name, ENSEMBLE, message, names, files=members(PRED, second=[row]))


bad_ensemble("one member", ["ensemble", "a.jsonl", "--output", "e.jsonl"], "at least two")
bad_ensemble(
    "member missing", ["ensemble", "a.jsonl", "gone.jsonl", "--output", "e.jsonl"], "no such file", "gone.jsonl"
)
bad_member("member invalid JSON", "{oops", "invalid JSON")
bad_member("member without scores", {"id": "q1", "labels": ["A", "B"]}, "scores")
bad_member("scores of the wrong length", {**PRED, "scores": [0.0]}, "same length")
bad_member("a NaN score (not JSON)", {**PRED, "scores": [0.0, float("nan")]}, "invalid JSON")
bad_member("a score of 1e999 (infinite)", '{"id": "q1", "labels": ["A", "B"], "scores": [0, 1e999]}', "invalid JSON")
bad_member("a score that is the text nan", {**PRED, "scores": [0.0, "nan"]}, "finite numbers")
bad_member("a line that is a list", "[1, 2]", "JSON object")
bad_member("a score that is a word", {**PRED, "scores": [0.0, "high"]}, "finite numbers")
bad_member("answer not a label", {**PRED, "answer": "Z"}, "answer")
bad_member("members of other records", {**PRED, "id": "q9"}, "score different records", None)
bad_member("members with other labels", {**PRED, "labels": ["X", "Y"], "answer": "X"}, "has labels", None)
error("ensemble", "duplicate ids in a member", ENSEMBLE, "duplicate", "a.jsonl:2", files=members(PRED, PRED))
error(
    "ensemble",
    "an empty member",
    ENSEMBLE,
    r"no predictions|holds no",
    "a.jsonl",
    files={"a.jsonl": "", "b.jsonl": lines(PRED)},
)
bad_ensemble("weighted without dev", [*ENSEMBLE, "--method", "weighted"], "needs --dev")
bad_ensemble("dev files for another method", [*ENSEMBLE, "--dev", "a.jsonl", "b.jsonl"], "--dev is for")
bad_ensemble(
    "dev files one short", [*ENSEMBLE, "--method", "weighted", "--dev", "a.jsonl"], "development files for 2 members"
)
bad_ensemble(
    "output is a member", ["ensemble", "a.jsonl", "b.jsonl", "--output", "a.jsonl"], "is also an input", "a.jsonl"
)
bad_ensemble("no output", ["ensemble", "a.jsonl", "b.jsonl"], "--output")
bad_ensemble("unknown method", [*ENSEMBLE, "--method", "median"], "invalid choice")
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
error("push", "dry run into the model folder", [*PUSH[:4], "{model}"], "is also an input", None)
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
        copy_folder("model", path, places, drop)
        if edit is not None:
            config = json.loads((path / "config.json").read_text())
            edit(config)
            (path / "config.json").write_text(json.dumps(config))

    return make


def folder_copy(of: str) -> Callable:
    return lambda path, places: copy_folder(of, path, places)


bad_retrieve(
    "output inside the ConceptNet index",
    ["conceptnet.index=conceptnet"],
    "is inside an input folder",
    "conceptnet/meta.json",
    {"conceptnet": folder_copy("conceptnet")},
    output="conceptnet/meta.json",
)
bad_retrieve(
    "output is the retrieval cache",
    ["cache_dir=cache"],
    "is also an input",
    "cache/retrieval.sqlite",
    {"cache/retrieval.sqlite": b"x"},
    output="cache/retrieval.sqlite",
)
bad_evaluate(
    "output inside the model folder",
    model_run("evaluate", model="m", output="m/config.json"),
    "is inside an input folder",
    "m/config.json",
    {"m": model_copy()},
)
error(
    "ensemble",
    "output inside a member model",
    ["ensemble", "--models", "m", "m", "--input", "in.jsonl", "--output", "m/config.json"],
    "is inside an input folder",
    "m/config.json",
    files={**KNOWLEDGE, "m": model_copy()},
)
bad_predict(
    "overwrite into the model's weights",
    model_run("predict", "--overwrite", model="m", output="m/model.safetensors"),
    "is inside an input folder",
    "m/model.safetensors",
    {"m": model_copy()},
)
bad_predict("output named as a folder", model_run("predict", output="newdir/"), "names a folder", "newdir/")
error(
    "retrieve",
    "a failed run leaves no folders made for its output",
    retrieve("bad.jsonl", output="new/deep/o.jsonl"),
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
bad_saved_model(
    "a config asking for more layers than the weights hold",
    "weights lack",
    {"m": model_copy(lambda c: c["encoder"].update(num_hidden_layers=4))},
)
bad_saved_model(
    "a config of another hidden size than the weights",
    r"sizes|m",
    {"m": model_copy(lambda c: c["encoder"].update(hidden_size=64))},
)
bad_saved_model(
    "a saved max_length beyond the encoder's positions",
    "max_length",
    {"m": model_copy(lambda c: c["inputs"].update(max_length=1024))},
)
bad_saved_model(
    "a tokenizer.json of the wrong shape",
    "tokenizer",
    {"m": model_copy(), "m/tokenizer.json": '{"version": "1.0", "garbage": true}'},
)
bad_saved_model(
    "a model folder without a tokenizer",
    "no tokenizer",
    {"m": model_copy(drop=("tokenizer.json", "tokenizer_config.json", "spm.model"))},
)
bad_index_output(
    "conceptnet over a dictionary index", "dx", "another kind of kear index", "dx", {"dx": folder_copy("dictionary")}
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
bad_config("a settings file with a key twice", "examples:\n  top_k: 1\n  top_k: 2\n", "duplicate key", "c.yaml:3")
bad_retrieve("relations none of which the index has", ["conceptnet.relations=[NotARelation]"], "conceptnet.relations")
bad_retrieve("--sources empty", ["--sources", ""], "--sources")
bad_retrieve("--sources with a source twice", ["--sources", "conceptnet,conceptnet"], "--sources")
bad_member("members that disagree on the answer", {**PRED, "answer": "B"}, "has answer B", None)


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


def demo(*extra: str, workdir: str = "work") -> list[str]:
    """The command line of ``kear demo``: one short run of the tiny encoder."""
    return ["demo", "--workdir", workdir, "model={encoder}", "epochs=1", "seeds=[1]", "max_length=48", *extra]


error("demo", "unknown setting", demo("epoch=1"), "epoch", None)
error("demo", "no seeds", demo("seeds=[]"), "seeds", None)
error("demo", "zero epochs", demo("epochs=0"), "epochs", None)
error(
    "demo", "workdir is a file", demo(workdir="notes.txt"), "is not a folder", "notes.txt", files={"notes.txt": "keep"}
)
error(
    "demo",
    "workdir of other files",
    demo(workdir="mine"),
    "holds files kear did not write",
    "mine",
    files={"mine/train.knowledge.jsonl": "mine"},
)
error("demo", "model missing", demo("model=./gone"), "gone", None)


# ----------------------------------------------------------------------------------------- --inference

bad_predict("--inference not a backend", model_run("predict", "--inference", "fp16"), "invalid choice")
bad_evaluate("--inference not a backend", model_run("evaluate", "--inference", "int4"), "invalid choice")
bad_ensemble("--inference without --models", [*ENSEMBLE, "--inference", "onnx"], "--inference is for --models")
error(
    "predict",
    "continuing an output with another --inference",
    model_run("predict", "--inference", "torch-int8"),
    "written with another inference",
    "out.jsonl",
    files={**KNOWLEDGE, "first run": finished_predict},
)


# ----------------------------------------------------------------------------- the last silent cases (issue 28)

EDGE = b"/a/x\t/r/AtLocation\t/c/en/milk\t/c/en/fridge\t"
bad_dump(INDEX, "a weight that is NaN", "dump.csv", CSV + EDGE + b'{"weight": "NaN"}\n', "not a finite number", 67)
bad_dump(INDEX, "an infinite weight", "dump.csv", CSV + EDGE + b'{"weight": "-Infinity"}\n', "not a finite number", 67)
WORDNET_HEADER = "  1 This software and database is being provided to you, the LICENSEE, by Princeton University\n"
error(
    "index",
    "a WordNet synset count below zero",
    ["index", "wordnet", "wn", "--output", "out"],
    "synset count -1 does not fit the line",
    "wn/index.noun:2",
    files={"wn/index.noun": WORDNET_HEADER + "dog n -1 0 1 0 00001740\n", "wn/data.noun": ""},
)
error(
    "index",
    "an empty WordNet index.noun",
    ["index", "wordnet", "wn", "--output", "out"],
    "holds no lemmas",
    "wn/index.noun",
    files={"wn/index.noun": WORDNET_HEADER, "wn/data.noun": ""},
)
bad_dump(
    WIKT,
    "glosses that are an object",
    "k.jsonl",
    lines({"word": "milk", "lang": "English", "lang_code": "en", "pos": "noun", "senses": [{"glosses": {"a": "b"}}]}),
    "'glosses' must be a list",
    1,
)
bad_records("an empty choice in list form", lines(with_choices(["", "fridge", "cow"])), "non-empty", 1)
for kind, shared, dump in ((INDEX, "conceptnet", "dump.csv"), (WIKT, "dictionary", "k.jsonl")):
    error(
        "index",
        f"an empty dump over an index ({kind[1]})",
        [*kind, dump, "--output", "out"],
        "holds no English",
        dump,
        files={dump: "", "out": lambda path, places, shared=shared: copy_folder(shared, path, places)},
    )
good_index(
    INDEX,
    "an empty dump over an index, with --overwrite",
    "dump.csv",
    {"dump.csv": "", "out": lambda path, places: copy_folder("conceptnet", path, places)},
    "--overwrite",
)
ok(
    "retrieve",
    "a user's file named like a temporary file stays",
    retrieve("in.jsonl"),
    has_lines("out.jsonl", 12, "not written"),
    "out.jsonl",
    ".out.jsonl.kear.json",
    files={**QUESTIONS_FILE, ".out.jsonl.mine.tmp": "mine", ".out.jsonl.kear-mine.tmp/notes": "mine too"},
)
for command in ("retrieve", "ensemble", "evaluate"):
    argv = {
        "retrieve": retrieve("in.jsonl", output="notes.jsonl"),
        "ensemble": [*ENSEMBLE[:-1], "notes.jsonl"],
        "evaluate": model_run("evaluate", output="notes.jsonl"),
    }[command]
    inputs = {"ensemble": members(PRED), "evaluate": KNOWLEDGE}.get(command, QUESTIONS_FILE)
    error(
        command,
        "output is a user's file",
        argv,
        "exists and kear did not write it",
        "notes.jsonl",
        files={**inputs, "notes.jsonl": "my notes\n"},
    )


def inconsistent_record(path: Path, places: dict[str, str]) -> None:
    """A finished ``kear predict`` whose record beside the output says fewer records, of another digest."""
    finished_predict(path, places)
    record = path.parent / ".out.jsonl.kear.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "records": 5, "digest": "0" * 40}))


bad_predict(
    "an inconsistent record beside a finished output",
    model_run("predict"),
    "changed since they were predicted",
    "out.jsonl",
    {"first run": inconsistent_record},
)
bad_predict("--majority-relation below zero", model_run("predict", "--majority-relation", "-1"), "at least 0")
bad_evaluate("--majority-relation below zero", model_run("evaluate", "--majority-relation", "-1"), "at least 0")
bad_train("lora.target_modules no module has", ["lora.enabled=true", "lora.target_modules=[nope]"], "target_modules")


def study(path: Path, places: dict[str, str], **settings: object) -> None:
    """A one-condition study of the sample (study.yaml), one step a run."""
    recipe = {"model": {"name_or_path": places["encoder"]}, "inputs": {"max_length": 48, "knowledge": []}}
    recipe["retrieval"] = {"conceptnet": {"index": places["conceptnet"]}, "sources": ["conceptnet"]}
    (path.parent / "recipe.yaml").write_text(json.dumps({**recipe, "training": {"max_steps": 1, "batch_size": 4}}))
    values = {"data": {"records": "dev.json", "folds": 2}, "recipe": "recipe.yaml", "conditions": {"plain": {}}}
    path.write_text(json.dumps({**values, "output_dir": "study", **settings}))


STUDY = {"dev.json": json.dumps([json.loads(line) for line in SAMPLE["questions.jsonl"].splitlines()])}
error(
    "ablate",
    "protocol.json that is not JSON",
    ["ablate", "--config", "study.yaml"],
    "not a study's protocol",
    "study/protocol.json",
    files={**STUDY, "study.yaml": study, "study/protocol.json": "{oops"},
)
error(
    "ablate",
    "the report is the study's records",
    ["ablate", "--config", "study.yaml", "report=dev.json"],
    "is also an input",
    "dev.json",
    files={**STUDY, "study.yaml": study},
)
error(
    "ablate",
    "the report's JSON would be the study's records",
    ["ablate", "--config", "study.yaml", "report=dev.md"],
    "is also an input",
    "dev.json",
    files={**STUDY, "study.yaml": study},
)
error(
    "ablate",
    "an output_dir of a user's files",
    ["ablate", "--config", "study.yaml", "output_dir=mine"],
    "holds files kear did not write",
    "mine",
    files={**STUDY, "study.yaml": study, "mine/report.md": "my report"},
)


# -------------------------------------------------------------------------------------------------- the runs


def test_the_corpus_covers_every_subcommand_and_is_large() -> None:
    counts = Counter(case.command for case in CASES)
    assert set(counts) == {"index", "retrieve", "train", "evaluate", "predict", "ensemble", "push", "demo", "ablate"}
    assert len(CASES) >= 150, len(CASES)
    assert len({case.id for case in CASES}) == len(CASES)


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
