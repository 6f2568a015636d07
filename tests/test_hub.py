from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from kear.cli import main
from kear.hub import model_card, push, without_local_paths
from kear.prediction import predict_file
from retrieval import KearError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dry_run(trained_model, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("push") / "upload"
    assert main(["push", str(trained_model), "someone/kear-tiny", "--dry-run", str(folder), "-q"]) == 0
    return folder


def front_matter(card: str) -> dict:
    return yaml.safe_load(card.split("---")[1])


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


def test_no_local_path_travels(trained_model: Path, dry_run: Path, tmp_path_factory) -> None:
    # the model folder itself names local folders (its encoder, data, output): the upload names none
    assert str(tmp_path_factory.getbasetemp()) in (trained_model / "train_config.yaml").read_text()
    local = re.compile(r"(?<![\w.:])(/tmp/|/root/|/home/|~/)")
    for path in dry_run.iterdir():
        if path.suffix in (".md", ".json", ".yaml"):
            text = path.read_text()
            for needle in (str(tmp_path_factory.getbasetemp()), str(REPO)):
                assert needle not in text, (path.name, needle)
            assert not local.search(text), (path.name, local.search(text))
    strings: list[str] = []

    def collect(value) -> None:
        if isinstance(value, (dict, list)):
            for item in value.values() if isinstance(value, dict) else value:
                collect(item)
        elif isinstance(value, str):
            strings.append(value)

    collect(json.loads((dry_run / "config.json").read_text()))
    collect(yaml.safe_load((dry_run / "train_config.yaml").read_text()))
    assert strings and not [s for s in strings if s.startswith(("/", "~"))]
    assert without_local_paths({"a": ["/x/y/index", "rel/path"], "b": "~/cache"}) == {
        "a": ["index", "rel/path"],
        "b": "cache",
    }


def test_the_upload_folder_predicts_like_the_model(trained_model, dry_run, sample_knowledge, tmp_path) -> None:
    original, uploaded = tmp_path / "original.jsonl", tmp_path / "uploaded.jsonl"
    predict_file(trained_model, sample_knowledge, original, progress=False)
    predict_file(dry_run, sample_knowledge, uploaded, progress=False)
    assert uploaded.read_text() == original.read_text()


def test_model_card_content(dry_run: Path, trained_model) -> None:
    card = (dry_run / "README.md").read_text()
    results = json.loads((trained_model / "results.json").read_text())
    meta = front_matter(card)
    # a local test encoder has no Hub id: no base_model; the sample is no Hub dataset: no datasets, no model-index
    assert meta["library_name"] == "kear" and meta["language"] == ["en"] and meta["license"] == "other"
    assert "base_model" not in meta and "datasets" not in meta and "model-index" not in meta
    assert f"Best: **{round(results['best_accuracy'], 4)}** dev accuracy" in card  # results
    assert card.count("| dev accuracy |") == 1 and len(re.findall(r"^\| \d+ \| \d+ \| 0\.\d{4} \|$", card, re.M)) == 4
    for source in ("ConceptNet", "definition of the question concept", "Similar training questions"):
        assert source in card  # knowledge sources
    assert "| learning rate | 0.003 |" in card and "| examples per optimizer step | 4 |" in card  # hyperparameters
    assert "| processes | 1 |" in card and "max_length: 64" in card
    assert card.count("relations:") == 1 and card.count("top_k:") == 1  # retrieval settings once
    assert re.search(r"^- torch \d", card, re.M) and re.search(r"^- transformers \d", card, re.M)  # versions
    assert 'pip install "kear==' in card and "kear predict --model someone/kear-tiny" in card  # install and use
    assert "Human Parity on CommonsenseQA" in card and "@inproceedings{xu2022kear" in card  # citation
    assert card.count("```python") == 1 and 'load_model("someone/kear-tiny")' in card
    assert model_card(dry_run, "someone/other").content.count("someone/other") >= 2


def test_hub_model_and_dataset_ids_reach_the_metadata(trained_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(trained_model, folder)
    config = json.loads((folder / "config.json").read_text())
    config["base_model"] = "microsoft/deberta-v3-large"
    (folder / "config.json").write_text(json.dumps(config))
    training = yaml.safe_load((folder / "train_config.yaml").read_text())
    training["data"]["name"] = "tau/commonsense_qa"
    (folder / "train_config.yaml").write_text(yaml.safe_dump(training))
    meta = front_matter(model_card(folder, "someone/x").content)
    assert meta["base_model"] == "microsoft/deberta-v3-large" and meta["license"] == "mit"  # the base model's
    assert meta["datasets"] == ["tau/commonsense_qa"]
    training["data"].update(name=None, train="data/train.jsonl")  # a local file, even one that is not here
    (folder / "train_config.yaml").write_text(yaml.safe_dump(training))
    assert "datasets" not in front_matter(model_card(folder, "someone/x").content)
    training["training"].update(batch_size=8, gradient_accumulation_steps=4)
    (folder / "train_config.yaml").write_text(yaml.safe_dump(training))
    assert "| examples per optimizer step | 32 |" in model_card(folder, "someone/x").content
    [result] = meta["model-index"][0]["results"]
    assert result["dataset"]["type"] == "tau/commonsense_qa" and result["metrics"][0]["type"] == "accuracy"
    assert front_matter(model_card(folder, "someone/x", license="cc-by-4.0", language="fr").content)["license"] == (
        "cc-by-4.0"
    )


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


def test_a_dry_run_replaces_only_an_upload_folder(trained_model: Path, dry_run: Path, tmp_path: Path, capsys) -> None:
    # its own earlier folder: replaced; a folder of other files, or the model folder itself: refused, untouched
    assert main(["push", str(trained_model), "someone/kear-tiny", "--dry-run", str(dry_run), "-q"]) == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.md").write_text("mine")
    assert main(["push", str(trained_model), "someone/x", "--dry-run", str(mine), "-q"]) == 1
    assert "mine: holds files kear did not write" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["notes.md"]
    before = sorted(p.name for p in trained_model.iterdir())
    assert main(["push", str(trained_model), "someone/x", "--dry-run", str(trained_model), "-q"]) == 1
    assert "is also an input" in capsys.readouterr().err
    assert sorted(p.name for p in trained_model.iterdir()) == before
