"""kear models in transformers: ``pipeline("kear-multiple-choice")`` and the Auto classes, whichever of kear and
transformers is imported first, answering as ``kear predict`` does (knowledge retrieved with the model's settings)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from transformers import pipeline

from kear import KearPipeline, Predictor, load_model, save_model
from kear.hf_pipeline import TASK, register_pipeline
from retrieval import KearError, RetrievalConfig, load_settings, read_records, record_from_dict
from retrieval.data import sample_file

# a fresh interpreter per import order: registration depends on what was imported before kear
IMPORTS = {
    "kear-first": "import kear\nfrom transformers import AutoConfig, AutoModelForMultipleChoice, pipeline",
    "transformers-first": "from transformers import AutoConfig, AutoModelForMultipleChoice, pipeline\nimport kear",
}
SCRIPT = """
import json, sys
{imports}
folder, question = sys.argv[1], json.loads(sys.argv[2])
model = AutoModelForMultipleChoice.from_pretrained(folder)
answers = pipeline("kear-multiple-choice", model=folder, device="cpu")(question)
print(json.dumps({{"config": type(AutoConfig.from_pretrained(folder)).__name__, "model": type(model).__name__,
                  "answers": answers}}))
"""


@pytest.fixture(scope="module")
def model_folder(trained_model: Path, sample_indexes: dict[str, Path], tmp_path_factory) -> Path:
    """The trained model, saved with retrieval settings that read the sample indexes and corpus (and a cache of
    its own), so that questions without knowledge get it from the model's own settings."""
    folder = tmp_path_factory.mktemp("retrieving") / "model"
    model, tokenizer = load_model(trained_model)
    where = [
        f"conceptnet.index={sample_indexes['conceptnet']}",
        f"dictionary.indexes=[{sample_indexes['dictionary']}]",
        f"examples.corpora=[{sample_file('train.jsonl')}]",
        f"cache_dir={folder.parent / 'cache'}",
    ]
    model.config.retrieval = asdict(load_settings(RetrievalConfig, None, where, values=model.config.retrieval))
    save_model(model, tokenizer, folder)
    return folder


def sample_questions() -> list[dict[str, Any]]:
    """Three sample questions without knowledge, one per layout: official CommonsenseQA, the Hub schema of
    tau/commonsense_qa, and plain (no id, no question concept)."""
    official = [json.loads(line) for line in sample_file("questions.jsonl").read_text().splitlines()[:3]]
    second, third = official[1], official[2]
    hub = {
        "id": second["id"],
        "question": second["question"]["stem"],
        "question_concept": second["question"]["question_concept"],
        "choices": {
            "label": [c["label"] for c in second["question"]["choices"]],
            "text": [c["text"] for c in second["question"]["choices"]],
        },
        "answerKey": second["answerKey"],
    }
    plain = {"question": third["question"]["stem"], "choices": [c["text"] for c in third["question"]["choices"]]}
    return [official[0], hub, plain]


def expected_predictions(model_folder: Path, questions: list[dict[str, Any]]) -> list:
    """What ``kear predict`` gives for the questions: a predictor of the model over their records (a question
    without an id is known by its position, as the pipeline names it)."""
    records = [record_from_dict({"id": str(i), **question}) for i, question in enumerate(questions)]
    predictor = Predictor(*load_model(model_folder))
    try:
        predictions = predictor.predict(records)
    finally:
        predictor.close()
    assert all(choice.knowledge for record in records for choice in record.choices)  # knowledge was retrieved
    return predictions


def assert_answers(answers: list[dict[str, Any]], prediction) -> None:
    """The pipeline's answer to one question holds the prediction's probabilities, best first."""
    scores = [answer["score"] for answer in answers]
    assert scores == sorted(scores, reverse=True)
    by_label = {answer["label"]: answer for answer in answers}
    assert sorted(by_label) == sorted(prediction.labels)
    assert [by_label[label]["text"] for label in prediction.labels] == prediction.texts
    got = [by_label[label]["score"] for label in prediction.labels]
    assert got == pytest.approx(prediction.probabilities, abs=1e-5)


