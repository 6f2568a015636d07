from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest

from retrieval import ConfigError, RetrievalConfig, annotate, load_settings, read_records
from retrieval.bundle import MANIFEST, open_bundle, write_bundle
from retrieval.data import sample_file


@pytest.fixture
def elsewhere(sample_indexes: dict[str, Path], tmp_path: Path) -> RetrievalConfig:
    """Retrieval settings over copies of the sample indexes and corpus, in a folder a test can delete."""
    root = tmp_path / "elsewhere"
    shutil.copytree(sample_indexes["conceptnet"], root / "conceptnet")
    shutil.copytree(sample_indexes["dictionary"], root / "wiktionary")
    shutil.copy(sample_file("train.jsonl"), root / "train.jsonl")
    config = RetrievalConfig(use_cache=False)
    config.conceptnet.index = str(root / "conceptnet")
    config.dictionary.indexes = [str(root / "wiktionary")]
    config.examples.corpora = [str(root / "train.jsonl")]
    return config


def knowledge(records) -> list[dict]:
    return [record.to_dict() for record in records]


def test_a_moved_bundle_retrieves_what_the_original_files_did(elsewhere: RetrievalConfig, tmp_path: Path) -> None:
    expected = knowledge(annotate(read_records(sample_file("questions.jsonl")), elsewhere, progress=False))
    values = write_bundle(elsewhere, tmp_path / "bundle")
    assert values["conceptnet"]["index"] == "conceptnet/conceptnet"  # relative to the bundle
    assert values["dictionary"]["indexes"] == ["dictionary/0-wiktionary"]
    assert values["examples"]["corpora"] == ["examples/0-train.jsonl"]
    shutil.rmtree(tmp_path / "elsewhere")  # nothing but the bundle is left
    shutil.move(tmp_path / "bundle", tmp_path / "moved")
    config = load_settings(RetrievalConfig, None, ["use_cache=false", f"bundle={tmp_path / 'moved'}"], values=values)
    assert knowledge(annotate(read_records(sample_file("questions.jsonl")), config, progress=False)) == expected
    assert set(config.read_paths()) >= {str(tmp_path / "moved" / "conceptnet" / "conceptnet")}


def test_the_bundle_names_its_licences_and_no_local_path(elsewhere: RetrievalConfig, tmp_path: Path) -> None:
    write_bundle(elsewhere, tmp_path / "bundle", name="someone/knowledge")
    card = (tmp_path / "bundle" / "README.md").read_text()
    # the training questions' terms are not ConceptNet's and Wiktionary's: the card lists each
    assert "license: other" in card and "CC BY-SA 4.0" in card and "ConceptNet 5" in card and "Wiktionary" in card
    assert "the training questions it indexes" in card
    elsewhere.sources = ["conceptnet", "dictionary"]
    write_bundle(elsewhere, tmp_path / "two", name="someone/knowledge")
    assert "license: cc-by-sa-4.0" in (tmp_path / "two" / "README.md").read_text()
    manifest = json.loads((tmp_path / "bundle" / MANIFEST).read_text())
    assert set(manifest["sources"]) == {"conceptnet", "dictionary", "examples"}
    assert all(entry["bytes"] > 0 and entry["identity"] for entry in manifest["sources"].values())
    for meta in (tmp_path / "bundle").rglob("meta.json"):
        assert str(tmp_path) not in meta.read_text()
    # the original index's meta.json still records its source: the bundle's copy was not written through a link
    assert "source" in json.loads((Path(elsewhere.conceptnet.index) / "meta.json").read_text())
    assert json.loads((Path(elsewhere.conceptnet.index) / "meta.json").read_text())["source"].startswith("/")


def test_a_saved_examples_index_is_bundled_without_its_corpus(elsewhere: RetrievalConfig, tmp_path: Path) -> None:
    from retrieval import index_examples

    index_examples(elsewhere.examples.corpora, tmp_path / "examples-index", progress=False)
    elsewhere.examples.index = str(tmp_path / "examples-index")
    values = write_bundle(elsewhere, tmp_path / "bundle")
    assert values["examples"]["index"] == "examples/examples-index" and values["examples"]["corpora"] == []
    assert not (tmp_path / "bundle" / "examples" / "0-train.jsonl").exists()


def test_a_bundle_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^bundle .*nowhere: no such folder$"):
        open_bundle(tmp_path / "nowhere")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ConfigError, match=r"not a knowledge bundle \(no kear-knowledge.json\)$"):
        RetrievalConfig(bundle=str(tmp_path / "plain")).located()
    config = RetrievalConfig()
    assert config.located() is config and asdict(config)["bundle"] is None
