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

``answerKey`` (official, KEAR and Hub layouts) is always a label: its string form is compared with the labels,
so ``answerKey: 1`` with labels ``"1", "2"`` is the first choice. Only the plain layout's ``answer`` may be a
0-based index (a JSON integer; a string is a label or a choice text). Labels are non-empty strings or numbers.

Knowledge fields are checked when a record is read, so that what passes the reader is what the input builder
and the sources can use: ``qc_meaning``/``ac_meaning`` a string or null, ``triple`` a list of ``[head, relation,
tail]`` string triples, ``surface`` a string, ``weight`` a number, ``retrieval`` and ``relations`` lists of
strings, ``qc_grounded`` a boolean. Other fields are kept as they are.

Texts far longer than any encoder can use are cut when a record is read (see :data:`MAX_QUESTION_CHARS` and the
limits beside it), so that retrieval's time and memory stay bounded whatever the input. Ids must be unique in
one input.

Records are written back in the official layout with the knowledge fields in KEAR's places, so the output
of one step is the input of the next.
"""

from __future__ import annotations

import codecs
import hashlib
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .errors import DataError, ErrorPolicy, KearError, first_line
from .hub import hub_unreachable, looks_like_hub_id
from .io import iter_json_lines, open_binary, write_json_lines

LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# Texts are cut to these lengths (in characters) when a record is read. A 512-token encoder sees about 2,000 to
# 2,500 characters of English in all (4 to 5 characters a token), question, choice and knowledge together, so each
# limit is well above what any field can contribute to a model's input; below them nothing changes. Above them,
# retrieval would only spend time and memory that grow with the text (n-grams of the question, back-offs of a
# choice's words, BM25 query tokens) for text no model reads. The question and the choice keep their END, as the
# input builder keeps the end of "question choice" when it is too long (kear/inputs.py); the question concept and
# the knowledge keep their START, as the input builder cuts knowledge from its tail.
MAX_QUESTION_CHARS = 8_192
MAX_CHOICE_CHARS = 4_096
MAX_CONCEPT_CHARS = 4_096
MAX_KNOWLEDGE_CHARS = 4_096  # each knowledge string: a meaning, a surface text, a triple's part, a retrieved text
# Retrieved examples kept per choice: each gives at least one token, so no 512-token input holds more.
MAX_EXAMPLES = 512
# A cut inside a word moves to the nearest space within this many characters, so no half word is left.
_WORD_SLACK = 100


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


def clip(text: str, limit: int, *, keep_end: bool = False) -> str:
    """``text`` cut to at most ``limit`` characters, at a space when one is near the cut.

    Args:
        text: the text.
        limit: the most characters kept.
        keep_end: keep the end of the text (its start is cut) instead of its start.
    """
    if len(text) <= limit:
        return text
    if keep_end:
        kept = text[len(text) - limit :]
        if not text[len(text) - limit - 1].isspace():  # the cut falls in a word: begin after it
            space = kept.find(" ", 0, _WORD_SLACK)
            kept = kept[space + 1 :] if space >= 0 else kept
        return kept
    kept = text[:limit]
    if not text[limit].isspace():  # the cut falls in a word: end before it
        space = kept.rfind(" ", limit - _WORD_SLACK)
        kept = kept[:space] if space > 0 else kept
    return kept


def _label(value: Any, position: int) -> str:
    """A choice's label as a string; ``None`` gets the letter of its position."""
    if value is None:
        return LABELS[position]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"choice {position + 1}: label must be a string or a number, got {_kind(value)}")
    label = str(value)
    if not label.strip():
        raise ValueError(f"choice {position + 1}: empty label")
    return label


def _show(value: Any, limit: int = 60) -> str:
    """A value quoted for a one-line message: shortened, with line breaks escaped."""
    text = str(value)
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return "'" + repr(text)[1:-1] + "'"


