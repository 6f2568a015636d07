from __future__ import annotations

import json
from pathlib import Path

import pytest

from kear.cli import main
from kear.hub import model_card, push
from kear.prediction import predict_file
from retrieval import KearError


@pytest.fixture(scope="module")
def dry_run(trained_model, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("push") / "upload"
    assert main(["push", str(trained_model), "someone/kear-tiny", "--dry-run", str(folder), "-q"]) == 0
    return folder


def test_dry_run_writes_the_upload_folder(dry_run: Path) -> None:
    names = {p.name for p in dry_run.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "README.md",
        "train_config.yaml",
        "results.json",
    } <= names
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in names)
    config = json.loads((dry_run / "config.json").read_text())
    assert config["inputs"]["max_length"] == 64 and "retrieval" in config


def test_the_upload_folder_predicts_like_the_model(trained_model, dry_run, sample_knowledge, tmp_path) -> None:
    original, uploaded = tmp_path / "original.jsonl", tmp_path / "uploaded.jsonl"
    predict_file(trained_model, sample_knowledge, original, progress=False)
    predict_file(dry_run, sample_knowledge, uploaded, progress=False)
    assert uploaded.read_text() == original.read_text()


def test_model_card_content(dry_run: Path, trained_model) -> None:
    card = (dry_run / "README.md").read_text()
    results = json.loads((trained_model / "results.json").read_text())
    assert card.startswith("---\n") and "kear" in card.split("---")[1]
    assert f"| accuracy | {round(results['best_accuracy'], 4)} |" in card  # metrics
    for source in ("ConceptNet", "definition of the question concept", "Similar training questions"):
        assert source in card  # knowledge sources
    assert "learning_rate: 0.003" in card and "max_length: 64" in card  # training config
    assert "**Base model:**" in card  # base model
    assert "Human Parity on CommonsenseQA" in card and "@inproceedings{xu2022kear" in card  # citation
    assert "kear predict --model someone/kear-tiny" in card  # how to predict
    assert model_card(dry_run, "someone/other").content.count("someone/other") >= 2


def test_push_offline_fails_cleanly(trained_model, monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(KearError, match=r"cannot push to the Hub .*nothing was uploaded"):
        push(trained_model, "someone/kear-tiny")
    assert main(["push", str(trained_model), "someone/kear-tiny"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("kear: error: cannot push to the Hub") and "\n" not in err
    assert main(["push", str(tmp_path), "someone/x", "--dry-run", str(tmp_path / "out")]) == 1
    assert "not a kear model folder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
