from __future__ import annotations

import contextlib
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from kear.checkpoint import (
    has_checkpoint,
    iterate_restoring_rng,
    kept_checkpoints,
    load_checkpoint,
    load_tree,
    prune_checkpoints,
    remove_staged,
    replace_folder,
    rng_state,
    save_checkpoint,
    save_tree,
    set_rng_state,
    staged_folder,
)
from retrieval.errors import ConfigError
from retrieval.outputs import TEMPORARY_MARK


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


def _trainables(seed: int) -> tuple:
    """A small model, its optimizer and schedule, prepared by a fresh accelerator, as a training run has them."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()  # as kear.training does: one run's accelerator state must not leak into the next
    accelerator = Accelerator(cpu=True)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Dropout(0.5), torch.nn.Linear(3, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (1 + step))
    return accelerator, *accelerator.prepare(model, optimizer, scheduler)


def _train_steps(model: torch.nn.Module, optimizer, scheduler, steps: int) -> None:
    for _ in range(steps):
        model(torch.randn(5, 4)).sum().backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()


def test_a_saved_checkpoint_loads_back_whole_in_the_layout_of_older_runs(tmp_path: Path) -> None:
    accelerator, model, optimizer, scheduler = _trainables(seed=0)
    _train_steps(model, optimizer, scheduler, steps=3)
    state = {"epoch": 1, "batches_done": 2, "global_step": 3, "best_accuracy": 0.5, "best_epoch": 1.0, "history": []}
    save_checkpoint(tmp_path / "checkpoint", state, accelerator, model, optimizer, scheduler)
    # these names are what checkpoints on disk already hold: renaming one would stop them from resuming
    assert sorted(p.name for p in (tmp_path / "checkpoint").iterdir()) == [
        "model.safetensors",
        "optimizer.json",
        "optimizer.safetensors",
        "rng-0.json",
        "rng-0.safetensors",
        "scheduler.json",
        "trainer_state.json",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]  # no staging folder left
    assert has_checkpoint(tmp_path / "checkpoint") and not has_checkpoint(tmp_path)
    expected_draws = (random.random(), np.random.rand(), torch.rand(1).item())
    saved = {
        "weights": {k: v.clone() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "lr": scheduler.get_last_lr(),
    }

    accelerator, model, optimizer, scheduler = _trainables(seed=1)  # what a resumed run builds from its settings
    back, rng = load_checkpoint(tmp_path / "checkpoint", accelerator, model, optimizer, scheduler)
    assert back == state and rng is not None
    torch.testing.assert_close(model.state_dict(), saved["weights"])
    torch.testing.assert_close(optimizer.state_dict()["state"], saved["optimizer"]["state"])
    assert optimizer.state_dict()["param_groups"] == saved["optimizer"]["param_groups"]
    assert scheduler.get_last_lr() == saved["lr"] and scheduler.state_dict()["last_epoch"] == 3
    list(iterate_restoring_rng([1], rng, mid_epoch=False))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected_draws
    # and training goes on from there as it would have
    _train_steps(model, optimizer, scheduler, steps=1)


def test_checkpoints_of_another_model_are_refused_in_one_line(tmp_path: Path) -> None:
    accelerator, model, optimizer, scheduler = _trainables(seed=0)
    save_checkpoint(tmp_path / "checkpoint", {"global_step": 1}, accelerator, model, optimizer, scheduler)
    accelerator, _, optimizer, scheduler = _trainables(seed=0)
    other = accelerator.prepare(torch.nn.Linear(4, 7))
    with pytest.raises(ConfigError, match="holds a checkpoint of a different model"):
        load_checkpoint(tmp_path / "checkpoint", accelerator, other, optimizer, scheduler)


def test_earlier_checkpoints_are_kept_by_step_and_pruned_to_the_newest(tmp_path: Path) -> None:
    accelerator, model, optimizer, scheduler = _trainables(seed=0)
    folder = tmp_path / "checkpoint"
    for step in (1, 2, 3):
        # the model's other files come with the checkpoint (training writes config and tokenizer there)
        write = lambda staging, step=step: (staging / "config.json").write_text(f'{{"step": {step}}}')  # noqa: E731
        state = {"global_step": step}
        save_checkpoint(folder, state, accelerator, model, optimizer, scheduler, model_files=write, keep_previous=True)
    (tmp_path / "checkpoint-9").mkdir()  # not a checkpoint: neither counted nor removed
    assert [p.name for p in kept_checkpoints(folder)] == ["checkpoint-1", "checkpoint-2"]
    assert (tmp_path / "checkpoint-1" / "config.json").read_text() == '{"step": 1}'
    assert (folder / "config.json").read_text() == '{"step": 3}' and has_checkpoint(tmp_path / "checkpoint-2")
    prune_checkpoints(folder, None)  # no limit
    assert len(kept_checkpoints(folder)) == 2
    prune_checkpoints(folder, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint", "checkpoint-2", "checkpoint-9"]
    save_checkpoint(folder, {"global_step": 4}, accelerator, model, optimizer, scheduler)  # not kept: replaced
    prune_checkpoints(folder, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint", "checkpoint-9"]
    assert load_checkpoint(folder, accelerator, model, optimizer, scheduler)[0] == {"global_step": 4}


class _SeededLoader:
    """Batches as accelerate's loaders hand them out: a seed for the epoch is drawn as the first batch comes."""

    def __iter__(self):
        self.seed = torch.randint(0, 2**31, (1,)).item()
        yield from range(3)


