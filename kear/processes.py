"""The processes of one prediction run: one, or N started by ``accelerate launch`` or ``torchrun``.

Prediction splits work between the processes and gathers it back, so that the output is what one process would
write. Every process reads the same input and takes the same steps; where a step can fail on one process and not
on another (a record only it retrieves, the output only the first one writes), :meth:`Processes.together` gathers
every process's outcome, so that all of them stop with the same one-line error instead of waiting for each other.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch

from retrieval.errors import KearError

T = TypeVar("T")
logger = logging.getLogger(__name__)


class ErrorElsewhere(KearError):
    """An error that another process met and reports: this process stops with it, without saying it again."""

    said_elsewhere = True


def launched_processes() -> int:
    """How many processes the launcher started (``WORLD_SIZE``; 1 without a launcher)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


@dataclass
class Processes:
    """Where this process stands among the run's processes.

    Args:
        rank: this process's number, from 0 (the one that writes).
        world: how many processes run.
        device: where this process runs its model (its own GPU when there are GPUs).
    """

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @classmethod
    def launched(cls) -> Processes:
        """The processes of this run, joined once per process (over gloo on CPUs, NCCL on GPUs).

        Raises:
            KearError: a launch that did not give the processes it asked for.
        """
        from accelerate import PartialState

        launched = launched_processes()
        # without a GPU, accelerate joins the processes only when told to use the CPU (else each runs as 1 of 1)
        state = PartialState(cpu=launched > 1 and not torch.accelerator.is_available())
        if state.num_processes != launched:
            raise KearError(
                f"launched as {launched} processes but accelerate joined {state.num_processes}; see "
                "docs/training.md for the launchers that work"
            )
        return cls(state.process_index, state.num_processes, state.device)

    @property
    def main(self) -> bool:
        """Whether this is the process that writes outputs and logs."""
        return self.rank == 0

    def share(self, count: int) -> range:
        """This process's share of ``count`` items: every ``world``-th, from its rank (interleaved, so that each
        gets as much of a length-sorted list as the others)."""
        return range(self.rank, count, self.world)

    def gather(self, value: Any) -> list[Any]:
        """Every process's ``value``, in rank order, on every process."""
        if self.world == 1:
            return [value]
        out: list[Any] = [None] * self.world
        torch.distributed.all_gather_object(out, value)
        return out

    def together(self, step: Callable[[], T]) -> T:
        """Run ``step`` here and return its result, once every process has run its own.

        Raises:
            KearError: the first error any process met (said by the first process; the others stop quietly).
        """
        return self._run(step, exchange=False)[self.rank]

    def exchange(self, step: Callable[[], T]) -> list[T]:
        """Run ``step`` here; return every process's result, in rank order, on every process (errors as
        :meth:`together`)."""
        return self._run(step, exchange=True)

    def _run(self, step: Callable[[], T], exchange: bool) -> list[Any]:
        try:
            result, error = step(), None
        except KearError as failure:
            if self.world == 1:
                raise
            result, error = None, failure
        if self.world == 1:
            return [result]
        # what each process sends: its error, and its result only when every process wants it
        outcomes = self.gather((None if error is None else str(error), result if exchange else None))
        failed = next((message for message, _ in outcomes if message is not None), None)
        if failed is not None:
            if self.main:
                raise error if error is not None else KearError(failed)
            raise ErrorElsewhere(failed)
        if exchange:
            return [value for _, value in outcomes]
        return [result if rank == self.rank else None for rank in range(self.world)]

    def describe(self) -> str:
        """``1 process`` or ``2 processes (cpu)``, for the log."""
        if self.world == 1:
            return "1 process"
        return f"{self.world} processes ({self.device.type})"