def _kind(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, (list, tuple)) else "an object" if isinstance(value, dict) else "a value"


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _knowledge(fields: dict[str, Any], where: str, names: tuple[str, ...]) -> dict[str, Any]:
    """Knowledge fields checked and cut; others are kept as they are.

    Args:
        fields: the fields, by name.
        where: the object they are on, for messages (``"question"``, ``"choice 2"``).
        names: the knowledge fields this object may carry (others of KEAR's names are extra fields here).
    """
    out = dict(fields)
    for name in names:
        if name not in fields:
            continue
        value = fields[name]
        if name in ("qc_meaning", "ac_meaning"):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{where}: field '{name}' must be a string or null, got {_kind(value)}")
            out[name] = None if value is None else clip(value, MAX_KNOWLEDGE_CHARS)
        elif name == "surface":
            if not isinstance(value, str):
                raise ValueError(f"{where}: field 'surface' must be a string, got {_kind(value)}")
            out[name] = clip(value, MAX_KNOWLEDGE_CHARS)
        elif name == "weight":
            finite = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
            if isinstance(value, bool) or not finite:
                raise ValueError(f"{where}: field 'weight' must be a number, got {_kind(value)}")
        elif name == "retrieval":
            if not _strings(value):
                raise ValueError(f"{where}: field 'retrieval' must be a list of strings")
            out[name] = [clip(text, MAX_KNOWLEDGE_CHARS) for text in value[:MAX_EXAMPLES]]
        elif name == "relations" and not _strings(value):
            raise ValueError(f"{where}: field 'relations' must be a list of strings")
        elif name == "triple":
            if not isinstance(value, list) or not all(_strings(t) and len(t) == 3 for t in value):
                raise ValueError(f"{where}: field 'triple' must be a list of [head, relation, tail] string triples")
            out[name] = [[clip(part, MAX_KNOWLEDGE_CHARS) for part in t] for t in value]
        elif name == "qc_grounded" and not isinstance(value, bool):
            raise ValueError(f"{where}: field 'qc_grounded' must be true or false, got {_kind(value)}")
    return out


_QUESTION_KNOWLEDGE = ("qc_meaning", "qc_grounded")
_CHOICE_KNOWLEDGE = ("ac_meaning", "triple", "surface", "weight", "retrieval", "relations")


def _choices_from_list(items: Any) -> list[Choice]:
    if not isinstance(items, list):
        raise ValueError("field 'choices' must be a list")
    if len(items) > len(LABELS):
        raise ValueError(f"at most {len(LABELS)} choices are supported, got {len(items)}")
    choices = []
    for position, item in enumerate(items):
        if isinstance(item, str):  # as the object form's text: not empty
            if not item.strip():
                raise ValueError(f"choice {position + 1} must be a non-empty string")
            choices.append(Choice(LABELS[position], item))
        elif isinstance(item, dict):
            knowledge = {k: v for k, v in item.items() if k not in ("label", "text")}
            knowledge = _knowledge(knowledge, f"choice {position + 1}", _CHOICE_KNOWLEDGE)
            choices.append(Choice(_label(item.get("label"), position), _text(item, "text"), knowledge))
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


def _answer_label(value: Any, choices: list[Choice], key: str) -> str | None:
    """The label of the answer, or ``None`` when there is none.

    Args:
        value: the answer as read.
        choices: the record's choices.
        key: the field it was read from: ``answerKey`` is always a label (its string form is compared with the
            labels); the plain layout's ``answer`` is a label, a choice text or a 0-based index.
    """
    labels = [c.label for c in choices]
    shown = ", ".join(map(_show, labels))
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # columnar readers turn integer columns with gaps into floats
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        kinds = "a label" if key == "answerKey" else "a label, a choice text or a 0-based index"
        raise ValueError(f"{key} {_show(value)} is not {kinds}")
    if key == "answerKey":
        if str(value) in labels:
            return str(value)
        raise ValueError(f"answer {_show(value)} is not one of the labels {shown} (answerKey is always a label)")
    if isinstance(value, int):
        if not 0 <= value < len(choices):
            raise ValueError(f"answer index {value} is out of range for {len(choices)} choices")
        return labels[value]
    if value in labels:
        return value
    for choice in choices:
        if choice.text.strip().lower() == value.strip().lower():
            return choice.label
    raise ValueError(f"answer {_show(value)} is not one of the labels {shown} nor a choice text")


