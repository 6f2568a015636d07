"""The scripts: thin (no script imports another or edits ``sys.path``), their recipes load, their helpers hold."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
NAMES = sorted(path.stem for path in SCRIPTS.glob("*.py") if not path.stem.startswith("_"))


@pytest.fixture
def scripts(monkeypatch: pytest.MonkeyPatch):
    """Import a script's module by name, as Python does when it runs a script (its folder first on the path)."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    return importlib.import_module


@pytest.mark.parametrize("name", [*NAMES, "_common"])
def test_a_script_imports_no_other_script_and_leaves_the_path_alone(name: str) -> None:
    tree = ast.parse((SCRIPTS / f"{name}.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & set(NAMES)
    paths = [node for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "path"]
    assert not [node for node in paths if isinstance(node.value, ast.Name) and node.value.id == "sys"]


@pytest.mark.parametrize("name", ["study_csqa_dev", "ablate_heads", "bench_train", "bench_predict", "bench_scale"])
def test_the_data_is_an_option_with_its_default_in_the_help(name: str) -> None:
    result = subprocess.run([sys.executable, str(SCRIPTS / f"{name}.py"), "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--data" in result.stdout and "KEAR_REFERENCE_DATA" in " ".join(result.stdout.split())


def test_the_reference_data_defaults_to_beside_the_working_directory(scripts, monkeypatch) -> None:
    monkeypatch.delenv("KEAR_REFERENCE_DATA", raising=False)
    default = importlib.reload(scripts("_common")).REFERENCE
    monkeypatch.setenv("KEAR_REFERENCE_DATA", "/data/csqa")
    chosen = importlib.reload(scripts("_common")).REFERENCE
    monkeypatch.delenv("KEAR_REFERENCE_DATA")
    importlib.reload(scripts("_common"))  # as the other tests expect it
    assert (default, chosen) == (Path("../shared/data/csqa-dev-reference"), Path("/data/csqa"))


def test_the_study_conditions_are_the_segments_they_were(monkeypatch) -> None:
    from kear.ablate import StudyConfig, condition_config
    from kear.recipes import recipe_path
    from retrieval import load_settings

    monkeypatch.chdir(SCRIPTS.parent)  # the study's paths are relative to the repository root
    study = load_settings(StudyConfig, recipe_path("study/csqa-dev"))
    every = ["qc_meaning", "ac_meaning", "examples", "triple"]
    knowledge = {name: condition_config(study, name).inputs.knowledge for name in study.conditions}
    assert knowledge == {
        "no knowledge": [],
        "ConceptNet triple": ["triple"],
        "definitions (Wiktionary)": ["qc_meaning", "ac_meaning"],
        "definitions (WordNet)": ["qc_meaning", "ac_meaning"],
        "similar examples (BM25)": ["examples"],
        "all three, KEAR's order": every,
        "all three, segment budget": every,
        "all three, reference triples and definitions": every,
        "no knowledge, plain transformers Trainer": [],
    }
    budget = condition_config(study, "all three, segment budget").inputs
    assert budget.truncation == ["examples", "ac_meaning", "qc_meaning"] and budget.segment_caps == {"examples": 24}
    assert study.baseline == "no knowledge" and study.data.folds == 5


def test_the_heads_recipe_names_each_head_and_its_settings(scripts) -> None:
    from retrieval import ConfigError, load_settings

    ablation = scripts("ablate_heads")
    heads = load_settings(ablation.Heads, ablation.HEADS).heads
    assert len(heads) == 6 and heads["RTFormer (r = 0.25, 8 heads)"].head_settings == {"memory_ratio": 0.25, "heads": 8}
    with pytest.raises(ConfigError, match="head_settings"):
        load_settings(ablation.Heads, None, ["heads.x.head=eanet", "heads.x.head_settings.nope=1"])


def test_folds_hold_out_each_record_once() -> None:
    from kear.ablate import k_folds

    folds = k_folds(list(range(10)), 3, seed=0)
    held_out = [record for _, test in folds for record in test]
    assert sorted(held_out) == list(range(10))
    assert all(sorted(train + test) == list(range(10)) for train, test in folds)


def test_updated_changes_only_the_keys_given_and_checks_them_again(scripts) -> None:
    from kear.config import TrainConfig
    from retrieval.settings import SettingError

    updated = scripts("_common").updated
    config = updated(
        TrainConfig(), {"training": {"seed": 7}, "model": {"head_settings": {"slots": 4}, "head": "eanet"}}
    )
    assert (config.training.seed, config.training.epochs, config.model.head) == (
        7,
        TrainConfig().training.epochs,
        "eanet",
    )
    with pytest.raises(SettingError):
        updated(TrainConfig(), {"training": {"batch_size": 0}})
