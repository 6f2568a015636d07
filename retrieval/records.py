"""One record type for every multiple-choice input format, with its readers and its writer.

Formats read (detected per line, so files may even mix them):

* official CommonsenseQA JSONL: ``{"answerKey", "id", "question": {"question_concept", "choices": [{"label",
  "text"}], "stem"}}``;
* the KEAR/DEKCOR JSON list: the same objects in one JSON array, with knowledge fields (``qc_meaning`` on the
  question; ``triple``, ``surface``, ``weight``, ``ac_meaning``, ``retrieval`` on each choice);
* the Hub schema of ``tau/commonsense_qa``: ``{"id", "question", "question_concept", "choices": {"label": [..],
  "text": [..]}, "answerKey"}``, from JSONL, Parquet, a saved dataset folder or the Hub itself;
* plain multiple choice: ``{"id", "question", "choices": [..], "answer"}`` with an optional ``question_concept``;
  ``answer`` is a label, a choice text or a 0-based index.

Records are written back in the official layout with the knowledge fields in KEAR's places, so the output
of one step is the input of the next.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .errors import DataError, ErrorPolicy, KearError
from .hub import hub_unreachable, looks_like_hub_id
from .io import iter_json_lines, open_binary, write_json_lines

LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass
class Choice:
    """One answer choice.

    Args:
        label: its label (``"A"``...).
        text: its text.
        knowledge: knowledge fields retrieved for this choice, by their KEAR names.
    """

    label: str
    text: str
    knowledge: dict[str, Any] = field(default_factory=dict)


@dataclass
class Record:
    """One multiple-choice question.

    Args:
        id: unique id of the question.
        question: the question text (CommonsenseQA's ``stem``).
        choices: two or more choices.
        question_concept: the ConceptNet concept the question is about, when known.
        answer: the label of the correct choice, when known.
        knowledge: question-level knowledge fields (``qc_meaning``).
        extra: other top-level fields of the input (``initial_id``...), kept on output.
    """

    id: str
    question: str
    choices: list[Choice]
    question_concept: str | None = None
    answer: str | None = None
    knowledge: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return [choice.label for choice in self.choices]

    @property
    def answer_index(self) -> int | None:
        """0-based index of the correct choice, or ``None`` when the answer is unknown."""
        return None if self.answer is None else self.labels.index(self.answer)

    @property
    def answer_text(self) -> str | None:
        index = self.answer_index
        return None if index is None else self.choices[index].text

    def without_knowledge(self) -> Record:
        """A copy of the record with no knowledge fields (to retrieve them anew)."""
        choices = [Choice(c.label, c.text) for c in self.choices]
        return Record(self.id, self.question, choices, self.question_concept, self.answer, {}, dict(self.extra))

    def to_dict(self) -> dict[str, Any]:
        """The record in the official CommonsenseQA layout, knowledge fields where KEAR keeps them."""
        question: dict[str, Any] = {}
        if self.question_concept is not None:
            question["question_concept"] = self.question_concept
        question["choices"] = [{"label": c.label, "text": c.text, **c.knowledge} for c in self.choices]
        question["stem"] = self.question
        question.update(self.knowledge)
        out: dict[str, Any] = {}
        if self.answer is not None:
            out["answerKey"] = self.answer
        out["id"] = self.id
        out["question"] = question
        out.update(self.extra)
        return out


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if value is None:
        raise ValueError(f"missing field '{key}'")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"field '{key}' must be a non-empty string")
    return value


def _choices_from_list(items: Any) -> list[Choice]:
    if not isinstance(items, list):
        raise ValueError("field 'choices' must be a list")
    if len(items) > len(LABELS):
        raise ValueError(f"at most {len(LABELS)} choices are supported, got {len(items)}")
    choices = []
    for position, item in enumerate(items):
        if isinstance(item, str):
            choices.append(Choice(LABELS[position], item))
        elif isinstance(item, dict):
            knowledge = {k: v for k, v in item.items() if k not in ("label", "text")}
            label = str(item["label"]) if item.get("label") is not None else LABELS[position]
            choices.append(Choice(label, _text(item, "text"), knowledge))
        else:
            raise ValueError(f"choice {position + 1} must be a string or an object with 'text'")
    return choices


def _choices_from_columns(columns: dict[str, Any]) -> list[Choice]:
    labels, texts = columns.get("label"), columns.get("text")
    if not isinstance(texts, list) or (labels is not None and not isinstance(labels, list)):
        raise ValueError("field 'choices' must hold 'label' and 'text' lists")
    labels = labels if labels else list(LABELS[: len(texts)])
    if len(labels) != len(texts):
        raise ValueError(f"'choices' has {len(labels)} labels but {len(texts)} texts")
    return _choices_from_list([{"label": la, "text": te} for la, te in zip(labels, texts)])


def _answer_label(value: Any, choices: list[Choice]) -> str | None:
    labels = [c.label for c in choices]
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"answer {value!r} is not a label, a choice text or an index")
    if isinstance(value, int):
        if not 0 <= value < len(choices):
            raise ValueError(f"answer index {value} is out of range for {len(choices)} choices")
        return labels[value]
    value = str(value)
    if value in labels:
        return value
    for choice in choices:
        if choice.text.strip().lower() == value.strip().lower():
            return choice.label
    raise ValueError(f"answer '{value}' is not one of the labels {', '.join(labels)} nor a choice text")


def record_from_dict(obj: Any) -> Record:
    """Build a :class:`Record` from one object of any supported layout; ``ValueError`` says what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    question = obj.get("question")
    if isinstance(question, dict):  # official CommonsenseQA, or KEAR with knowledge fields
        stem = _text(question, "stem")
        choices = _choices_from_list(question.get("choices"))
        concept = question.get("question_concept")
        knowledge = {k: v for k, v in question.items() if k not in ("stem", "choices", "question_concept")}
        answer = obj.get("answerKey")
        known = ("id", "question", "answerKey")
    elif isinstance(question, str):
        stem = _text(obj, "question")
        raw = obj.get("choices")
        choices = _choices_from_columns(raw) if isinstance(raw, dict) else _choices_from_list(raw)
        concept = obj.get("question_concept")
        knowledge = {}
        answer = obj["answerKey"] if "answerKey" in obj else obj.get("answer")
        known = ("id", "question", "question_concept", "choices", "answerKey", "answer")
    else:
        raise ValueError("missing field 'question'" if question is None else "field 'question' has a bad type")
    if len(choices) < 2:
        raise ValueError(f"a record needs at least 2 choices, got {len(choices)}")
    labels = [c.label for c in choices]
    if len(set(labels)) != len(labels):
        raise ValueError(f"duplicate choice labels {labels}")
    if concept is not None and not isinstance(concept, str):
        raise ValueError("field 'question_concept' must be a string")
    return Record(
        id=_text(obj, "id"),
        question=stem,
        choices=choices,
        question_concept=concept or None,
        answer=_answer_label(answer, choices),
        knowledge=knowledge,
        extra={k: v for k, v in obj.items() if k not in known},
    )


def _from_objects(
    objects: Iterable[tuple[int | str, Any]], name: str, policy: ErrorPolicy, num_choices: int | None = None
) -> Iterator[Record]:
    for where, obj in objects:
        try:
            record = record_from_dict(obj)
            if num_choices is not None and len(record.choices) != num_choices:
                raise ValueError(f"expected {num_choices} choices, got {len(record.choices)}")
        except (ValueError, KeyError, TypeError) as error:
            policy.handle(DataError(name, where, str(error)))
            continue
        yield record


def _json_list_items(path: Path) -> Iterator[tuple[str, Any]]:
    with open_binary(path) as handle:
        data = handle.read()
    try:
        items = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        line = data.count(b"\n", 0, error.pos) + 1
        raise DataError(path, line, f"invalid JSON ({error.msg})") from None
    if not isinstance(items, list):
        raise DataError(path, None, "expected a JSON list of records")
    for position, item in enumerate(items, start=1):
        yield f"item {position}", item


def _dataset_rows(source: str, split: str | None) -> Iterator[tuple[str, Any]]:
    try:
        import datasets
    except ImportError as error:  # pragma: no cover - datasets is a declared dependency
        raise KearError(f"{source}: reading this source needs the 'datasets' package") from error
    path = Path(source)
    if not path.exists() and hub_unreachable():
        raise KearError(
            f"{source}: cannot load dataset: the Hugging Face Hub cannot be reached (pass a local JSONL, Parquet or "
            "dataset folder, or set HF_HUB_OFFLINE=1 to read the datasets cache)"
        )
    try:
        saved = path / "dataset_info.json", path / "dataset_dict.json"
        if path.is_dir() and any(p.exists() for p in saved):
            data = datasets.load_from_disk(str(path))
        elif path.suffix in (".parquet", ".arrow"):
            data = datasets.load_dataset(path.suffix[1:], data_files=str(path), split="train")
        else:
            data = datasets.load_dataset(source, split=split or "validation")
        if isinstance(data, datasets.DatasetDict):
            data = data[split or "validation"]
    except Exception as error:  # datasets raises many types; all mean "cannot read this source"
        hint = "" if path.exists() else " (offline? pass a local JSONL, Parquet or dataset folder instead)"
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise KearError(f"{source}: cannot load dataset: {first}{hint}") from None
    for position, row in enumerate(data, start=1):
        yield f"row {position}", row


def read_records(
    source: str | Path,
    *,
    split: str | None = None,
    policy: ErrorPolicy | None = None,
    num_choices: int | None = None,
) -> Iterator[Record]:
    """Read records from a file, a dataset folder or a Hub dataset id, in any supported layout.

    Args:
        source: a ``.jsonl``/``.json`` file (optionally ``.gz``), ``-`` for stdin, a ``.parquet`` file, a folder
            written by ``datasets.save_to_disk`` or holding a Hub dataset's files, or a Hub id such as
            ``tau/commonsense_qa`` (needs network, or the ``datasets`` cache).
        split: the split to read from a dataset folder or Hub id (default ``validation``).
        policy: what to do with invalid lines (stop by default).
        num_choices: if set, a record with another number of choices is invalid.
    """
    policy = policy or ErrorPolicy()
    name = str(source)
    path = Path(source)
    if name == "-":
        objects, name = iter_json_lines("-", policy), "<stdin>"
    elif path.is_dir() or path.suffix in (".parquet", ".arrow"):
        objects = _dataset_rows(name, split)
    elif path.is_file():
        with open_binary(path) as handle:
            head = handle.read(64).lstrip()
        objects = _json_list_items(path) if head.startswith(b"[") else iter_json_lines(path, policy)
    elif looks_like_hub_id(name) and not name.endswith((".json", ".jsonl")):
        objects = _dataset_rows(name, split)
    else:
        raise DataError(name, None, "no such file")
    yield from _from_objects(objects, name, policy, num_choices)


def write_records(path: str | Path, records: Iterable[Record]) -> int:
    """Write records as JSONL, atomically (``-`` writes to stdout). Returns how many were written."""
    return write_json_lines(path, (record.to_dict() for record in records))
