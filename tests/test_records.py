from __future__ import annotations

import codecs
import io
import json
import re
from pathlib import Path

import pytest

from retrieval import DataError, ErrorPolicy, read_records, record_from_dict, write_records
from retrieval.data import sample_file

from .conftest import REFERENCE, needs_reference, write_lines

OFFICIAL = {
    "answerKey": "B",
    "id": "q1",
    "question": {
        "question_concept": "bird",
        "choices": [
            {"label": "A", "text": "bark"},
            {"label": "B", "text": "fly"},
            {"label": "C", "text": "swim"},
        ],
        "stem": "What can birds do?",
    },
}
HUB = {
    "id": "q1",
    "question": "What can birds do?",
    "question_concept": "bird",
    "choices": {"label": ["A", "B", "C"], "text": ["bark", "fly", "swim"]},
    "answerKey": "B",
}
PLAIN = {"id": "q1", "question": "What can birds do?", "choices": ["bark", "fly", "swim"], "answer": "fly"}


@pytest.mark.parametrize("obj", [OFFICIAL, HUB, PLAIN], ids=["official", "hub", "plain"])
def test_every_layout_reads_into_the_same_record(obj: dict) -> None:
    record = record_from_dict(obj)
    assert record.id == "q1"
    assert record.question == "What can birds do?"
    assert [(c.label, c.text) for c in record.choices] == [("A", "bark"), ("B", "fly"), ("C", "swim")]
    assert record.answer == "B"
    assert record.answer_index == 1 and record.answer_text == "fly"


def test_plain_answers_may_be_label_text_or_index_and_concept_is_optional() -> None:
    assert record_from_dict({**PLAIN, "answer": "C"}).answer == "C"
    assert record_from_dict({**PLAIN, "answer": 0}).answer == "A"
    assert record_from_dict({**PLAIN, "answer": "FLY"}).answer == "B"
    assert record_from_dict(PLAIN).question_concept is None
    assert record_from_dict({**PLAIN, "question_concept": "bird"}).question_concept == "bird"
    assert record_from_dict({k: v for k, v in PLAIN.items() if k != "answer"}).answer is None


def test_hub_test_split_has_an_empty_answer() -> None:
    assert record_from_dict({**HUB, "answerKey": ""}).answer is None


def test_any_number_of_choices_from_two() -> None:
    assert len(record_from_dict({**PLAIN, "choices": ["yes", "no"], "answer": 1}).choices) == 2
    eight = [f"c{i}" for i in range(8)]
    assert record_from_dict({**PLAIN, "choices": eight, "answer": 7}).answer == "H"
    with pytest.raises(ValueError, match="at least 2 choices"):
        record_from_dict({**PLAIN, "choices": ["only"], "answer": 0})


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({**PLAIN, "answer": "Z"}, "not one of the labels"),
        ({**PLAIN, "answer": 5}, "out of range"),
        ({k: v for k, v in PLAIN.items() if k != "id"}, "missing field 'id'"),
        ({"id": "x", "choices": ["a", "b"]}, "missing field 'question'"),
        ({**HUB, "choices": {"label": ["A"], "text": ["a", "b"]}}, "1 labels but 2 texts"),
        (
            {**OFFICIAL, "question": {**OFFICIAL["question"], "choices": [{"label": "A", "text": "x"}] * 2}},
            "duplicate",
        ),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_bad_records_say_what_is_wrong(obj: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        record_from_dict(obj)


def test_knowledge_fields_round_trip_in_kear_places(tmp_path: Path) -> None:
    obj = json.loads(json.dumps(OFFICIAL))
    obj["initial_id"] = 7
    obj["question"]["qc_meaning"] = "bird: an animal"
    obj["question"]["choices"][1].update(triple=[["bird", "CapableOf", "fly"]], surface="", weight=2.0)
    record = record_from_dict(obj)
    assert record.knowledge == {"qc_meaning": "bird: an animal"}
    assert record.choices[1].knowledge["weight"] == 2.0
    assert record.extra == {"initial_id": 7}
    assert record.to_dict() == obj
    out = tmp_path / "out.jsonl"
    write_records(out, [record])
    assert next(read_records(out)).to_dict() == obj


def test_jsonl_errors_name_file_and_line(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "bad.jsonl", [json.dumps(PLAIN), "", "{not json", json.dumps({**PLAIN, "answer": "Q"})]
    )
    with pytest.raises(DataError, match=r"bad\.jsonl:3: invalid JSON"):
        list(read_records(path))
    policy = ErrorPolicy(skip_invalid=True)
    assert [r.id for r in read_records(path, policy=policy)] == ["q1"]
    assert policy.skipped == 2
    assert "bad.jsonl:4: answer 'Q'" in policy.examples[1]


def test_kear_json_list_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text(json.dumps([OFFICIAL, {**OFFICIAL, "id": "q2"}]), encoding="utf-8")
    assert [r.id for r in read_records(path)] == ["q1", "q2"]
    path.write_text(json.dumps([OFFICIAL, {"id": "x"}]), encoding="utf-8")
    with pytest.raises(DataError, match=r"data\.json:item 2: missing field 'question'"):
        list(read_records(path))
    path.write_text('[\n{"id": 1},\n{oops}\n]', encoding="utf-8")
    with pytest.raises(DataError, match=r"data\.json:3: invalid JSON"):
        list(read_records(path))


def test_gzipped_jsonl_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    path = tmp_path / "q.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(json.dumps(HUB) + "\n")
    assert next(read_records(path)).answer == "B"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO((json.dumps(PLAIN) + "\n").encode())))
    assert next(read_records("-")).id == "q1"


