"""The inference settings (kear.inference): the fast ones predict what full precision predicts, within a stated
tolerance, on tiny models; every command that runs a model takes them; a missing optional dependency is one line.

No timings here: docs/benchmarks/predict.md (scripts/bench_predict.py) measures speed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from kear.cli import main
from kear.evaluation import Prediction
from kear.inference import BACKENDS, InferenceConfig, inference_config, prepare
from kear.modeling import KearModel, load_model
from kear.predictor import predict_records
from retrieval import ConfigError, KearError, read_records

from .conftest import build_tiny_encoder, write_lines

onnx_installed = pytest.mark.skipif(
    not all(__import__("importlib").util.find_spec(name) for name in ("onnxruntime", "onnx")),
    reason="onnxruntime and onnx (kear[onnx]) are not installed",
)
FAST = [
    "torch-bf16",
    "torch-int8",
    pytest.param("onnx", marks=onnx_installed),
    pytest.param("onnx-int8", marks=onnx_installed),
]
# How far each setting may move a probability from full precision's, on the tiny trained model (whose choices are
# close: its probabilities are near 0.2), about ten times what each moved it when this test was written (1e-6 for
# the fp32 graph, 3e-4 for torch-bf16, 4e-4 for torch-int8, 1e-5 for onnx-int8); and how many answers must be full
# precision's (int8 and bf16 may swap two choices that are closer than their error; they swapped none of the 12).
TOLERANCE = {"onnx": 1e-5, "torch-bf16": 0.005, "torch-int8": 0.005, "onnx-int8": 0.005}
SAME_ANSWERS = {"onnx": 1.0, "torch-bf16": 0.8, "torch-int8": 0.8, "onnx-int8": 0.8}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache for the exported graphs (kear's default is $KEAR_CACHE/onnx)."""
    monkeypatch.setenv("KEAR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def check_close(reference: list, predictions: list, backend: str) -> None:
    """Probabilities within the backend's tolerance of full precision's, and (nearly) the same answers."""
    assert [p.id for p in predictions] == [p.id for p in reference]
    gaps = [abs(a - b) for x, y in zip(predictions, reference) for a, b in zip(x.probabilities, y.probabilities)]
    assert max(gaps) <= TOLERANCE[backend], max(gaps)
    same = sum(x.prediction == y.prediction for x, y in zip(predictions, reference)) / len(reference)
    assert same >= SAME_ANSWERS[backend], same


@pytest.mark.parametrize("backend", FAST)
def test_fast_settings_predict_what_full_precision_does(backend, trained_model, sample_knowledge, cache) -> None:
    model, tokenizer = load_model(trained_model)
    records = list(read_records(sample_knowledge))
    # records of 5, 3 and 2 choices in one batch: the choices are flattened, only real ones encoded
    records[1].choices = records[1].choices[:3]
    records[2].choices = records[2].choices[:2]
    for record in records[1:3]:
        if record.answer not in record.labels:
            record.answer = None
    reference = predict_records(model, tokenizer, records, 8)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    fast = predict_records(model, tokenizer, records, 8, inference=backend)
    check_close(reference, fast, backend)
    # the model itself is unchanged, and scores as before
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())
    assert isinstance(model.encoder, torch.nn.Module) and type(model.encoder).__name__ != "OnnxEncoder"
    again = predict_records(model, tokenizer, records, 8)
    assert [p.scores for p in again] == [p.scores for p in reference]


@onnx_installed
def test_the_export_is_cached_apart_from_the_model_and_reused(trained_model, sample_knowledge, cache) -> None:
    model_files = {p.name: p.stat().st_mtime_ns for p in trained_model.iterdir()}
    records = list(read_records(sample_knowledge))
    model, tokenizer = load_model(trained_model)
    first = predict_records(model, tokenizer, records, inference="onnx-int8")
    folders = [p for p in cache.iterdir()]
    assert len(folders) == 1 and {p.name for p in folders[0].iterdir()} == {
        "encoder.onnx",
        "encoder-int8.onnx",
        "meta.json",
    }
    stamps = {p.name: p.stat().st_mtime_ns for p in folders[0].iterdir()}
    # another load of the same model (a new object) finds the graphs: nothing is exported again
    model, tokenizer = load_model(trained_model)
    second = predict_records(model, tokenizer, records, inference="onnx-int8")
    assert [p.scores for p in second] == [p.scores for p in first]
    assert {p.name: p.stat().st_mtime_ns for p in folders[0].iterdir()} == stamps
    assert {p.name: p.stat().st_mtime_ns for p in trained_model.iterdir()} == model_files  # nothing written there
    # other weights, another graph
    with torch.no_grad():
        model.encoder.embeddings.word_embeddings.weight[5:9] += 0.5
    assert prepare(model, "onnx") is not prepare(load_model(trained_model)[0], "onnx")
    assert len(list(cache.iterdir())) == 2


@onnx_installed
def test_an_encoder_with_token_types_exports_exactly(tmp_path: Path, cache) -> None:
    """BERT's family takes token types (the tiny DeBERTa has none): they reach the graph, as do odd lengths."""
    encoder = build_tiny_encoder(tmp_path / "electra", "electra")
    model = KearModel.from_encoder(str(encoder), inputs={"max_length": 64}).eval()
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 1000, (3, 4, 37), generator=generator)
    mask = torch.ones_like(ids)
    mask[0, :, 20:] = 0
    mask[2, 1, 7:] = 0
    types = (torch.arange(37) > 15).long().expand_as(ids).contiguous()
    choices = torch.tensor([[True] * 4, [True, True, False, False], [True] * 3 + [False]])
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types, "choice_mask": choices}
    with torch.no_grad():
        expected = model(**batch).logits
        got = prepare(model, "onnx")(**batch).logits
    assert torch.allclose(got[choices], expected[choices], atol=1e-4)


