"""Run the chosen knowledge sources over records: records in, the same records with knowledge fields out."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from tqdm.auto import tqdm

from .cache import KnowledgeCache, record_key
from .config import RetrievalConfig
from .errors import ConfigError, ErrorPolicy
from .io import check_output
from .records import Record, read_records, write_records
from .source import KnowledgeSource, sources

logger = logging.getLogger(__name__)


def build_sources(config: RetrievalConfig, names: Sequence[str] | None = None) -> list[KnowledgeSource]:
    """Instantiate sources by name, in the order they run (ConceptNet first: it may ground the question concept
    that the dictionary then defines)."""
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


def annotate(
    records: Iterable[Record],
    config: RetrievalConfig,
    sources: Sequence[str] | None = None,
    *,
    report: RetrievalReport | None = None,
    progress: bool = True,
) -> Iterator[Record]:
    """Add knowledge fields to each record, in place, and yield it.

    Args:
        records: the records, in any number (they are processed in batches and streamed).
        config: retrieval settings.
        sources: source names to run (default ``config.sources``).
        report: filled with counts as records go by.
        progress: show a progress bar.
    """
    report = report if report is not None else RetrievalReport()
    started = time.perf_counter()
    active = build_sources(config, sources)
    fingerprints = {source.name: source.fingerprint() for source in active}
    cache = KnowledgeCache(config.cache_path()) if config.use_cache else None
    bar = tqdm(desc="retrieving", unit=" questions", disable=not progress)
    try:
        for batch in _batches(records, max(1, config.batch_size)):
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
        if cache is not None:
            cache.close()
        report.seconds += time.perf_counter() - started


def retrieve_file(
    source: str | Path,
    output: str | Path,
    config: RetrievalConfig,
    sources: Sequence[str] | None = None,
    *,
    split: str | None = None,
    policy: ErrorPolicy | None = None,
    progress: bool = True,
) -> RetrievalReport:
    """Read records, add knowledge, and write them as JSONL (atomically; ``-`` for stdout).

    The output may not be the input nor anything retrieval reads (indexes, corpora, the cache): it is checked
    before any work.
    """
    if str(output) != "-":
        check_output(output, [source, *config.read_paths(sources)])
    policy = policy or ErrorPolicy()
    report = RetrievalReport()
    records = read_records(source, split=split, policy=policy)
    write_records(output, annotate(records, config, sources, report=report, progress=progress))
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
