from __future__ import annotations

import io
import json
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
