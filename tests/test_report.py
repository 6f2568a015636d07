"""The study report's notes: the learning-rate grid's (said when most cells chose one of its ends, not otherwise)
and the time the cells took in all."""

from __future__ import annotations

from kear.report import grid_edge, time_spent


def table(*chosen: float) -> dict:
    """A report table whose cells chose these learning rates (two conditions, the cells split between them)."""
    cells = [{"learning_rate": rate, "epochs": 2} for rate in chosen]
    return {"no knowledge": {"selected": cells[::2]}, "triple": {"selected": cells[1::2]}}


def test_most_cells_at_the_top_of_the_grid_are_named() -> None:
    note = grid_edge([3e-5, 1e-4], table(1e-4, 1e-4, 1e-4, 3e-5))
    assert note is not None and note.startswith("3 of 4 cells chose the largest learning rate of the grid, 0.0001")


def test_the_bottom_of_the_grid_too() -> None:
    note = grid_edge([1e-4, 3e-5, 5e-5], table(3e-5, 3e-5))
    assert note is not None and "2 of 2 cells chose the smallest learning rate of the grid, 3e-05" in note


def test_no_note_when_the_choices_spread_or_there_is_no_grid() -> None:
    assert grid_edge([3e-5, 1e-4], table(1e-4, 3e-5, 1e-4, 3e-5)) is None
    assert grid_edge([1e-4], table(1e-4, 1e-4)) is None
    assert grid_edge([3e-5, 1e-4], {}) is None


def test_the_time_spent_sums_every_finished_cell() -> None:
    rows = {"no knowledge": {"folds": [0, 1], "seconds": 1800.0}, "triple": {"folds": [0], "seconds": 5400.0}}
    assert time_spent(rows) == "The 3 finished cells took 2.0 h of wall time in all (the sum of the times above)."
