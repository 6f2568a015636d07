from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
from pathlib import Path

import pytest
import torch

from kear.cli import main
from kear.inputs import InputConfig
from kear.modeling import load_model, save_model
from kear.prediction import predict_file
from kear.predictor import missing_sources
from retrieval import DataError, KearError, read_records
from retrieval.data import sample_file

from .conftest import write_lines


@pytest.fixture
def overrides(sample_config) -> list[str]:
    """Where the sample's indexes are: the tiny model was trained on records that already had knowledge."""
    return [
        f"conceptnet.index={sample_config.conceptnet.index}",
        f"dictionary.indexes=[{sample_config.dictionary.indexes[0]}]",
        f"examples.corpora=[{sample_file('train.jsonl')}]",
        f"cache_dir={sample_config.cache_dir}",
    ]


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def hub_row(record) -> dict:
    return {
        "id": record.id,
        "question": record.question,
        "question_concept": record.question_concept,
        "choices": {"label": record.labels, "text": [c.text for c in record.choices]},
        "answerKey": record.answer,
    }


def plain_row(record) -> dict:
    return {
        "id": record.id,
        "question": record.question,
        "question_concept": record.question_concept,
        "choices": [c.text for c in record.choices],
        "answer": record.answer_index,
    }


def test_every_input_format_gives_the_same_predictions(trained_model, sample_knowledge, overrides, tmp_path) -> None:
    expected = tmp_path / "expected.jsonl"
    report = predict_file(trained_model, sample_knowledge, expected, progress=False)
    assert report.written == 12 and report.accuracy is not None
    reference = [(row["id"], row["scores"]) for row in lines(expected)]
    records = list(read_records(sample_file("questions.jsonl")))
    sources = {
        "official": sample_file("questions.jsonl"),
        "hub": write_lines(tmp_path / "hub.jsonl", [json.dumps(hub_row(r)) for r in records]),
        "plain": write_lines(tmp_path / "plain.jsonl", [json.dumps(plain_row(r)) for r in records]),
        "kear-json": tmp_path / "kear.json",
    }
    sources["kear-json"].write_text(json.dumps([json.loads(x) for x in sample_knowledge.read_text().splitlines()]))
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list([hub_row(r) for r in records]).to_parquet(str(tmp_path / "hub.parquet"))
    sources["parquet"] = tmp_path / "hub.parquet"
    for name, source in sources.items():
        out = tmp_path / f"{name}.out.jsonl"
        predict_file(trained_model, source, out, retrieval_overrides=overrides, progress=False)
        got = [(row["id"], row["scores"]) for row in lines(out)]
        assert [i for i, _ in got] == [i for i, _ in reference], name
        for (_, a), (_, b) in zip(got, reference):
            assert a == pytest.approx(b, abs=1e-5), name


def test_line_format_and_knowledge(trained_model, sample_knowledge, overrides, tmp_path) -> None:
    out = tmp_path / "p.jsonl"
    predict_file(trained_model, sample_knowledge, out, with_knowledge=True, progress=False)
    row = lines(out)[0]
    assert row["prediction"] in row["labels"] and row["prediction_text"] in row["choices"]
    assert len(row["scores"]) == len(row["probabilities"]) == 5 and sum(row["probabilities"]) == pytest.approx(1)
    assert row["knowledge"]["choices"][0]["triple"] == [["milk", "AtLocation", "refrigerator"]]
    assert row["knowledge"]["question"]["qc_meaning"].startswith("milk:")
    assert "inputs" not in row  # only with log_inputs
    # knowledge retrieved on the fly is the knowledge shown
    raw = tmp_path / "raw.jsonl"
    predict_file(
        trained_model,
        sample_file("questions.jsonl"),
        raw,
        with_knowledge=True,
        retrieval_overrides=overrides,
        progress=False,
    )
    assert [r["knowledge"] for r in lines(raw)] == [r["knowledge"] for r in lines(out)]


