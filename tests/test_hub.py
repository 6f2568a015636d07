from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from kear.cli import main
from kear.hub import model_card, push, without_local_paths
from kear.prediction import predict_file
from retrieval import KearError
from retrieval.bundle import MANIFEST
from retrieval.data import sample_file

from .hubcache import publish

REPO = Path(__file__).resolve().parents[1]
RAW = sample_file("questions.jsonl")  # questions without knowledge: a model retrieves what it uses


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
    assert card.count("```python") == 2 and 'load_model("someone/kear-tiny")' in card
    assert 'pipeline("kear-multiple-choice", model="someone/kear-tiny")' in card and meta["pipeline_tag"] == (
        "multiple-choice"
    )
    # what the dev accuracy was measured on, and that it also chose the epoch: said, not dressed as a Hub split
    assert "Dev accuracy is measured on a local file, `questions.jsonl`, not a Hub dataset split" in card
    prose = card.split("## Full training configuration")[0]
    assert "The same dev data chose which epoch to keep" in prose and "validation" not in prose
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
    # data.name says what the model was trained on; the dev file is local: no model-index claims a Hub split
    assert "model-index" not in meta
    training["data"].update(dev="tau/commonsense_qa", dev_split="validation")
    (folder / "train_config.yaml").write_text(yaml.safe_dump(training))
    card = model_card(folder, "someone/x").content
    [result] = front_matter(card)["model-index"][0]["results"]
    assert result["dataset"]["type"] == "tau/commonsense_qa" and result["dataset"]["split"] == "validation"
    assert result["metrics"][0]["type"] == "accuracy"
    questions = json.loads((folder / "results.json").read_text())["dev_records"]  # as many as the run measured on
    assert (
        "measured on the `validation` split of\n[`tau/commonsense_qa`]" in card and f"({questions} questions)" in card
    )
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


def model_with_knowledge_elsewhere(trained_model: Path, sample_indexes: dict[str, Path], root: Path) -> Path:
    """A copy of the trained model whose retrieval settings read copies of its knowledge, kept in ``root/elsewhere``
    (a folder the test then deletes)."""
    elsewhere, model = root / "elsewhere", root / "model"
    shutil.copytree(trained_model, model)
    shutil.copytree(sample_indexes["conceptnet"], elsewhere / "conceptnet")
    shutil.copytree(sample_indexes["dictionary"], elsewhere / "wiktionary")
    shutil.copy(sample_file("train.jsonl"), elsewhere / "train.jsonl")
    config = json.loads((model / "config.json").read_text())
    config["retrieval"]["conceptnet"]["index"] = str(elsewhere / "conceptnet")
    config["retrieval"]["dictionary"]["indexes"] = [str(elsewhere / "wiktionary")]
    config["retrieval"]["examples"]["corpora"] = [str(elsewhere / "train.jsonl")]
    (model / "config.json").write_text(json.dumps(config))
    return model


