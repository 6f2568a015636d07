from __future__ import annotations

from pathlib import Path

import pytest

from retrieval import ConfigError, RetrievalConfig, load_settings
from retrieval.settings import save_settings

REPO = Path(__file__).resolve().parents[1]


def test_defaults_yaml_and_overrides_layer_in_order(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("sources: [kg, dict]\ntrain:\n  top_k: 3\nkg:\n  min_weight: 2\n")
    config = load_settings(RetrievalConfig, path, ["train.top_k=7", "kg.relations=[AtLocation]"])
    assert config.sources == ["kg", "dict"]
    assert config.train.top_k == 7
    assert config.kg.min_weight == 2.0
    assert config.kg.relations == ["AtLocation"]
    assert config.train.backend == "bm25s"


@pytest.mark.parametrize(
    ("yaml_text", "overrides", "message"),
    [
        ("kg:\n  colour: red\n", [], r"r\.yaml: Key 'colour' not in 'ConceptNetConfig'"),
        ("nonsense: 1\n", [], "Key 'nonsense' not in 'RetrievalConfig'"),
        ("train:\n  top_k: many\n", [], "could not be converted to Integer"),
        ("", ["train.topk=3"], "override 'train.topk=3': Key 'topk'"),
        ("", ["train.top_k"], "not of the form key=value"),
        ("kg: [unclosed\n", [], r"r\.yaml:2: invalid YAML"),
        ("- a list\n", [], "expected a mapping"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path: Path, yaml_text: str, overrides: list[str], message: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(RetrievalConfig, path, overrides)
    assert "\n" not in str(caught.value)


def test_missing_settings_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such settings file"):
        load_settings(RetrievalConfig, tmp_path / "absent.yaml")


def test_saved_settings_load_back(tmp_path: Path) -> None:
    config = load_settings(RetrievalConfig, None, ["train.top_k=2", "dict.indexes=[a,b]"])
    save_settings(config, tmp_path / "saved.yaml")
    assert load_settings(RetrievalConfig, tmp_path / "saved.yaml") == config


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "retrieval").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_retrieval_configs_load(path: Path) -> None:
    assert isinstance(load_settings(RetrievalConfig, path), RetrievalConfig)