def test_a_stopped_run_continues_without_losing_or_repeating_lines(
    trained_model, sample_knowledge, tmp_path, monkeypatch
) -> None:
    whole = tmp_path / "whole.jsonl"
    at_once = predict_file(trained_model, sample_knowledge, whole, progress=False)
    out = tmp_path / "out.jsonl"
    from kear.predictor import Predictor

    real, calls = Predictor.predict, []

    def dies_on_the_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(Predictor, "predict", dies_on_the_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        predict_file(trained_model, sample_knowledge, out, chunk=4, progress=False)
    monkeypatch.setattr(Predictor, "predict", real)
    assert len(lines(out)) == 4
    with open(out, "ab") as handle:  # a kill in the middle of a write leaves a torn line
        handle.write(b'{"id": "sample-dev-05", "predic')
    report = predict_file(trained_model, sample_knowledge, out, chunk=4, progress=False)
    assert (report.resumed, report.written) == (4, 8)
    assert out.read_text() == whole.read_text()
    assert report.accuracy == at_once.accuracy  # the earlier lines count too
    again = predict_file(trained_model, sample_knowledge, out, progress=False)
    assert (again.written, again.accuracy) == (0, at_once.accuracy)
    # a line kear recorded that is no longer a prediction line: one error line, and the file is left alone
    rows = out.read_text().splitlines()
    out.write_text("\n".join([rows[0], '{"id": "sample-dev-02", "labels": ["A", "B"]}', *rows[2:]]) + "\n")
    before = digest(out)
    with pytest.raises(KearError, match=r"out\.jsonl:2: not a prediction line \(missing field 'scores'\)"):
        predict_file(trained_model, sample_knowledge, out, progress=False)
    assert digest(out) == before


def test_a_run_stopped_before_its_first_lines_are_recorded_is_continued(
    trained_model, sample_knowledge, tmp_path, monkeypatch
) -> None:
    # a kill can land after the first chunk is on disk and before its record is: the next run must continue
    whole = tmp_path / "whole.jsonl"
    predict_file(trained_model, sample_knowledge, whole, progress=False)
    out = tmp_path / "out.jsonl"
    import kear.prediction as prediction

    def dies_once_the_lines_are_written(descriptor: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(prediction.os, "fsync", dies_once_the_lines_are_written)
    with pytest.raises(KeyboardInterrupt):
        predict_file(trained_model, sample_knowledge, out, chunk=4, progress=False)
    monkeypatch.undo()
    assert len(lines(out)) == 4  # on disk, never recorded
    report = predict_file(trained_model, sample_knowledge, out, chunk=4, progress=False)
    assert (report.resumed, report.written) == (0, 12)
    assert out.read_text() == whole.read_text()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_output_from_other_records_is_refused(trained_model, sample_knowledge, tmp_path) -> None:
    # the same input file, whose records changed since the predictions were written
    source = tmp_path / "questions.jsonl"
    source.write_text(sample_knowledge.read_text())
    out = tmp_path / "out.jsonl"
    predict_file(trained_model, source, out, progress=False)
    before = digest(out)
    rows = [json.loads(line) for line in source.read_text().splitlines()]
    rows[0]["id"] = "someone-else"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(KearError, match=r"out\.jsonl:1: holds a prediction for 'sample-dev-01' but the input has"):
        predict_file(trained_model, source, out, progress=False)
    assert digest(out) == before


def test_an_output_kear_did_not_write_for_this_run_is_left_alone(trained_model, sample_knowledge, tmp_path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("first line\nlast line without a newline")  # once, predict cut this last line off
    before = digest(notes)
    with pytest.raises(KearError, match=r"notes\.txt: exists and kear did not write it; give --overwrite"):
        predict_file(trained_model, sample_knowledge, notes, progress=False)
    assert digest(notes) == before
    # another input, another model: neither appends to the other's predictions
    out = tmp_path / "out.jsonl"
    predict_file(trained_model, sample_knowledge, out, progress=False)
    before = digest(out)
    subset = write_lines(tmp_path / "subset.jsonl", sample_knowledge.read_text().splitlines()[:3])
    with pytest.raises(KearError, match=r"out\.jsonl: exists and it was written with another input; give --overwrite"):
        predict_file(trained_model, subset, out, progress=False)
    retrained = tmp_path / "other-model"
    shutil.copytree(trained_model, retrained)
    model, tokenizer = load_model(retrained)
    with torch.no_grad():
        model.scorer.bias += 1.0  # another model: its weights differ
    save_model(model, tokenizer, retrained)
    with pytest.raises(KearError, match=r"another model"):
        predict_file(retrained, sample_knowledge, out, progress=False)
    assert digest(out) == before
    # asked to, it replaces them; the same model's upload copy continues them
    assert predict_file(retrained, subset, out, progress=False, overwrite=True).written == 3
    assert len(lines(out)) == 3
    # the output may not be the input
    with pytest.raises(KearError, match=r"subset\.jsonl: is also an input"):
        predict_file(retrained, subset, subset, progress=False, overwrite=True)
    assert len(subset.read_text().splitlines()) == 3


def test_a_failed_start_leaves_no_output(trained_model, tmp_path) -> None:
    bad = write_lines(tmp_path / "bad.jsonl", ["{not json"])
    out = tmp_path / "out.jsonl"
    with pytest.raises(KearError, match=r"bad\.jsonl:1: invalid JSON"):
        predict_file(trained_model, bad, out, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]


def test_a_second_writer_of_one_output_fails_at_once(trained_model, sample_knowledge, tmp_path, capsys) -> None:
    from retrieval.outputs import output_lock

    out = tmp_path / "out.jsonl"
    predict_file(trained_model, sample_knowledge, out, chunk=4, progress=False)
    before = digest(out)
    with output_lock(out):  # a first run, still writing
        args = ["predict", "--model", str(trained_model), "--input", str(sample_knowledge), "--output", str(out)]
        assert main([*args, "--no-progress"]) == 1
    err = capsys.readouterr().err.splitlines()[-1]
    assert err == f"kear: error: {out}: another kear run is writing it; wait for it to end, or write elsewhere"
    assert digest(out) == before


def test_stdin_and_stdout(trained_model, sample_knowledge, monkeypatch, capsysbinary) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(sample_knowledge.read_bytes())))
    assert main(["predict", "--model", str(trained_model), "--input", "-", "--output", "-", "--no-progress"]) == 0
    rows = [json.loads(line) for line in capsysbinary.readouterr().out.splitlines()]
    assert len(rows) == 12 and rows[0]["id"] == "sample-dev-01"


def test_bad_input_keeps_the_lines_already_written(trained_model, sample_knowledge, tmp_path, capsys) -> None:
    good = sample_knowledge.read_text().splitlines()
    missing_field = json.loads(good[3])
    del missing_field["question"]["stem"]
    unknown_label = json.loads(good[3])
    unknown_label["answerKey"] = "Z"
    cases = {
        "{broken": "invalid JSON",
        json.dumps(missing_field): "missing field 'stem'",
        json.dumps(unknown_label): "answer 'Z' is not one of the labels",
    }
    for bad_line, message in cases.items():
        source = write_lines(tmp_path / "bad.jsonl", [*good[:3], bad_line, *good[4:]])
        out = tmp_path / "out.jsonl"
        out.unlink(missing_ok=True)
        assert (
            main(
                [
                    "predict",
                    "--model",
                    str(trained_model),
                    "--input",
                    str(source),
                    "--output",
                    str(out),
                    "--no-progress",
                ]
            )
            == 1
        )
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"kear: error: {source}:4: {message}") and "\n" not in err
        assert [row["id"] for row in lines(out)] == ["sample-dev-01", "sample-dev-02", "sample-dev-03"]