@pytest.fixture(scope="module")
def published(trained_model: Path, sample_indexes: dict[str, Path], tmp_path_factory) -> tuple[Path, str]:
    """``kear push --dry-run`` of a model with its knowledge, after which the knowledge it was trained with and the
    model folder are deleted; with the prediction lines the model gave on raw questions before that."""
    root = tmp_path_factory.mktemp("published")
    model = model_with_knowledge_elsewhere(trained_model, sample_indexes, root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KEAR_CACHE", str(root / "cache"))
        assert (
            main(["predict", "--model", str(model), "--input", str(RAW), "--output", str(root / "a.jsonl"), "-q"]) == 0
        )
        assert main(["push", str(model), "someone/kear-tiny", "--dry-run", str(root / "upload"), "-q"]) == 0
    shutil.rmtree(root / "elsewhere")
    shutil.rmtree(model)
    return root / "upload", (root / "a.jsonl").read_text()


def test_a_pushed_model_predicts_from_its_own_knowledge_in_a_new_folder(
    published: tuple[Path, str], tmp_path: Path, monkeypatch
) -> None:
    upload, expected = published
    machine = tmp_path / "machine"
    shutil.copytree(upload, machine / "kear-tiny")
    monkeypatch.setenv("KEAR_CACHE", str(tmp_path / "cache"))  # nothing retrieved before is reused
    monkeypatch.chdir(machine)
    assert main(["predict", "--model", "kear-tiny", "--input", str(RAW), "--output", "b.jsonl", "-q"]) == 0
    assert (machine / "b.jsonl").read_text() == expected
    config = json.loads((machine / "kear-tiny" / "config.json").read_text())
    assert config["retrieval"]["bundle"] == "knowledge" and config["retrieval"]["conceptnet"]["index"] == (
        "conceptnet/conceptnet"
    )
    assert (machine / "kear-tiny" / "knowledge" / MANIFEST).is_file()
    card = (machine / "kear-tiny" / "README.md").read_text()
    assert "published with it, in the `knowledge/` folder of this repository" in card
    assert "ConceptNet 5 (https://conceptnet.io): CC BY-SA 4.0" in card and "Wiktionary" in card


def test_a_model_from_the_hub_fetches_its_knowledge(published: tuple[Path, str], tmp_path: Path) -> None:
    """``kear predict --model someone/kear-tiny`` as on a fresh machine: the Hub stand-in (tests/hubcache.py) holds
    the dry run's files, and nothing else names the knowledge."""
    import subprocess
    import sys

    upload, expected = published
    publish(upload, "someone/kear-tiny", tmp_path / "hub")
    environment = {
        **os.environ,
        "HF_HUB_CACHE": str(tmp_path / "hub"),
        "HF_HUB_OFFLINE": "1",
        "KEAR_CACHE": str(tmp_path / "cache"),
    }
    command = [sys.executable, "-m", "kear.cli", "predict", "--model", "someone/kear-tiny", "--input", str(RAW)]
    result = subprocess.run(
        [*command, "--output", "hub.jsonl", "-q"], cwd=tmp_path, env=environment, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "hub.jsonl").read_text() == expected


def test_without_its_knowledge_a_push_says_how_in_one_line(trained_model: Path, tmp_path: Path, capsys) -> None:
    model = tmp_path / "model"
    shutil.copytree(trained_model, model)
    config = json.loads((model / "config.json").read_text())
    config["retrieval"]["conceptnet"]["index"] = "indexes/conceptnet"  # relative to a folder this is not
    (model / "config.json").write_text(json.dumps(config))
    assert main(["push", str(model), "someone/x", "--dry-run", str(tmp_path / "up"), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert "cannot bundle the knowledge it retrieves from" in err and "--knowledge none" in err and "\n" not in err
    assert not (tmp_path / "up").exists()
    assert main(["push", str(model), "someone/x", "--dry-run", str(tmp_path / "up"), "--knowledge", "none", "-q"]) == 0
    assert not (tmp_path / "up" / "knowledge").exists()
    assert json.loads((tmp_path / "up" / "config.json").read_text())["retrieval"]["bundle"] is None


def test_knowledge_published_as_a_dataset_repo_is_read_at_its_revision(
    trained_model: Path, sample_indexes: dict[str, Path], tmp_path: Path, monkeypatch
) -> None:
    """``--knowledge-repo``: the bundle goes to a dataset repository first, the model names it at the revision that
    upload made. The uploads land in the Hub stand-in (tests/hubcache.py), which retrieval then reads offline."""
    import huggingface_hub.constants

    import kear.hub
    from retrieval import RetrievalConfig, annotate, load_settings, read_records

    uploads: dict[str, Path] = {}

    def upload_folder(repo_id, folder_path, repo_type=None, **_):
        uploads[repo_type] = tmp_path / "uploaded" / repo_type
        shutil.copytree(folder_path, uploads[repo_type])
        oid = publish(Path(folder_path), repo_id, tmp_path / "hub", repo_type=repo_type or "model")
        return type("CommitInfo", (), {"oid": oid})()

    monkeypatch.setattr(kear.hub, "create_repo", lambda *a, **k: None)
    monkeypatch.setattr(kear.hub, "upload_folder", upload_folder)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("KEAR_CACHE", str(tmp_path / "cache"))
    model = model_with_knowledge_elsewhere(trained_model, sample_indexes, tmp_path)
    expected = [r.to_dict() for r in annotate(read_records(RAW), load_settings(RetrievalConfig, values=json.loads(
        (model / "config.json").read_text())["retrieval"]), progress=False)]  # fmt: skip
    assert main(["push", str(model), "someone/kear-tiny", "--knowledge-repo", "someone/knowledge", "-q"]) == 0
    settings = json.loads((uploads["model"] / "config.json").read_text())["retrieval"]
    repo, _, revision = settings["bundle"].removeprefix("hf://datasets/").partition("@")
    assert repo == "someone/knowledge" and len(revision) == 40 and not (uploads["model"] / "knowledge").exists()
    assert (uploads["dataset"] / MANIFEST).is_file() and "CC BY-SA 4.0" in (
        uploads["dataset"] / "README.md"
    ).read_text()
    assert "the dataset repository [`someone/knowledge`]" in (uploads["model"] / "README.md").read_text()
    shutil.rmtree(tmp_path / "elsewhere")
    config = load_settings(RetrievalConfig, None, [f"cache_dir={tmp_path / 'cache'}"], values=settings)
    assert [r.to_dict() for r in annotate(read_records(RAW), config, progress=False)] == expected
    assert main(["push", str(model), "someone/x", "--knowledge-repo", "someone/k", "--dry-run", "up", "-q"]) == 1