def test_importing_kear_before_or_after_transformers_answers_as_kear_predict(model_folder: Path) -> None:
    question = sample_questions()[0]
    runs = {
        order: subprocess.Popen(
            [sys.executable, "-c", SCRIPT.format(imports=imports), str(model_folder), json.dumps(question)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for order, imports in IMPORTS.items()
    }  # both at once: each interpreter spends most of its time importing torch
    try:
        (expected,) = expected_predictions(model_folder, [question])
        for order, run in runs.items():
            out, err = run.communicate(timeout=300)
            assert run.returncode == 0, f"{order}: {err[-2000:]}"
            result = json.loads(out.strip().splitlines()[-1])
            assert (result["config"], result["model"]) == ("KearConfig", "KearModel"), order
            assert_answers(result["answers"], expected)
    finally:
        for run in runs.values():
            if run.poll() is None:  # a failure above: stop the interpreters this test started
                run.kill()
                run.wait()


def test_the_pipeline_answers_every_layout_as_the_predictor_does(model_folder: Path, tmp_path: Path) -> None:
    questions = sample_questions()
    expected = expected_predictions(model_folder, questions)
    answer = pipeline(TASK, model=str(model_folder), device="cpu")
    assert isinstance(answer, KearPipeline)
    try:
        answers = answer(questions)
        assert len(answers) == len(questions)
        for got, prediction in zip(answers, expected):
            assert_answers(got, prediction)
        # the same predictor serves every call, its sources open; any iterable of questions is answered
        assert_answers(answer(iter(questions[:1]))[0], expected[0])
        assert answer([]) == []
        with pytest.raises(KearError, match=r"^kear-multiple-choice input 2: missing field 'question'"):
            answer([questions[0], {"stem": "no question here"}])
        with pytest.raises(KearError, match=r"takes no settings per call \(got batch_size\)"):
            answer(questions, batch_size=2)
    finally:
        answer.close()
    # a model object and its tokenizer, one question alone (a dict: one answer, not a list of them)
    model, tokenizer = load_model(model_folder)
    alone = pipeline(TASK, model=model, tokenizer=tokenizer, device="cpu")
    try:
        assert_answers(alone(questions[1]), expected[1])
    finally:
        alone.close()
    # saved by the pipeline: a kear model folder, which loads again without remote code
    alone.save_pretrained(tmp_path / "saved")
    assert "custom_pipelines" not in json.loads((tmp_path / "saved" / "config.json").read_text())
    assert not list((tmp_path / "saved").glob("*.py"))
    assert isinstance(pipeline(TASK, model=str(tmp_path / "saved"), device="cpu"), KearPipeline)


def test_predict_answers_one_question_as_the_predictor_does(model_folder: Path, sample_knowledge: Path) -> None:
    from kear.modeling import question_record

    model, tokenizer = load_model(model_folder)
    record = next(iter(read_records(sample_knowledge)))
    question, choices = record.question, [choice.text for choice in record.choices]
    predictor = Predictor(model, tokenizer)
    try:
        expected = predictor.predict([record])
        bare = [question_record(question, choices)]
        expected_retrieved = predictor.predict(bare)
    finally:
        predictor.close()
    assert bare[0].choices[0].knowledge  # the predictor retrieved: the comparison includes knowledge
    # the knowledge as kear retrieve writes it: nothing is retrieved; the tokenizer is the one in the model's folder
    given = model.predict(question, choices, record.to_dict()["question"])
    assert given.labels == expected[0].labels == ["A", "B", "C", "D", "E"] and given.texts == choices
    assert given.probabilities == pytest.approx(expected[0].probabilities, abs=1e-6)
    # no knowledge: retrieved with the model's saved settings, as the predictor retrieves it
    retrieved = model.predict(question, choices, tokenizer=tokenizer)
    assert retrieved.probabilities == pytest.approx(expected_retrieved[0].probabilities, abs=1e-6)
    with pytest.raises(KearError, match=r"^knowledge lacks fields the model reads \(from "):
        model.predict(question, choices, {"question_concept": record.question_concept})
    with pytest.raises(KearError, match=r"knowledge\['choices'\] must be a list of one dict per choice \(5\)"):
        model.predict(question, choices, {"choices": [{}]})
    with pytest.raises(KearError, match="question must be a non-empty string"):
        model.predict("", choices)


def test_pipeline_settings_kear_does_not_know_are_refused(model_folder: Path) -> None:
    with pytest.raises(KearError, match=r"^the kear-multiple-choice pipeline has no setting top_k \("):
        pipeline(TASK, model=str(model_folder), device="cpu", top_k=2)


def test_registering_the_pipeline_again_changes_nothing(monkeypatch) -> None:
    from transformers.pipelines import PIPELINE_REGISTRY

    def overwrite(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("registered again")

    monkeypatch.setattr(PIPELINE_REGISTRY, "register_pipeline", overwrite)
    register_pipeline()  # registered when kear.hf_pipeline was imported: nothing to do
    assert PIPELINE_REGISTRY.supported_tasks[TASK]["impl"] is KearPipeline