def test_settings_are_checked() -> None:
    assert inference_config(None) == InferenceConfig("torch")
    assert inference_config("onnx-int8").int8 and inference_config("onnx").onnx
    with pytest.raises(ConfigError, match=r"inference\.backend must be one of torch, torch-bf16, torch-int8"):
        inference_config("fp16")
    with pytest.raises(ValueError, match="cache_dir"):
        InferenceConfig("onnx", cache_dir="")
    assert set(BACKENDS) == {"torch", "torch-bf16", "torch-int8", "onnx", "onnx-int8"}


def test_bf16_runs_the_encoder_in_bf16_and_the_head_in_fp32(trained_model, monkeypatch, caplog) -> None:
    model, _ = load_model(trained_model)
    prepared = prepare(model, "torch-bf16")
    assert {p.dtype for p in prepared.encoder.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in model.parameters()} == {torch.float32}  # the model itself is untouched
    assert {p.dtype for p in prepared.scorer.parameters()} == {torch.float32}
    assert prepare(model, "torch-bf16") is prepared  # prepared once while the weights stay
    # a CPU without native bf16 gets the backend still, with a warning that it is slower there
    import kear.inference

    monkeypatch.setattr(kear.inference, "native_bf16", lambda: False)
    with caplog.at_level("WARNING", logger="kear.inference"):
        prepare(load_model(trained_model)[0], "torch-bf16")
    assert "no native bfloat16" in caplog.text


def hide_onnxruntime(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else find_spec(name, *a)
    )


def test_a_missing_optional_dependency_is_one_line(trained_model, sample_knowledge, tmp_path, monkeypatch, capsys):
    hide_onnxruntime(monkeypatch)
    model, tokenizer = load_model(trained_model)
    with pytest.raises(KearError, match=r"needs onnxruntime, which is not installed: pip install 'kear\[onnx\]'"):
        predict_records(model, tokenizer, list(read_records(sample_knowledge)), inference="onnx")
    capsys.readouterr()
    for command in ("predict", "evaluate"):
        output = tmp_path / f"{command}.jsonl"
        argv = [command, "--model", str(trained_model), "--input", str(sample_knowledge), "--output", str(output)]
        assert main([*argv, "--inference", "onnx-int8", "--no-progress"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [
            "kear: error: inference backend 'onnx-int8' needs onnxruntime, which is not installed: "
            "pip install 'kear[onnx]'"
        ]
        assert not output.exists()


def test_every_command_that_runs_a_model_takes_the_setting(trained_model, sample_knowledge, tmp_path, cache) -> None:
    """predict, evaluate and ensemble --models, with torch-int8 (no optional dependency), agree with torch."""
    common = ["--input", str(sample_knowledge), "--no-progress"]
    model = ["--model", str(trained_model)]
    out = {name: tmp_path / f"{name}.jsonl" for name in ("full", "predict", "evaluate", "ensemble")}
    assert main(["predict", *model, *common, "--output", str(out["full"])]) == 0
    assert main(["predict", *model, *common, "--output", str(out["predict"]), "--inference", "torch-int8"]) == 0
    assert main(["evaluate", *model, *common, "--output", str(out["evaluate"]), "--inference", "torch-int8"]) == 0
    members = ["--models", str(trained_model), str(trained_model)]
    argv = ["ensemble", *members, *common, "--output", str(out["ensemble"]), "--inference", "torch-int8"]
    assert main(argv) == 0
    full = [Prediction.from_dict(row) for row in lines(out["full"])]
    for name in ("predict", "evaluate", "ensemble"):
        check_close(full, [Prediction.from_dict(row) for row in lines(out[name])], "torch-int8")


def test_an_output_is_continued_only_with_its_own_setting(trained_model, sample_knowledge, tmp_path, capsys) -> None:
    output = tmp_path / "out.jsonl"
    argv = ["predict", "--model", str(trained_model), "--input", str(sample_knowledge), "--output", str(output)]
    assert main([*argv, "--no-progress"]) == 0
    written = output.read_bytes()
    capsys.readouterr()
    assert main([*argv, "--no-progress", "--inference", "torch-int8"]) == 1
    assert "written with another inference" in capsys.readouterr().err
    assert output.read_bytes() == written
    assert main([*argv, "--no-progress", "--inference", "torch"]) == 0  # the default, named: the same run


def test_the_fast_settings_run_on_the_cpu_only(trained_model) -> None:
    model, _ = load_model(trained_model)
    model.to("meta")
    with pytest.raises(KearError, match="runs on the CPU, and the model is on meta"):
        prepare(model, "torch-int8")


def test_records_without_answers(trained_model, sample_knowledge, tmp_path) -> None:
    rows = [json.loads(line) for line in sample_knowledge.read_text().splitlines()[:3]]
    for row in rows:
        row.pop("answerKey")
    path = write_lines(tmp_path / "no-answers.jsonl", [json.dumps(row) for row in rows])
    model, tokenizer = load_model(trained_model)
    predictions = predict_records(model, tokenizer, read_records(path), inference="torch-int8")
    assert len(predictions) == 3 and all(p.answer is None for p in predictions)
