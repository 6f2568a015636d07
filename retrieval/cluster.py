"""Retrieval and prediction on a Ray cluster (``pip install 'kear[cluster]'``), beyond what one machine does in time.

Ray Data maps chunks of records through a fixed pool of actors (``map_batches`` with an actor class): each actor
opens the knowledge sources (and, for prediction, loads the model) once, when it starts, and then handles chunk
after chunk. The process that runs kear (the driver) reads and checks the records, cuts them into the same chunks
one process would, and writes what comes back in input order, so the output is the one-process command's, byte
for byte. The engine does the rest: it schedules the chunks on the workers of every machine, restarts a worker
that dies and retries its chunk, and shows the progress.

The records go to the cluster as Python objects and the knowledge indexes (or the model) are read by each worker
from the path the settings give: on a cluster of several machines, give paths that every machine can read (a
shared file system), or a Hub id for the model.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from .errors import KearError
from .io import dump_json_line
from .records import Record
from .settings import check_int, check_number, check_text

logger = logging.getLogger(__name__)

INSTALL = "pip install 'kear[cluster]'"


@dataclass
class ClusterConfig:
    """Where and on how many workers a run goes.

    Args:
        address: ``local`` (start a Ray cluster on this machine for the run, and stop it at the end), ``auto``
            (join the cluster this machine belongs to, started with ``ray start``), or ``ray://HOST:10001`` (a
            remote cluster's client address). A Ray session this process already started is used as it is.
        workers: actors, each with its own copy of the sources (and model).
        cpus_per_worker: CPU cores each worker reserves (and the threads its model runs on).
        gpus_per_worker: GPUs each worker reserves (prediction; 0 runs on the CPU).

    Checked when built: ``address`` a non-empty text; ``workers`` an integer >= 1; ``cpus_per_worker`` a number
    > 0; ``gpus_per_worker`` a number >= 0.
    """

    address: str = "local"
    workers: int = 2
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0

    def __post_init__(self) -> None:
        check_text(self.address, "address")
        check_int(self.workers, "workers", 1)
        check_number(self.cpus_per_worker, "cpus_per_worker", above=0)
        check_number(self.gpus_per_worker, "gpus_per_worker", minimum=0)


def _ray() -> Any:
    try:
        import ray
        import ray.data  # (Ray Data is the part of Ray this needs)
    except ImportError:
        raise KearError(f"running on a cluster needs Ray Data, which is not installed: {INSTALL}") from None
    return ray


@contextlib.contextmanager
def session(cluster: ClusterConfig) -> Iterator[Any]:
    """Ray, started or joined as ``cluster.address`` says, for the block (a session started here ends with it)."""
    ray = _ray()
    started = not ray.is_initialized()
    if started:
        local = cluster.address == "local"
        try:
            ray.init(
                address=None if local else cluster.address,
                num_cpus=max(1, round(cluster.workers * cluster.cpus_per_worker)) if local else None,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise KearError(f"cannot start or reach the Ray cluster at '{cluster.address}': {error}") from None
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def _kear_error(error: BaseException) -> KearError | None:
    """The :class:`KearError` a worker raised, found inside the engine's wrappers of it."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, KearError):
            return KearError(str(error).strip().splitlines()[-1] if "\n" in str(error) else str(error))
        error = getattr(error, "cause", None) or error.__cause__
    return None


def cluster_map(
    chunks: Sequence[list[Record]], worker: type, cluster: ClusterConfig, *, progress: bool = False
) -> Iterator[bytes]:
    """What ``worker`` makes of each chunk, in the chunks' order, made by a pool of its actors on the cluster.

    Args:
        chunks: the records, cut into the chunks one process would make.
        worker: a :class:`ChunkWorker` subclass (:func:`worker_class` makes one with its settings).
        cluster: where and on how many workers.
        progress: show the engine's progress bars.

    Raises:
        KearError: a worker's error, in its own one line (bad settings, an index that is not there).
    """
    with session(cluster) as ray:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # lines come back in input order
        context.enable_progress_bars = progress
        for name in ("ray.data", "ray"):  # its plans and the pickled-column notice: noise beside kear's log
            logging.getLogger(name).setLevel(logging.ERROR)
        dataset = ray.data.from_items([{"chunk": chunk} for chunk in chunks]).map_batches(
            worker,
            batch_size=1,  # one chunk per call: the same batches as one process, so the same scores
            compute=ray.data.ActorPoolStrategy(size=cluster.workers),
            num_cpus=cluster.cpus_per_worker,
            num_gpus=cluster.gpus_per_worker or None,
        )
        try:
            for row in dataset.iter_rows():
                yield row["out"]
        except Exception as error:  # the engine wraps a worker's error in its own, with the worker's traceback
            found = _kear_error(error)
            if found is None:
                raise
            raise found from None


class ChunkWorker:
    """An actor of :func:`cluster_map`: built once per worker with :attr:`settings`, then called per chunk."""

    settings: ClassVar[dict[str, Any]] = {}

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[bytes]]:
        return {"out": [self.lines(list(chunk)) for chunk in batch["chunk"]]}

    def lines(self, records: list[Record]) -> bytes:
        """The output lines of one chunk of records."""
        raise NotImplementedError


def worker_class(base: type[ChunkWorker], **settings: Any) -> type[ChunkWorker]:
    """``base`` with ``settings`` as a class attribute: the engine ships the class to every worker with them."""
    return type(base.__name__, (base,), {"settings": settings})


class AnnotateWorker(ChunkWorker):
    """Adds knowledge to each chunk with an :class:`~retrieval.pipeline.Annotator` opened once per worker."""

    def __init__(self) -> None:
        from .config import RetrievalConfig
        from .pipeline import Annotator
        from .settings import load_settings

        config = load_settings(RetrievalConfig, values=self.settings["config"])
        self.annotator = Annotator(config, self.settings["sources"])

    def lines(self, records: list[Record]) -> bytes:
        return b"".join(dump_json_line(record.to_dict()) for record in self.annotator(records))


def annotate_on_cluster(
    records: Sequence[Record],
    config: Any,
    sources: Sequence[str] | None,
    cluster: ClusterConfig,
    *,
    chunk: int,
    progress: bool = False,
) -> Iterator[bytes]:
    """Knowledge for ``records``, as ``kear retrieve``'s output lines, one block per chunk of ``chunk`` records."""
    chunks = [list(records[i : i + chunk]) for i in range(0, len(records), chunk)]
    names = None if sources is None else list(sources)
    worker = worker_class(AnnotateWorker, config=asdict(config.resolved()), sources=names)
    return cluster_map(chunks, worker, cluster, progress=progress)