@pytest.mark.parametrize("mid_epoch", [False, True])
def test_random_generators_come_back_at_the_batch_where_they_were_saved(mid_epoch: bool, tmp_path: Path) -> None:
    loader = _SeededLoader()
    torch.manual_seed(0)
    save_tree(rng_state(), tmp_path / "at-start")
    next(iter(loader))  # the draw that a checkpoint saved in mid-epoch comes after
    save_tree(rng_state(), tmp_path / "mid-epoch")
    expected = torch.rand(1).item()
    rng = load_tree(tmp_path / ("mid-epoch" if mid_epoch else "at-start"))
    torch.manual_seed(123)  # a resumed run's generators, before the restore
    batches = list(iterate_restoring_rng(loader, rng, mid_epoch=mid_epoch))
    assert batches == [0, 1, 2] and torch.rand(1).item() == expected
    # nothing to restore: the loader is read as it is
    assert list(iterate_restoring_rng(loader, None, mid_epoch=mid_epoch)) == [0, 1, 2]


def test_a_staged_folder_replaces_its_target_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "best"
    with staged_folder(target) as staging:
        (staging / "a").write_text("first")
    with pytest.raises(RuntimeError), staged_folder(target, "-7") as staging:
        assert staging.name == ".best-7.kear.tmp" and [p.name for p in staging.iterdir()] == [TEMPORARY_MARK]
        (staging / "a").write_text("half")
        raise RuntimeError("killed while writing")
    assert sorted(p.name for p in target.iterdir()) == ["a"]  # the complete version stays, without kear's mark
    (tmp_path / ".best.old").mkdir()  # what a writer killed in the middle of the swap leaves
    (tmp_path / "other.tmp").mkdir()  # not the target's: stays
    (tmp_path / ".best.notes.tmp").mkdir()  # the target's name, but not kear's: stays
    remove_staged(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".best.notes.tmp", "best", "other.tmp"]


def test_a_writer_killed_between_the_two_renames_loses_one_save_not_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint"
    old = tmp_path / ".checkpoint.old"  # the complete previous version, moved aside; the new one not yet in place
    old.mkdir()
    (old / "trainer_state.json").write_text("{}")
    with contextlib.suppress(RuntimeError), staged_folder(target, "-8"):
        raise RuntimeError("killed while writing")  # and its staging folder, left
    remove_staged(target)
    assert has_checkpoint(target) and sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]