def test_a_model_folder_missing_files(trained_model, tmp_path, capsys) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((trained_model / "config.json").read_text())
    assert main(["predict", "--model", str(broken), "--input", "x.jsonl", "--output", "-", "--no-progress"]) == 1
    assert (
        capsys.readouterr().err.strip() == f"kear: error: {broken}: not a kear model folder (missing model.safetensors)"
    )


def test_records_without_knowledge_need_retrieval_settings(trained_model, tmp_path) -> None:
    with pytest.raises(
        KearError,
        match=r"lack knowledge the model uses \(conceptnet, dictionary, examples\).*conceptnet.index is not set",
    ):
        predict_file(trained_model, sample_file("questions.jsonl"), tmp_path / "o.jsonl", progress=False)
    records = list(read_records(sample_file("questions.jsonl")))
    assert missing_sources(records, InputConfig(knowledge=["triple"])) == ["conceptnet"]
    assert missing_sources(records, InputConfig(knowledge=[])) == []


def test_data_errors_are_data_errors() -> None:
    assert issubclass(DataError, KearError)


def test_predict_records_retrieves_knowledge_for_raw_records(
    trained_model, sample_knowledge, sample_config, overrides, tmp_path
) -> None:
    from dataclasses import asdict

    from kear import load_model, predict_records

    model, tokenizer = load_model(trained_model)
    with_knowledge = predict_records(model, tokenizer, read_records(sample_knowledge))

    def raw() -> list:
        records = list(read_records(sample_file("questions.jsonl")))
        assert not any(c.knowledge for r in records for c in r.choices)
        return records

    def same(predictions) -> None:
        assert [p.id for p in predictions] == [p.id for p in with_knowledge]
        for a, b in zip(predictions, with_knowledge):
            assert a.scores == pytest.approx(b.scores, abs=1e-5), a.id

    # the model's retrieval settings say where its knowledge comes from, as a model trained with
    # data.retrieve saves them: raw records get that knowledge, as kear predict gives it
    saved = model.config.retrieval
    model.config.retrieval = asdict(sample_config)
    records = raw()
    same(predict_records(model, tokenizer, records))
    assert records[0].choices[0].knowledge["triple"] == [["milk", "AtLocation", "refrigerator"]]  # added in place
    # settings that cannot work: one line saying why, never predictions made without the knowledge
    missing = [f"conceptnet.index={tmp_path / 'no-such-index'}"]
    with pytest.raises(
        KearError, match=r"lack knowledge the model uses \(conceptnet, dictionary, examples\).*not a ConceptNet index"
    ):
        predict_records(model, tokenizer, raw(), retrieval_overrides=missing)
    # this model's saved settings name no index (it was trained on records that had their knowledge already)
    model.config.retrieval = saved
    with pytest.raises(KearError, match=r"lack knowledge the model uses .*conceptnet.index is not set"):
        predict_records(model, tokenizer, raw())
    # where the indexes are, given as overrides
    same(predict_records(model, tokenizer, raw(), retrieval_overrides=overrides))
    # records that carry their knowledge need no retrieval settings at all
    same(predict_records(model, tokenizer, read_records(sample_knowledge), retrieval_overrides=missing))


