"""Run the chosen knowledge sources over records: records in, the same records with knowledge fields out."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
from tqdm.auto import tqdm

from .cache import KnowledgeCache, record_key
from .config import RetrievalConfig
from .errors import ConfigError, ErrorPolicy
from .outputs import atomic_writer, check_output, check_writable
from .records import RECORDS, Record, as_records, read_records, record_from_dict, write_records
from .source import KnowledgeSource, sources

if TYPE_CHECKING:
    from .cluster import ClusterConfig

logger = logging.getLogger(__name__)


def build_sources(config: RetrievalConfig, names: Sequence[str] | None = None) -> list[KnowledgeSource]:
    """Instantiate sources by name, in the order they run (ConceptNet first: it may ground the question concept
    that the dictionary then defines)."""
    config = config.located()
    names = list(config.sources if names is None else names)
    known = sources()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown knowledge source(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    return [cls(config.section(name)) for name, cls in known.items() if name in names]


@dataclass
class RetrievalReport:
    """Counts from one run of :func:`annotate`."""

    records: int = 0
    choices: int = 0
    computed: dict[str, int] = field(default_factory=dict)
    cached: dict[str, int] = field(default_factory=dict)
    found: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def count(self, record: Record) -> None:
        self.records += 1
        self.choices += len(record.choices)
        found = [k for k, v in record.knowledge.items() if v] + [
            k for c in record.choices for k, v in c.knowledge.items() if v
        ]
        for name in found:
            self.found[name] = self.found.get(name, 0) + 1


def _batches(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch


class Annotator:
    """Knowledge sources opened once, to add knowledge to any number of batches of records.

    This is the way to retrieve more than once from Python, in ``datasets.Dataset.map`` and in the workers of a
    cluster: the sources (their indexes, the BM25 corpus) are built on first use in each process and kept, where
    :func:`annotate` with settings builds them for its call alone. A copy sent to another process (pickled, as
    ``datasets.map(num_proc=N)`` and Ray send functions) carries only the settings, and opens the sources again,
    once, where it lands.

    Args:
        config: retrieval settings.
        sources: the sources to run, by name (default ``config.sources``).

    Raises:
        ConfigError: an unknown source, or settings that name no index or corpus (said when made, before any work).

    Example::

        annotator = Annotator(load_settings(RetrievalConfig, "csqa.yaml"))
        for batch in batches:
            records = annotator(batch)  # the same records, with their knowledge fields
    """

    def __init__(self, config: RetrievalConfig, sources: Sequence[str] | None = None) -> None:
        self.config = config.located()  # a bundle's paths, fetched once here rather than per process
        self.names = None if sources is None else list(sources)
        self._opened: tuple[int, list[KnowledgeSource], dict[str, str]] | None = None
        self._cache: tuple[int, KnowledgeCache] | None = None
        self._active()  # a bad setting is said now, not at the first batch

    def _active(self) -> tuple[list[KnowledgeSource], dict[str, str]]:
        """The sources and their fingerprints, built once per process."""
        if self._opened is None or self._opened[0] != os.getpid():
            active = build_sources(self.config, self.names)
            self._opened = (os.getpid(), active, {source.name: source.fingerprint() for source in active})
        return self._opened[1], self._opened[2]

    @property
    def sources(self) -> list[KnowledgeSource]:
        """The sources, in the order they run."""
        return self._active()[0]

    def read_paths(self) -> list[str]:
        """What these sources read (indexes, corpora, the cache): what an output must not be."""
        return self.config.read_paths(self.names)

    def _knowledge_cache(self) -> KnowledgeCache | None:
        """The cache, opened once per process (an SQLite connection does not survive a fork)."""
        if not self.config.use_cache:
            return None
        if self._cache is None or self._cache[0] != os.getpid():
            self._cache = (os.getpid(), KnowledgeCache(self.config.cache_path()))
        return self._cache[1]

    def close(self) -> None:
        """Close the cache (the sources hold only read-only files, closed with them)."""
        if self._cache is not None and self._cache[0] == os.getpid():
            self._cache[1].close()
        self._cache = None

    def __enter__(self) -> Annotator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict:
        # the settings travel, as values (their class is made at run time); opened indexes and connections belong
        # to the process that opened them
        return {"config": asdict(self.config), "names": self.names}

    def __setstate__(self, state: dict) -> None:
        from .settings import load_settings

        self.config, self.names = load_settings(RetrievalConfig, values=state["config"]), state["names"]
        self._opened = self._cache = None

    def __call__(self, records: Iterable[Record]) -> list[Record]:
        """Add knowledge to ``records`` (in place) and return them as a list."""
        return list(self.annotate(records, progress=False))

    def annotate(
        self, records: Iterable[Record], *, report: RetrievalReport | None = None, progress: bool = True
    ) -> Iterator[Record]:
        """Add knowledge fields to each record, in place, and yield it (see :func:`annotate`)."""
        report = report if report is not None else RetrievalReport()
        records = as_records(records)  # dicts and datasets rows become records; records stay themselves
        started = time.perf_counter()
        active, fingerprints = self._active()
        cache = self._knowledge_cache()
        bar = tqdm(desc="retrieving", unit=" questions", disable=not progress)
        try:
            for batch in _batches(records, max(1, self.config.batch_size)):
                for source in active:
                    keys = [record_key(fingerprints[source.name], record) for record in batch]
                    known = cache.get_many(keys) if cache is not None else {}
                    missing = [r for r, k in zip(batch, keys) if k not in known]
                    fresh = dict(zip([k for k in keys if k not in known], source.annotate(missing))) if missing else {}
                    if cache is not None and fresh:
                        cache.put_many(fresh)
                    for record, key in zip(batch, keys):
                        (known.get(key) or fresh[key]).apply(record)
                    report.cached[source.name] = report.cached.get(source.name, 0) + len(known)
                    report.computed[source.name] = report.computed.get(source.name, 0) + len(fresh)
                for record in batch:
                    report.count(record)
                bar.update(len(batch))
                yield from batch
        finally:
            bar.close()
            report.seconds += time.perf_counter() - started


def annotate(
    records: Iterable[Record],
    config: RetrievalConfig | Annotator,
    sources: Sequence[str] | None = None,
    *,
    report: RetrievalReport | None = None,
    progress: bool = True,
) -> Iterator[Record]:
    """Add knowledge fields to each record, in place, and yield it.

    Args:
        records: the records, in any number (they are processed in batches and streamed); dicts in any layout
            :func:`retrieval.read_records` reads, or the rows of a ``datasets.Dataset``, are made records first (and
            those records yielded).
        config: retrieval settings, whose sources are built for this call alone; or an :class:`Annotator`, whose
            sources, opened once, serve every call (the way to retrieve batch after batch).
        sources: source names to run (default ``config.sources``; with an annotator, its own).
        report: filled with counts as records go by.
        progress: show a progress bar.
    """
    if isinstance(config, Annotator):
        if sources is not None and list(sources) != (config.names or config.config.sources):
            raise ConfigError("annotate: give the sources to the Annotator, not with it")
        yield from config.annotate(records, report=report, progress=progress)
        return
    with Annotator(config, sources) as annotator:
        yield from annotator.annotate(records, report=report, progress=progress)


def retrieve_file(
    source: str | Path,
    output: str | Path,
    config: RetrievalConfig,
    sources: Sequence[str] | None = None,
    *,
    split: str | None = None,
    policy: ErrorPolicy | None = None,
    progress: bool = True,
    cluster: ClusterConfig | None = None,
    overwrite: bool = False,
) -> RetrievalReport:
    """Read records, add knowledge, and write them as JSONL (atomically; ``-`` for stdout).

    The output may not be the input nor anything retrieval reads (indexes, corpora, the cache), and an existing
    file is replaced only if kear wrote it as records (or with ``overwrite``): checked before any work.

    Args:
        source: records in any format :func:`read_records` reads.
        output: the JSONL file to write, or ``-``.
        config: retrieval settings.
        sources: the sources to run (default ``config.sources``).
        split: split to read from a dataset folder or Hub id.
        policy: what to do with invalid input lines.
        progress: show a progress bar.
        cluster: retrieve on a Ray cluster (:mod:`retrieval.cluster`) rather than in this process; the output is
            the same.
        overwrite: replace an existing output that kear did not write as records.
    """
    if str(output) != "-":
        check_output(output, [source, *config.read_paths(sources)], kind=RECORDS, overwrite=overwrite)
        check_writable(output)
    policy = policy or ErrorPolicy()
    report = RetrievalReport()
    with Annotator(config, sources) as annotator:  # its settings are checked here, before any record is read
        records = read_records(source, split=split, policy=policy)
        if cluster is None:
            write_records(output, annotator.annotate(records, report=report, progress=progress), overwrite=overwrite)
        else:
            _retrieve_on_cluster(list(records), output, annotator, cluster, report, progress, overwrite)
    policy.report("input lines")
    # the command line reports the same, with the output's name; from Python, the report says it
    logger.debug(
        "%d records (%d choices) in %.1f s; computed %s, from cache %s",
        report.records,
        report.choices,
        report.seconds,
        report.computed,
        report.cached,
    )
    return report


def _retrieve_on_cluster(
    records: list[Record],
    output: str | Path,
    annotator: Annotator,
    cluster: ClusterConfig,
    report: RetrievalReport,
    progress: bool,
    overwrite: bool,
) -> None:
    """:func:`retrieve_file`'s writing, with the knowledge retrieved on a cluster, in the same lines."""
    from .cluster import annotate_on_cluster

    started = time.perf_counter()
    size = max(1, annotator.config.batch_size)
    blocks = annotate_on_cluster(records, annotator.config, annotator.names, cluster, chunk=size, progress=progress)
    with atomic_writer(output, kind=RECORDS, overwrite=overwrite) as handle:
        for block in blocks:
            handle.write(block)
            for line in block.splitlines():  # counted as in one process, from what the workers found
                report.count(record_from_dict(orjson.loads(line)))
    report.seconds += time.perf_counter() - started
