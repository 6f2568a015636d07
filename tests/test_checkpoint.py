from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from kear.checkpoint import load_tree, replace_folder, rng_state, save_tree, set_rng_state


def test_nested_state_round_trips_without_pickle(tmp_path: Path) -> None:
    state = {
        "state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.randn(2, 3)}},
        "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0], "name": None}],
        "array": np.arange(4),
        "flag": True,
    }
    save_tree(state, tmp_path / "opt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["opt.json", "opt.safetensors"]
    back = load_tree(tmp_path / "opt")
    assert back["param_groups"][0]["betas"] == (0.9, 0.999)
    torch.testing.assert_close(back["state"][0]["exp_avg"], state["state"][0]["exp_avg"])
    assert back["state"][0]["step"].item() == 3.0 and back["array"].tolist() == [0, 1, 2, 3]
    with pytest.raises(TypeError, match="cannot store"):
        save_tree({"x": object()}, tmp_path / "bad")


def test_random_generators_resume_exactly(tmp_path: Path) -> None:
    save_tree(rng_state(), tmp_path / "rng")
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(load_tree(tmp_path / "rng"))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_replace_folder(tmp_path: Path) -> None:
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "a").write_text("new")
    (tmp_path / "target").mkdir()
    replace_folder(tmp_path / "new", tmp_path / "target")
    assert (tmp_path / "target" / "a").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["target"]