def test_hub_schema_through_datasets_from_local_files(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    rows = [HUB, {**HUB, "id": "q2", "answerKey": ""}]
    data = datasets.Dataset.from_list(rows)
    data.to_parquet(str(tmp_path / "validation.parquet"))
    assert [r.answer for r in read_records(tmp_path / "validation.parquet")] == ["B", None]
    datasets.DatasetDict({"validation": data, "train": data}).save_to_disk(str(tmp_path / "saved"))
    assert [r.id for r in read_records(tmp_path / "saved", split="train")] == ["q1", "q2"]
    hub_folder = tmp_path / "commonsense_qa" / "data"
    hub_folder.mkdir(parents=True)
    data.to_parquet(str(hub_folder / "validation-00000-of-00001.parquet"))
    assert len(list(read_records(tmp_path / "commonsense_qa", split="validation"))) == 2


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        list(read_records(tmp_path / "absent.jsonl"))


def test_bundled_sample_reads() -> None:
    records = list(read_records(sample_file("questions.jsonl")))
    assert len(records) == 12 and all(r.answer and r.question_concept for r in records)
    assert len(list(read_records(sample_file("train.jsonl")))) == 24


@needs_reference
def test_reference_kear_json_reads() -> None:
    records = list(read_records(REFERENCE / "dev.json"))
    assert len(records) == 1221
    first = records[0]
    assert first.question_concept == "revolving door" and first.answer == "A"
    assert first.knowledge["qc_meaning"].startswith("revolving door:")
    assert first.choices[0].knowledge["triple"] == [["revolving door", "AtLocation", "bank"]]
    assert first.extra == {"initial_id": 0}


def test_without_knowledge_is_a_clean_copy() -> None:
    obj = json.loads(json.dumps(OFFICIAL))
    obj["question"]["qc_meaning"] = "bird: an animal"
    obj["question"]["choices"][0]["triple"] = []
    record = record_from_dict(obj)
    plain = record.without_knowledge()
    assert plain.knowledge == {} and all(c.knowledge == {} for c in plain.choices)
    assert (plain.id, plain.question, plain.answer, plain.labels) == (record.id, record.question, "B", record.labels)
    assert record.knowledge and record.choices[0].knowledge  # the original keeps its knowledge


# ---------------------------------------------------------------------------------------- texts cut at read time


def test_oversized_texts_are_cut_when_read_and_nothing_else_changes(tmp_path: Path) -> None:
    """A record of a few MB: each text is cut to its limit as it is read (no error); the rest is as it was."""
    from retrieval.records import (
        MAX_CHOICE_CHARS,
        MAX_CONCEPT_CHARS,
        MAX_EXAMPLES,
        MAX_KNOWLEDGE_CHARS,
        MAX_QUESTION_CHARS,
    )

    obj = json.loads(json.dumps(OFFICIAL))
    obj["initial_id"] = 7
    question = obj["question"]
    question["stem"] = "start " + "word " * 400_000 + "what can birds do?"  # 2 MB
    question["question_concept"] = "bird " + "x" * 500_000
    question["qc_meaning"] = "bird: " + "an animal " * 100_000
    question["choices"][0]["text"] = "first " + "bark " * 300_000 + "last"
    question["choices"][1].update(
        triple=[["bird", "CapableOf", "fly " * 100_000]],
        surface="s" * 100_000,
        weight=2.0,
        ac_meaning="fly: " + "to move " * 50_000,
        retrieval=["a question and its answer " * 200] * 600,  # 3 MB of examples
    )
    path = tmp_path / "big.jsonl"
    write_lines(path, [json.dumps(obj)])
    assert path.stat().st_size > 8_000_000

    (record,) = read_records(path)
    assert MAX_QUESTION_CHARS - 100 <= len(record.question) <= MAX_QUESTION_CHARS
    assert record.question.endswith("what can birds do?")  # the question keeps its end, as the input builder does
    assert not record.question.startswith(" ")  # cut at a word boundary
    bark = record.choices[0].text
    assert MAX_CHOICE_CHARS - 100 <= len(bark) <= MAX_CHOICE_CHARS and bark.endswith("bark last")
    assert record.question_concept.startswith("bird x") and len(record.question_concept) == MAX_CONCEPT_CHARS
    assert record.knowledge["qc_meaning"].startswith("bird: an animal")  # knowledge keeps its start
    assert len(record.knowledge["qc_meaning"]) <= MAX_KNOWLEDGE_CHARS
    fly = record.choices[1].knowledge
    assert len(fly["triple"][0][2]) <= MAX_KNOWLEDGE_CHARS and fly["triple"][0][:2] == ["bird", "CapableOf"]
    assert len(fly["surface"]) == MAX_KNOWLEDGE_CHARS and len(fly["ac_meaning"]) <= MAX_KNOWLEDGE_CHARS
    assert len(fly["retrieval"]) == MAX_EXAMPLES and all(len(t) <= MAX_KNOWLEDGE_CHARS for t in fly["retrieval"])
    # the record's other fields are unchanged
    assert (record.id, record.answer, record.labels, record.extra) == ("q1", "B", ["A", "B", "C"], {"initial_id": 7})
    assert [c.text for c in record.choices[1:]] == ["fly", "swim"] and fly["weight"] == 2.0


def test_texts_within_the_limits_are_untouched() -> None:
    from retrieval.records import MAX_CHOICE_CHARS, MAX_QUESTION_CHARS, clip

    question = "q" * MAX_QUESTION_CHARS
    record = record_from_dict({**PLAIN, "question": question, "choices": ["c" * MAX_CHOICE_CHARS, "b"], "answer": 1})
    assert record.question == question and len(record.choices[0].text) == MAX_CHOICE_CHARS
    assert clip("one two three", 9) == "one two" and clip("one two three", 9, keep_end=True) == "two three"
    assert clip("one two three", 8) == "one two" and clip("one two three", 7, keep_end=True) == "three"
    assert clip("abcdefghij", 4) == "abcd" and clip("abcdefghij", 4, keep_end=True) == "ghij"  # no space near


def test_a_plain_answer_given_as_a_long_choice_text_is_found_before_the_cut() -> None:
    long = "a very long answer " * 1_000
    record = record_from_dict({**PLAIN, "choices": ["short", long], "answer": long})
    assert record.answer == "B" and len(record.choices[1].text) < len(long)


# ------------------------------------------------------------------------------------------ knowledge field types


KNOWLEDGE_OK = [
    ("question", {"qc_meaning": None}),
    ("question", {"qc_meaning": "bird: an animal", "qc_grounded": True}),
    ("choice", {"ac_meaning": None, "triple": [], "surface": "", "weight": 0}),
    ("choice", {"triple": [["bird", "CapableOf", "fly"]], "weight": 2.5, "retrieval": []}),
    ("choice", {"retrieval": ["q a", "q b"], "anything_else": {"nested": [1, {"x": None}]}}),
]
KNOWLEDGE_BAD = [
    ("question", {"qc_meaning": 5}, "qc_meaning"),
    ("question", {"qc_meaning": ["bird: an animal"]}, "qc_meaning"),
    ("question", {"qc_grounded": "yes"}, "qc_grounded"),
    ("choice", {"ac_meaning": ["fly: to move"]}, "ac_meaning"),
    ("choice", {"ac_meaning": {"fly": "to move"}}, "ac_meaning"),
    ("choice", {"triple": "x"}, "triple"),
    ("choice", {"triple": ["bird", "CapableOf", "fly"]}, "triple"),  # one triple, not a list of them
    ("choice", {"triple": [["bird", "CapableOf"]]}, "triple"),
    ("choice", {"triple": [["bird", "CapableOf", 3]]}, "triple"),
    ("choice", {"triple": [[["deep"], "CapableOf", "fly"]]}, "triple"),
    ("choice", {"triple": None}, "triple"),
    ("choice", {"surface": 3}, "surface"),
    ("choice", {"weight": "heavy"}, "weight"),
    ("choice", {"weight": True}, "weight"),
    ("choice", {"weight": None}, "weight"),
    ("choice", {"retrieval": {"a": 1}}, "retrieval"),
    ("choice", {"retrieval": "one text"}, "retrieval"),
    ("choice", {"retrieval": ["ok", 2]}, "retrieval"),
    ("choice", {"retrieval": [["nested"]]}, "retrieval"),
]


def _with_knowledge(place: str, fields: dict) -> dict:
    obj = json.loads(json.dumps(OFFICIAL))
    target = obj["question"] if place == "question" else obj["question"]["choices"][1]
    target.update(fields)
    return obj


@pytest.mark.parametrize(("place", "fields"), KNOWLEDGE_OK)
def test_knowledge_fields_of_the_right_types_are_read(place: str, fields: dict) -> None:
    record = record_from_dict(_with_knowledge(place, fields))
    assert (record.knowledge if place == "question" else record.choices[1].knowledge) == fields


@pytest.mark.parametrize(("place", "fields", "name"), KNOWLEDGE_BAD)
def test_knowledge_fields_of_the_wrong_type_are_errors(place: str, fields: dict, name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{'question' if place == 'question' else 'choice 2'}: field '{name}'"):
        record_from_dict(_with_knowledge(place, fields))


def test_knowledge_that_passes_the_reader_builds_inputs() -> None:
    """Every shape the reader lets through is one the input builder can use."""
    from kear.inputs import InputConfig, choice_texts

    for place, fields in KNOWLEDGE_OK:
        record = record_from_dict(_with_knowledge(place, fields))
        for first, pieces in choice_texts(record, InputConfig()):
            assert isinstance(first, str) and all(isinstance(piece, str) for piece in pieces)


def test_knowledge_type_errors_name_file_and_line_or_are_skipped(tmp_path: Path) -> None:
    rows = [_with_knowledge(place, fields) for place, fields, _ in KNOWLEDGE_BAD]
    rows = [{**row, "id": f"q{n}"} for n, row in enumerate([OFFICIAL, *rows])]
    deep = {**OFFICIAL, "id": "deep", "extra": json.loads("[" * 300 + "]" * 300)}  # nested garbage
    path = write_lines(tmp_path / "knowledge.jsonl", [json.dumps(row) for row in [*rows, deep]])
    with pytest.raises(DataError) as caught:
        list(read_records(path))
    message = str(caught.value)
    assert (
        message.startswith(f"{path}:2: question: field 'qc_meaning' must be a string or null") and "\n" not in message
    )
    policy = ErrorPolicy(skip_invalid=True)
    assert [r.id for r in read_records(path, policy=policy)] == ["q0"]
    assert policy.skipped == len(KNOWLEDGE_BAD) + 1
    assert policy.examples[2] == f"{path}:4: question: field 'qc_grounded' must be true or false, got a string"
    deep_path = write_lines(tmp_path / "deep.jsonl", [json.dumps(deep)])
    with pytest.raises(
        DataError, match=r"deep\.jsonl:1: a field cannot be written back as JSON \(nested too deeply\)$"
    ):
        list(read_records(deep_path))


# ---------------------------------------------------------------------------------------------------- unique ids


def test_a_repeated_id_is_an_error_at_its_second_line(tmp_path: Path) -> None:
    rows = [{**PLAIN, "id": "q1"}, {**PLAIN, "id": "q2"}, "", {**PLAIN, "id": "q1"}, {**PLAIN, "id": 2}]
    path = write_lines(tmp_path / "dup.jsonl", [json.dumps(row) if row else "" for row in rows])
    with pytest.raises(DataError) as caught:
        list(read_records(path))
    assert str(caught.value) == f"{path}:4: duplicate id 'q1' (first on line 1)"
    policy = ErrorPolicy(skip_invalid=True)
    assert [r.id for r in read_records(path, policy=policy)] == ["q1", "q2", "2"]
    assert policy.skipped == 1


def test_a_repeated_id_in_a_json_list_names_both_items(tmp_path: Path) -> None:
    path = tmp_path / "dup.json"
    path.write_text(json.dumps([OFFICIAL, {**OFFICIAL, "id": "q2"}, OFFICIAL]), encoding="utf-8")
    with pytest.raises(DataError, match=r"^.*dup\.json:item 3: duplicate id 'q1' \(first on item 1\)$"):
        list(read_records(path))


def test_an_id_of_an_invalid_line_is_not_taken(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "ids.jsonl", [json.dumps({**PLAIN, "answer": "Z"}), json.dumps(PLAIN)])
    policy = ErrorPolicy(skip_invalid=True)
    assert [r.id for r in read_records(path, policy=policy)] == ["q1"] and policy.skipped == 1


# ------------------------------------------------------------------------------------------------ labels, answers


def test_answer_key_is_a_label_whatever_its_json_type() -> None:
    numbered = {
        "id": "n",
        "answerKey": 1,
        "question": {"stem": "q?", "choices": [{"label": "1", "text": "milk"}, {"label": "2", "text": "attic"}]},
    }
    record = record_from_dict(numbered)
    assert (record.answer, record.answer_index) == ("1", 0)
    numbered["question"]["choices"] = [{"label": 1, "text": "milk"}, {"label": 2, "text": "attic"}]
    assert record_from_dict({**numbered, "answerKey": 2}).answer == "2"
    assert record_from_dict({**numbered, "answerKey": "2"}).answer == "2"
    hub = {**HUB, "choices": {"label": ["1", "2", "3"], "text": ["bark", "fly", "swim"]}, "answerKey": 3}
    assert record_from_dict(hub).answer == "3"
    with pytest.raises(
        ValueError, match=r"^answer '0' is not one of the labels '1', '2' \(answerKey is always a label\)$"
    ):
        record_from_dict({**numbered, "answerKey": 0})
    with pytest.raises(ValueError, match="answer 'fly' is not one of the labels"):  # a label, never a text
        record_from_dict({**HUB, "answerKey": "fly"})


def test_only_the_plain_answer_may_be_an_index() -> None:
    numbered = {**PLAIN, "choices": ["bark", "fly", "swim"]}
    assert record_from_dict({**numbered, "answer": 1}).answer == "B"  # 0-based index
    assert record_from_dict({**numbered, "answer": 1.0}).answer == "B"  # an integer column read as floats
    hub_like = {**HUB, "choices": {"label": ["1", "2", "3"], "text": ["bark", "fly", "swim"]}}
    assert record_from_dict({**{k: v for k, v in hub_like.items() if k != "answerKey"}, "answer": 1}).answer == "2"
    assert record_from_dict({**hub_like, "answerKey": 1}).answer == "1"


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({**OFFICIAL, "answerKey": True}, "answerKey 'True' is not a label"),
        ({**PLAIN, "answer": False}, "answer 'False' is not a label, a choice text or a 0-based index"),
        ({**PLAIN, "answer": 1.5}, "answer '1.5' is not a label"),
        ({**HUB, "answerKey": 1.5}, "answerKey '1.5' is not a label"),
        ({**PLAIN, "answer": ["B"]}, "answer"),
        ({**PLAIN, "answer": {"label": "B"}}, "answer"),
        ({**HUB, "choices": {"label": ["A", ""], "text": ["a", "b"]}}, "choice 2: empty label"),
        ({**HUB, "choices": {"label": ["A", "  "], "text": ["a", "b"]}}, "choice 2: empty label"),
        ({**HUB, "choices": {"label": ["A", True], "text": ["a", "b"]}}, "choice 2: label must be a string or"),
        ({**HUB, "choices": {"label": ["A", ["B"]], "text": ["a", "b"]}}, "choice 2: label must be a string or"),
        ({**PLAIN, "choices": [{"label": {"x": 1}, "text": "a"}, "b"]}, "choice 1: label must be a string or"),
    ],
)
def test_bad_answers_and_labels_are_one_line_errors(obj: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        record_from_dict(obj)
    path = write_lines(tmp_path / "bad.jsonl", [json.dumps(obj)])
    with pytest.raises(DataError) as caught:
        list(read_records(path))
    assert str(caught.value).startswith(f"{path}:1: ") and "\n" not in str(caught.value)


def test_messages_quote_values_on_one_line() -> None:
    with pytest.raises(ValueError) as caught:
        record_from_dict({**PLAIN, "answer": "two\nlines" + "x" * 1000})
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 200


def test_a_jsonl_file_is_always_lines_and_a_json_file_may_be_a_list(tmp_path: Path) -> None:
    lines = write_lines(tmp_path / "in.jsonl", ["[1, 2]"])
    with pytest.raises(DataError, match=r"in\.jsonl:1: expected a JSON object \(a record\), got a list$"):
        list(read_records(lines))
    listed = tmp_path / "in.json"
    listed.write_bytes(codecs.BOM_UTF8 + json.dumps([OFFICIAL]).encode())  # as some editors save UTF-8
    assert [r.id for r in read_records(listed)] == ["q1"]
    other = write_lines(tmp_path / "other.json", [json.dumps({"records": []})])
    with pytest.raises(
        DataError, match=r"other\.json:1: missing field 'question' \(the JSON object's fields: 'records'\)"
    ):
        list(read_records(other))


def test_a_dataset_or_dicts_from_python_read_as_records() -> None:
    import datasets

    rows = [json.loads(line) for line in sample_file("questions.jsonl").read_text().splitlines()]
    expected = [r.to_dict() for r in read_records(sample_file("questions.jsonl"))]
    assert [r.to_dict() for r in read_records(rows)] == expected
    assert [r.to_dict() for r in read_records(datasets.Dataset.from_list(rows))] == expected
    hub = datasets.Dataset.from_list(  # the Hub schema of tau/commonsense_qa, as load_dataset gives it
        [{"id": "q1", "question": "Where?", "question_concept": "x", "answerKey": "B",
          "choices": {"label": ["A", "B"], "text": ["home", "sky"]}}]
    )  # fmt: skip
    [record] = read_records(hub)
    assert [c.text for c in record.choices] == ["home", "sky"] and record.answer_index == 1
    records = list(read_records(rows))
    assert all(a is b for a, b in zip(read_records(records), records))  # records stay themselves


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("dict", r"^<dict>: expected records: a file, a datasets.Dataset, or a list of dicts$"),
        ("splits", r"^<DatasetDict>: holds splits \('validation'\): give one of them, e.g. data\['validation'\]$"),
        ("bad item", r"^<list of records>:item 2: missing field 'question'"),
        ("empty", r"^<list of records>: holds no records$"),
    ],
)
def test_data_from_python_that_holds_no_records_is_one_line(data: str, message: str) -> None:
    import datasets

    good = {"id": "q1", "question": "Where?", "choices": ["home", "sky"]}
    given = {
        "dict": good,
        "splits": datasets.DatasetDict({"validation": datasets.Dataset.from_list([good])}),
        "bad item": [good, {"id": "q2"}],
        "empty": [],
    }[data]
    with pytest.raises(DataError, match=message):
        list(read_records(given))
