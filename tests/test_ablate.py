"""``kear ablate`` on the bundled sample: 2 folds, 2 steps a run; a report, a resume that recomputes nothing
finished, and selection that never sees a held-out question."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import kear.ablate
import kear.training
from kear.ablate import StudyConfig, ablate, fold_parts
from kear.cli import main
from retrieval import load_settings, read_records
from retrieval.data import sample_file

CONDITIONS = {
    "no knowledge": {"inputs": {"knowledge": []}},
    "triple": {"inputs": {"knowledge": ["triple"], "truncation": ["triple"]}},
    "Trainer": {"kind": "trainer", "inputs": {"knowledge": []}},
}


@pytest.fixture
def study(tiny_deberta: Path, sample_indexes: dict[str, Path], tmp_path: Path) -> Path:
    recipe = {
        "model": {"name_or_path": str(tiny_deberta)},
        "inputs": {"max_length": 64},
        "training": {"epochs": 1, "batch_size": 4, "seed": 3},  # 5 inner training questions: 2 steps
        "retrieval": {
            "conceptnet": {"index": str(sample_indexes["conceptnet"])},
            "dictionary": {"indexes": [str(sample_indexes["dictionary"])]},
        },
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    settings = {
        "data": {"records": str(sample_file("questions.jsonl")), "folds": 2, "seed": 0},
        "selection": {"learning_rates": [1e-3, 3e-3], "inner_fraction": 0.2},
        "recipe": str(tmp_path / "recipe.yaml"),
        "conditions": CONDITIONS,
        "output_dir": str(tmp_path / "study"),
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    return tmp_path / "study.yaml"


def test_a_study_reports_resumes_and_never_selects_on_a_held_out_question(study, monkeypatch, tmp_path) -> None:
    settings = load_settings(StudyConfig, study)
    held_out = [{r.id for r in part} for _, part in fold_parts(settings)]
    seen: list[tuple[int, set[str]]] = []  # (fold, the ids every selection run trained or chose on)
    real_train, real_cell = kear.training.train, kear.ablate.run_cell

    def spying_train(config, progress=True):
        ids = {r.id for path in (config.data.train, config.data.dev) for r in read_records(path)}
        seen.append((int(Path(config.data.train).parts[-3].removeprefix("fold")), ids))
        return real_train(config, progress)

    ran: list[tuple[str, int]] = []

    def counting_cell(study, name, fold, *rest):
        ran.append((name, fold))
        if len(ran) == 2 and not (tmp_path / "interrupted").exists():
            (tmp_path / "interrupted").touch()
            raise KeyboardInterrupt  # the study is stopped in the middle of its second cell
        return real_cell(study, name, fold, *rest)

    monkeypatch.setattr(kear.training, "train", spying_train)
    monkeypatch.setattr(kear.ablate, "run_cell", counting_cell)
    assert main(["ablate", "--config", str(study), "data.run_folds=[0]"]) == 130  # as Ctrl-C ends it
    cells = tmp_path / "study" / "cells.jsonl"
    assert [json.loads(line)["condition"] for line in cells.read_text().splitlines()] == ["no knowledge"]

    ran.clear()
    assert main(["ablate", "--config", str(study), "data.run_folds=[0]"]) == 0  # resumes fold 0
    assert ran == [("triple", 0), ("Trainer", 0)]
    ran.clear()
    assert main(["ablate", "--config", str(study)]) == 0  # grows by a fold
    assert ran == [(name, 1) for name in CONDITIONS]
    ran.clear()
    assert main(["ablate", "--config", str(study)]) == 0 and ran == []  # nothing left to do

    assert seen and all(not ids & held_out[fold] for fold, ids in seen)
    for fold in (0, 1):  # the BM25 corpus of a fold is its training part
        corpus = tmp_path / "study" / "cells" / f"fold{fold}" / "triple" / "corpus.jsonl"
        assert {r.id for r in read_records(corpus)}.isdisjoint(held_out[fold])

    report = (tmp_path / "study" / "report.md").read_text()
    assert "| no knowledge | 2 |" in report and "| Trainer | 2 |" in report and "kear ablate --config" in report
    summary = json.loads((tmp_path / "study" / "report.json").read_text())
    assert len(summary["cells"]) == 6 and set(summary["summary"]) == set(CONDITIONS)
    triple = summary["summary"]["triple"]
    assert set(triple["survival"]) == {"triple"} and triple["difference"]["half_width"] is not None
    assert all(cell["selected"]["learning_rate"] in (1e-3, 3e-3) for cell in summary["cells"])

    # the report kept, the output folder gone (another machine): the study goes on from the report's cells
    kept = tmp_path / "study" / "report.md"
    moved = [f"output_dir={tmp_path / 'elsewhere'}", f"report={kept}"]
    assert main(["ablate", "--config", str(study), *moved]) == 0 and ran == []
    assert len((tmp_path / "elsewhere" / "cells.jsonl").read_text().splitlines()) == 6
    other = load_settings(StudyConfig, study, [f"output_dir={tmp_path / 'other'}", f"report={kept}", "data.seed=1"])
    assert kear.ablate.finished_cells(Path(other.output_dir), other) == {}  # another protocol: nothing taken


def test_a_changed_protocol_or_condition_is_refused(study, tmp_path) -> None:
    settings = load_settings(StudyConfig, study, ["data.run_folds=[0]", "data.max_records=8"])
    kear.ablate.finished_cells(Path(settings.output_dir), settings)  # records the protocol
    with pytest.raises(kear.ablate.KearError, match="another protocol"):
        kear.ablate.finished_cells(Path(settings.output_dir), load_settings(StudyConfig, study, ["data.seed=1"]))
    with pytest.raises(kear.ablate.ConfigError, match="either records"):
        load_settings(StudyConfig, study, [f"data.train={sample_file('train.jsonl')}"])
    assert ablate  # the library call the command wraps