def test_kear_evaluate_retrieves_like_predict_records(
    trained_model, sample_knowledge, overrides, tmp_path, capsys
) -> None:
    expected = tmp_path / "expected.jsonl"
    args = ["evaluate", "--model", str(trained_model), "--no-progress", "--output"]
    assert main([*args, str(expected), "--input", str(sample_knowledge)]) == 0
    raw = tmp_path / "raw.jsonl"
    assert main([*args, str(raw), "--input", str(sample_file("questions.jsonl")), *overrides]) == 0
    assert [r["id"] for r in lines(raw)] == [r["id"] for r in lines(expected)]
    for got, want in zip(lines(raw), lines(expected)):
        assert got["scores"] == pytest.approx(want["scores"], abs=1e-5)
    # without the indexes: one line, no traceback, nothing written
    failed = tmp_path / "failed.jsonl"
    assert main([*args, str(failed), "--input", str(sample_file("questions.jsonl"))]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kear: error: the records lack knowledge the model uses") and err.count("\n") == 1
    assert not failed.exists()


def test_scores_are_the_log_softmax_of_the_models_logits(trained_model, sample_knowledge, tmp_path) -> None:
    import torch

    from kear import encode_records, load_model, predict_records
    from kear.inputs import ChoiceCollator
    from kear.modeling import saved_inputs

    model, tokenizer = load_model(trained_model)
    records = list(read_records(sample_knowledge))
    batch = ChoiceCollator(tokenizer.pad_token_id)(list(encode_records(records, tokenizer, saved_inputs(model))))
    with torch.no_grad():
        batch.pop("labels")
        logits = model.eval()(**batch).logits.float()
    assert torch.logsumexp(logits, dim=-1).abs().min() > 1e-3  # logits are not log-probabilities themselves
    expected = torch.log_softmax(logits, dim=-1).tolist()
    out = tmp_path / "p.jsonl"
    predict_file(trained_model, sample_knowledge, out, progress=False)
    evaluated = tmp_path / "e.jsonl"
    args = ["evaluate", "--model", str(trained_model), "--input", str(sample_knowledge), "--output", str(evaluated)]
    assert main([*args, "--no-progress"]) == 0
    assert out.read_bytes() == evaluated.read_bytes()  # one line format, one writer
    in_memory = predict_records(model, tokenizer, records)
    for row, other, prediction, row_expected in zip(lines(out), lines(evaluated), in_memory, expected):
        assert row["scores"] == pytest.approx(row_expected, abs=1e-5)
        assert other["scores"] == pytest.approx(row["scores"], abs=1e-6)
        assert prediction.scores == pytest.approx(row["scores"], abs=1e-6)
        assert math.log(math.fsum(math.exp(s) for s in row["scores"])) == pytest.approx(0.0, abs=1e-9)
        assert row["probabilities"] == pytest.approx([math.exp(s) for s in row["scores"]])
        assert math.fsum(row["probabilities"]) == pytest.approx(1.0)


def test_overwrite_replaces_only_once_the_new_predictions_are_whole(trained_model, sample_knowledge, tmp_path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("someone else's predictions\n")
    rows = sample_knowledge.read_text().splitlines()
    broken = write_lines(tmp_path / "broken.jsonl", [*rows[:5], "{broken"])
    with pytest.raises(KearError, match=r"broken\.jsonl:6: invalid JSON"):
        predict_file(trained_model, broken, out, chunk=2, progress=False, overwrite=True)
    assert out.read_text() == "someone else's predictions\n"  # a failed run changed nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.jsonl", "out.jsonl"]
    assert predict_file(trained_model, sample_knowledge, out, progress=False, overwrite=True).written == 12
    assert len(lines(out)) == 12


def test_a_hard_linked_output_is_not_appended_to(trained_model, sample_knowledge, tmp_path) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("")
    os.link(precious, tmp_path / "p.jsonl")
    with pytest.raises(KearError, match="has other hard links"):
        predict_file(trained_model, sample_knowledge, tmp_path / "p.jsonl", progress=False)
    assert precious.read_text() == ""


def test_an_edited_input_is_not_continued(trained_model, sample_knowledge, tmp_path) -> None:
    source = write_lines(tmp_path / "in.jsonl", sample_knowledge.read_text().splitlines()[:6])
    out = tmp_path / "out.jsonl"
    predict_file(trained_model, source, out, progress=False)
    before = digest(out)
    rows = [json.loads(line) for line in source.read_text().splitlines()]
    rows[2]["question"]["stem"] = "A different question with the same id?"
    write_lines(source, [json.dumps(row) for row in rows] + sample_knowledge.read_text().splitlines()[6:])
    with pytest.raises(KearError, match=r"out\.jsonl: the input's first 6 records changed since they were predicted"):
        predict_file(trained_model, source, out, progress=False)
    assert digest(out) == before


def many_records(source: Path, count: int, path: Path) -> Path:
    """``count`` records made of the lines of ``source`` in turn, each with an id of its own."""
    rows = [json.loads(line) for line in source.read_text().splitlines()]
    with open(path, "w", encoding="utf-8") as out:
        for i in range(count):
            out.write(json.dumps({**rows[i % len(rows)], "id": f"q{i:05d}"}) + "\n")
    return path


def test_kear_predict_opens_each_source_once_for_a_file_of_many_chunks(
    trained_model, overrides, tmp_path, monkeypatch
) -> None:
    from .tracing import OPENED, opened, trace

    source = many_records(sample_file("questions.jsonl"), 600, tmp_path / "raw.jsonl")  # 3 chunks of 256
    trace(tmp_path / "trace.txt", monkeypatch.setattr)
    report = predict_file(trained_model, source, tmp_path / "out.jsonl", retrieval_overrides=overrides, progress=False)
    assert report.written == 600
    assert opened(tmp_path / "trace.txt") == {os.getpid(): dict.fromkeys(OPENED, 1)}


def test_log_inputs_holds_the_text_the_encoder_saw_per_choice(
    trained_model, sample_knowledge, tmp_path, capsys
) -> None:
    out = tmp_path / "p.jsonl"
    args = ["--model", str(trained_model), "--input", str(sample_knowledge), "--log-inputs", "--no-progress"]
    assert main(["predict", *args, "--output", str(out)]) == 0
    records = {record.id: record for record in read_records(sample_knowledge)}
    rows = lines(out)
    assert len(rows) == 12
    for row in rows:
        record = records[row["id"]]
        assert len(row["inputs"]) == len(record.choices)
        for text, choice in zip(row["inputs"], record.choices):
            # the pair as the tokenizer lays it out: special tokens, the question and this choice, then knowledge
            assert text.startswith(f"[CLS] {record.question} {choice.text}[SEP]"), text
            assert text.endswith("[SEP]")
    # evaluate adds them to the lines it writes; with no lines to add them to, it says so
    assert main(["evaluate", *args, "--output", str(tmp_path / "e.jsonl")]) == 0
    assert [row["inputs"] for row in lines(tmp_path / "e.jsonl")] == [row["inputs"] for row in rows]
    capsys.readouterr()
    assert main(["evaluate", *args]) == 1
    assert (
        capsys.readouterr().err
        == "kear: error: --log-inputs adds the encoder's inputs to the prediction lines: give --output too\n"
    )