def record_from_dict(obj: Any) -> Record:
    """Build a :class:`Record` from one object of any supported layout; ``ValueError`` says what is wrong.

    Texts longer than the limits of this module are cut (see :data:`MAX_QUESTION_CHARS`); knowledge fields of
    the wrong type are errors.

    Args:
        obj: one parsed JSON object (or dataset row).
    """
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object (a record), got {_kind(obj)}")
    question = obj.get("question")
    if isinstance(question, dict):  # official CommonsenseQA, or KEAR with knowledge fields
        stem = _text(question, "stem")
        choices = _choices_from_list(question.get("choices"))
        concept = question.get("question_concept")
        knowledge = {k: v for k, v in question.items() if k not in ("stem", "choices", "question_concept")}
        knowledge = _knowledge(knowledge, "question", _QUESTION_KNOWLEDGE)
        answer, answer_key = obj.get("answerKey"), "answerKey"
        known = ("id", "question", "answerKey")
    elif isinstance(question, str):
        stem = _text(obj, "question")
        raw = obj.get("choices")
        choices = _choices_from_columns(raw) if isinstance(raw, dict) else _choices_from_list(raw)
        concept = obj.get("question_concept")
        knowledge = {}
        answer_key = "answerKey" if "answerKey" in obj else "answer"
        answer = obj.get(answer_key)
        known = ("id", "question", "question_concept", "choices", "answerKey", "answer")
    elif question is None:  # name what the object holds: a file of other JSON objects says so at once
        fields = ", ".join(_show(key, 30) for key in list(obj)[:5]) or "none"
        raise ValueError(f"missing field 'question' (the JSON object's fields: {fields})")
    else:
        raise ValueError("field 'question' has a bad type")
    if len(choices) < 2:
        raise ValueError(f"a record needs at least 2 choices, got {len(choices)}")
    labels = [c.label for c in choices]
    if len(set(labels)) != len(labels):
        raise ValueError(f"duplicate choice labels {', '.join(map(_show, labels))}")
    if concept is not None and not isinstance(concept, str):
        raise ValueError("field 'question_concept' must be a string")
    record_id = _text(obj, "id")
    answer = _answer_label(answer, choices, answer_key)  # before the cut: a plain answer may be a choice's text
    for choice in choices:
        choice.text = clip(choice.text, MAX_CHOICE_CHARS, keep_end=True)
    record = Record(
        id=record_id,
        question=clip(stem, MAX_QUESTION_CHARS, keep_end=True),
        choices=choices,
        question_concept=clip(concept, MAX_CONCEPT_CHARS) if concept else None,
        answer=answer,
        knowledge=knowledge,
        extra={k: v for k, v in obj.items() if k not in known},
    )
    try:  # what cannot be written back would fail at the end of a run instead of here
        orjson.dumps(record.to_dict())
    except TypeError as error:  # orjson.JSONEncodeError
        reason = "nested too deeply" if "recursion" in str(error).lower() else str(error)
        raise ValueError(f"a field cannot be written back as JSON ({reason})") from None
    return record


def _place(where: int | str) -> str:
    """Where an object was, for messages: ``line 3``, ``item 2``, ``row 5``."""
    return f"line {where}" if isinstance(where, int) else str(where)


def _from_objects(
    objects: Iterable[tuple[int | str, Any]], name: str, policy: ErrorPolicy, num_choices: int | None = None
) -> Iterator[Record]:
    """Records from parsed objects, each with where it was (a line number, ``item N`` or ``row N``).

    Ids must be unique: a repeated id is invalid at its second occurrence. Only a digest of each id and where it
    was are kept (not the records), so the check streams in memory that does not grow with the texts.
    """
    seen: dict[bytes, int | str] = {}
    for where, obj in objects:
        try:
            record = obj if isinstance(obj, Record) else record_from_dict(obj)
            if num_choices is not None and len(record.choices) != num_choices:
                raise ValueError(f"expected {num_choices} choices, got {len(record.choices)}")
            digest = hashlib.blake2b(record.id.encode("utf-8", "surrogatepass"), digest_size=16).digest()
            first = seen.setdefault(digest, where)
            if first != where:
                raise ValueError(f"duplicate id {_show(record.id)} (first on {_place(first)})")
        except (ValueError, KeyError, TypeError) as error:
            policy.handle(DataError(name, where, str(error)))
            continue
        yield record


def _is_json_list(path: Path) -> bool:
    """Whether a file is one JSON list of records (KEAR's layout) rather than JSON lines.

    A ``.jsonl`` file is always lines, so that a line holding a list is reported at its line; other files are
    lists when they begin with ``[``.
    """
    if path.name.endswith((".jsonl", ".jsonl.gz")):
        return False
    with open_binary(path) as handle:
        head = handle.read(64).removeprefix(codecs.BOM_UTF8).lstrip()
    return head.startswith(b"[")


def _json_list_items(path: Path) -> Iterator[tuple[str, Any]]:
    with open_binary(path) as handle:
        data = handle.read().removeprefix(codecs.BOM_UTF8)  # as some editors save UTF-8
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
        raise KearError(f"{source}: cannot load dataset: {first_line(error)}{hint}") from None
    for position, row in enumerate(data, start=1):
        yield f"row {position}", row


