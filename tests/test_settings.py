from __future__ import annotations

import time
from pathlib import Path

import pytest

from retrieval import (
    ConceptNetConfig,
    ConfigError,
    DictionaryConfig,
    ExamplesConfig,
    RetrievalConfig,
    load_settings,
)
from retrieval.examples.config import BACKEND_NAMES
from retrieval.examples.index import BACKENDS
from retrieval.settings import MAX_SETTINGS_BYTES, SettingError, parse_yaml, save_settings
from retrieval.source import sources

REPO = Path(__file__).resolve().parents[1]


def test_defaults_yaml_and_overrides_layer_in_order(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("sources: [conceptnet, dictionary]\nexamples:\n  top_k: 3\nconceptnet:\n  min_weight: 2\n")
    config = load_settings(RetrievalConfig, path, ["examples.top_k=7", "conceptnet.relations=[AtLocation]"])
    assert config.sources == ["conceptnet", "dictionary"]
    assert config.examples.top_k == 7
    assert config.conceptnet.min_weight == 2.0
    assert config.conceptnet.relations == ["AtLocation"]
    assert config.examples.backend == "bm25s"


@pytest.mark.parametrize(
    ("yaml_text", "overrides", "message"),
    [
        ("conceptnet:\n  colour: red\n", [], r"r\.yaml: Key 'colour' not in 'ConceptNetConfig'"),
        ("nonsense: 1\n", [], "Key 'nonsense' not in 'RetrievalConfig'"),
        ("examples:\n  top_k: many\n", [], "could not be converted to Integer"),
        ("", ["examples.topk=3"], "override 'examples.topk=3': Key 'topk'"),
        ("", ["examples.top_k"], "not of the form key=value"),
        ("conceptnet: [unclosed\n", [], r"r\.yaml:2: invalid YAML"),
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
    config = load_settings(RetrievalConfig, None, ["examples.top_k=2", "dictionary.indexes=[a,b]"])
    save_settings(config, tmp_path / "saved.yaml")
    assert load_settings(RetrievalConfig, tmp_path / "saved.yaml") == config


@pytest.mark.parametrize("path", sorted((REPO / "kear" / "recipes" / "retrieval").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_retrieval_configs_load(path: Path) -> None:
    assert isinstance(load_settings(RetrievalConfig, path), RetrievalConfig)


# ------------------------------------------------------------------------------------- YAML read with limits

ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("conceptnet: &a\n  relations: *a\n", r"r\.yaml:2: recursive alias \*a"),
        ("a: &a [*a]\n", r"r\.yaml:1: recursive alias \*a"),
        (ALIAS_BOMB, r"r\.yaml:\d+: more than 32 YAML aliases"),
        ("x: &a [" + ", ".join(["q"] * 2000) + "]\ny: [*a, *a, *a, *a, *a, *a]\n", "expand the settings to more than"),
        ("conceptnet: " + "[" * 5000 + "]" * 5000 + "\n", r"r\.yaml:1: nested more than 32 levels deep"),
        (
            "conceptnet:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(100)),
            r"r\.yaml:32: nested more than 32",
        ),
        ("x: &a " + "[" * 20 + "]" * 20 + "\ny: " + "[" * 20 + "*a" + "]" * 20 + "\n", "more than 32 levels deep"),
        ("examples:\n\ttop_k: 1\n", r"r\.yaml:2: invalid YAML"),
        ("conceptnet: !!python/object:os.system echo\n", r"r\.yaml:1: invalid YAML"),
    ],
    ids=[
        "self-alias",
        "self-list",
        "alias-bomb",
        "wide-expansion",
        "deep-flow",
        "deep-block",
        "deep-by-alias",
        "tab",
        "python-tag",
    ],
)
def test_settings_yaml_is_read_with_limits(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(yaml_text)
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(RetrievalConfig, path)
    assert "\n" not in str(caught.value)
    assert time.perf_counter() - started < 5  # an alias bomb is measured, never expanded


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("examples.corpora=&a [*a]", "recursive alias"),
        (
            "examples.corpora=[&a [x, x, x, x, x, x, x, x, x], " + ", ".join(["*a"] * 40) + "]",
            "more than 32 YAML aliases",
        ),
        ("examples.corpora=" + "[" * 100 + "]" * 100, "nested more than 32 levels"),
        ("examples.corpora=[a", "invalid YAML value"),
    ],
    ids=["self-alias", "aliases", "deep", "unclosed"],
)
def test_override_values_are_read_with_the_same_limits(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(RetrievalConfig, None, [override])
    assert str(caught.value).startswith(f"override '{override[:20]}")
    assert "\n" not in str(caught.value)


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("dictionary:\n  indexes: &both [a, b]\nexamples:\n  corpora: *both\n")
    config = load_settings(RetrievalConfig, path)
    assert config.dictionary.indexes == config.examples.corpora == ["a", "b"]


def test_unreadable_settings_files(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text("# padding\n" * (MAX_SETTINGS_BYTES // 10 + 1))
    (tmp_path / "latin1.yaml").write_bytes(b"cache_dir: caf\xe9\n")
    (tmp_path / "folder.yaml").mkdir()
    for name, message in [("big", "larger than 1 MiB"), ("latin1", "not UTF-8"), ("folder", "is a folder")]:
        with pytest.raises(ConfigError, match=message) as caught:
            load_settings(RetrievalConfig, tmp_path / f"{name}.yaml")
        assert str(caught.value).startswith(str(tmp_path / f"{name}.yaml"))


def test_scalars_read_as_yaml_1_2(tmp_path: Path) -> None:
    """Only true/false are booleans (``no`` is text), exponents are numbers, dates stay text: in files and
    overrides alike."""
    path = tmp_path / "r.yaml"
    path.write_text("cache_dir: 2024-01-01\nuse_cache: no\nexamples:\n  k1: 2e0\n")
    config = load_settings(RetrievalConfig, path, ["conceptnet.min_weight=1e-1", "conceptnet.lemma_fallback=off"])
    assert config.cache_dir == "2024-01-01" and config.use_cache is False  # OmegaConf reads "no" as false
    assert (
        config.examples.k1 == 2.0 and config.conceptnet.min_weight == 0.1 and config.conceptnet.lemma_fallback is False
    )
    assert parse_yaml("a: no\nb: 1e-5\nc: .nan\nd: true\n")[0] == {
        "a": "no",
        "b": 1e-5,
        "c": pytest.approx(float("nan"), nan_ok=True),
        "d": True,
    }


# ------------------------------------------------------------------------------------------- value checks


@pytest.mark.parametrize(
    ("yaml_text", "overrides", "message"),
    [
        ("", ["examples.top_k=0"], r"^override 'examples.top_k=0': examples.top_k must be an integer >= 1, got 0$"),
        (
            "examples:\n  backend: elastic\n",
            [],
            r"/r\.yaml:2: examples.backend must be one of bm25s, rank_bm25; got 'elastic'",
        ),
        ("examples:\n  b: 1.5\n", [], r"/r\.yaml:2: examples.b must be a finite number in \[0, 1\], got 1.5$"),
        ("examples:\n  k1: .nan\n", [], r"/r\.yaml:2: examples.k1 must be a finite number >= 0, got nan$"),
        ("", ["examples.k1=nan"], r"examples.k1 must be a finite number >= 0, got nan"),
        ("", ["examples.k1=-inf"], r"examples.k1 must be a finite number >= 0, got -inf"),
        ("", ["conceptnet.relations=[]"], r"conceptnet.relations must list at least one entry"),
        ("", ["conceptnet.relations=[AtLocation, AtLocation]"], r"conceptnet.relations lists 'AtLocation' twice"),
        ("", ["conceptnet.min_concept_chars=0"], r"conceptnet.min_concept_chars must be an integer >= 1"),
        ("", ["conceptnet.index=''"], r"conceptnet.index must be a non-empty string \(or null\)"),
        ("", ["dictionary.max_link_words=-1"], r"dictionary.max_link_words must be an integer >= 0"),
        ("", ["dictionary.indexes=[a, '']"], r"dictionary.indexes entries must be non-empty strings"),
        (
            "",
            ["sources=[conceptnet, wiki]"],
            r"sources has unknown source 'wiki'; choose from conceptnet, dictionary, examples",
        ),
        ("", ["batch_size=0"], r"^override 'batch_size=0': batch_size must be an integer >= 1, got 0$"),
        ("batch_size: 0\n", ["batch_size=1", "examples.top_k=0"], r"^override 'examples.top_k=0'"),
    ],
)
def test_bad_values_name_their_key_and_origin(
    tmp_path: Path, yaml_text: str, overrides: list[str], message: str
) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(RetrievalConfig, path if yaml_text else None, overrides)
    assert "\n" not in str(caught.value)


def test_saved_values_are_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"^saved settings: examples.top_k must be an integer >= 1, got 0$"):
        load_settings(RetrievalConfig, None, values={"examples": {"top_k": 0}})


def test_settings_built_in_python_are_checked() -> None:
    with pytest.raises(SettingError, match="top_k must be an integer >= 1, got 0") as caught:
        ExamplesConfig(top_k=0)
    assert caught.value.key == "top_k" and caught.value.under("examples").key == "examples.top_k"
    with pytest.raises(ValueError, match="min_weight must be a finite number >= 0, got nan"):
        ConceptNetConfig(min_weight=float("nan"))
    with pytest.raises(ValueError, match="top_k must be an integer >= 1, got True"):
        ExamplesConfig(top_k=True)  # a boolean is not a count
    assert ExamplesConfig.__dataclass_fields__["backend"].default in BACKENDS
    assert set(BACKEND_NAMES) == set(BACKENDS)
    assert isinstance(DictionaryConfig(), DictionaryConfig)


def test_every_source_has_a_section_of_its_name_and_class() -> None:
    config = RetrievalConfig()
    assert list(sources()) == ["conceptnet", "dictionary", "examples"]  # the order they run in
    assert all(isinstance(config.section(name), cls.config_class) for name, cls in sources().items())
    assert isinstance(config, RetrievalConfig) and config.sources == list(sources())


def test_a_mapping_where_a_list_belongs_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("examples:\n  corpora: {a: 1}\n")
    for file, overrides in [(path, []), (None, ["examples.corpora={a: 1}"])]:
        with pytest.raises(ConfigError, match="a mapping where a list belongs, or the reverse") as caught:
            load_settings(RetrievalConfig, file, overrides)
        assert "\n" not in str(caught.value)