def read_records(
    source: str | Path | Iterable[Any],
    *,
    split: str | None = None,
    policy: ErrorPolicy | None = None,
    num_choices: int | None = None,
) -> Iterator[Record]:
    """Read records from a file, a dataset folder, a Hub dataset id or data in memory, in any supported layout.

    Args:
        source: a ``.jsonl``/``.json`` file (optionally ``.gz``), ``-`` for stdin, a ``.parquet`` file, a folder
            written by ``datasets.save_to_disk`` or holding a Hub dataset's files, a Hub id such as
            ``tau/commonsense_qa`` (needs network, or the ``datasets`` cache); or, from Python, a
            ``datasets.Dataset``, a list (any iterable) of dicts in any supported layout, or of records.
        split: the split to read from a dataset folder or Hub id (default ``validation``).
        policy: what to do with invalid lines (stop by default).
        num_choices: if set, a record with another number of choices is invalid.

    A source that holds no (valid) record is a :class:`DataError` once it has been read: an empty input is a
    mistake, and must not, say, replace an earlier output with nothing. Data in memory is named in errors by its
    type and each item by its position (``list of dicts, item 3: ...``).
    """
    policy = policy or ErrorPolicy()
    if not isinstance(source, (str, Path)):
        objects, name = _in_memory(source)
        yield from _counted(_from_objects(objects, name, policy, num_choices), name, policy)
        return
    name = str(source)
    path = Path(source)
    if name == "-":
        objects, name = iter_json_lines("-", policy), "<stdin>"
    elif path.is_dir() or path.suffix in (".parquet", ".arrow"):
        objects = _dataset_rows(name, split)
    elif path.is_file():
        objects = _json_list_items(path) if _is_json_list(path) else iter_json_lines(path, policy)
    elif path.exists():  # a pipe, a device, process substitution (/dev/fd/N): JSON lines, read as they come
        objects = iter_json_lines(path, policy)
    elif looks_like_hub_id(name) and not name.endswith((".json", ".jsonl")):
        objects = _dataset_rows(name, split)
    else:
        raise DataError(name, None, "no such file")
    yield from _counted(_from_objects(objects, name, policy, num_choices), name, policy)


def as_records(items: Iterable[Any]) -> Iterator[Record]:
    """Records from what Python code holds: records (yielded as they are, so knowledge is added to them in place),
    dicts in any supported layout, or a ``datasets.Dataset``. A bad item is a one-line :class:`DataError` naming
    its position; none at all is no error here (:func:`read_records` refuses an empty input).
    """
    objects, name = _in_memory(items)
    return _from_objects(objects, name, ErrorPolicy())


def _counted(records: Iterator[Record], name: str, policy: ErrorPolicy) -> Iterator[Record]:
    """``records``, then a :class:`DataError` if there was none (an empty input is a mistake)."""
    skipped, count = policy.skipped, 0
    for record in records:
        count += 1
        yield record
    if not count:
        invalid = policy.skipped - skipped
        raise DataError(name, None, f"holds no valid records ({invalid} skipped)" if invalid else "holds no records")


def _in_memory(source: Any) -> tuple[Iterator[tuple[str, Any]], str]:
    """The items of data given from Python (a ``datasets.Dataset``, dicts, records), each with its position, and
    the name errors give the data.

    Raises:
        DataError: data of no kind that holds records (a ``DatasetDict``: pick a split; a dict; a number...).
    """
    kind = type(source).__name__
    if kind in ("DatasetDict", "IterableDatasetDict"):
        splits = ", ".join(repr(name) for name in source)
        raise DataError(f"<{kind}>", None, f"holds splits ({splits}): give one of them, e.g. data['validation']")
    if isinstance(source, (dict, bytes)) or not isinstance(source, Iterable):
        raise DataError(f"<{kind}>", None, "expected records: a file, a datasets.Dataset, or a list of dicts")
    name = "<Dataset>" if kind in ("Dataset", "IterableDataset") else f"<{kind} of records>"

    def items() -> Iterator[tuple[str, Any]]:
        for position, item in enumerate(source, start=1):
            yield f"item {position}", item

    return items(), name


RECORDS = "records"  # the kind of output record files are (retrieval.outputs)


def write_records(path: str | Path, records: Iterable[Record], *, overwrite: bool = False) -> int:
    """Write records as JSONL, atomically (``-`` writes to stdout). Returns how many were written.

    An existing file is replaced only if kear wrote it as records, or with ``overwrite`` (:mod:`retrieval.outputs`).
    """
    return write_json_lines(path, (record.to_dict() for record in records), kind=RECORDS, overwrite=overwrite)
