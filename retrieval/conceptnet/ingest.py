"""Stream ConceptNet's assertion dump into an on-disk index of English edges.

The dump (``conceptnet-assertions-5.7.0.csv.gz``: 34M rows, about 10 GB inflated) has five tab-separated
columns: edge URI, relation URI, start URI, end URI and a JSON info column. About one row in ten links two
English concepts, so the work is to skip the other nine cheaply:

* a helper process inflates the gzip stream (ISA-L) and keeps the English-English rows with one compiled
  regular expression over 16 MiB blocks, checking every row's column count with two byte counts per block;
* the main process parses only those rows' JSON and numbers their concepts;
* numpy then merges duplicates (``/c/en/bank/n`` and ``/c/en/bank`` are the same concept; the weight is the
  maximum over duplicates) and writes compressed-sparse-row arrays.

Nothing is inflated to disk, and memory stays well under 1 GB for the full dump.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import re
import time
from array import array
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import orjson
from tqdm.auto import tqdm

from ..errors import DataError, ErrorPolicy, KearError
from ..io import atomic_path, open_binary
from .index import FORMAT_VERSION, write_index

logger = logging.getLogger(__name__)

# relation, start concept and end concept (part-of-speech suffixes cut off), JSON info.
_ENGLISH_EDGE = re.compile(rb"\t/r/([^\t\n]+)\t/c/en/([^\t\n/]+)[^\t\n]*\t/c/en/([^\t\n/]+)[^\t\n]*\t([^\t\n]*)\n")
_BLOCK = 16 << 20
_INLINE_BELOW = 64 << 20  # small dumps (tests, samples) are read without a helper process


@dataclass
class IngestReport:
    """What an ingest read and kept."""

    rows: int = 0
    english_rows: int = 0
    edges: int = 0
    concepts: int = 0
    relations: int = 0
    skipped_rows: int = 0
    seconds: float = 0.0
    relation_counts: dict[str, int] = field(default_factory=dict)


def _check_lines(block: bytes, first_line: int) -> tuple[bytes, list[tuple[int, str]]]:
    """Slow path for a block whose tab count is off: find the bad lines and drop them."""
    good: list[bytes] = []
    bad: list[tuple[int, str]] = []
    for offset, line in enumerate(block.split(b"\n")[:-1]):
        if not line.strip():
            continue
        columns = line.count(b"\t") + 1
        if columns != 5:
            bad.append((first_line + offset, f"expected 5 tab-separated columns, found {columns}"))
        else:
            good.append(line)
    good.append(b"")
    return b"\n".join(good), bad


def _scan(path: str, block_size: int) -> Iterator[tuple[list[tuple[bytes, ...]], int, list, int]]:
    """Yield ``(English rows, lines, bad lines, inflated bytes)`` per block of the dump."""
    line = 1
    rest = b""
    with open_binary(path) as handle:
        while True:
            chunk = handle.read(block_size)
            block = rest + chunk
            if not chunk:
                if not block.strip():
                    return
                block += b"\n"
            cut = block.rfind(b"\n") + 1
            block, rest = block[:cut], block[cut:]
            if not block:
                continue
            lines = block.count(b"\n")
            bad: list[tuple[int, str]] = []
            if block.count(b"\t") != 4 * lines:
                block, bad = _check_lines(block, line)
            yield _ENGLISH_EDGE.findall(block), lines, bad, len(chunk)
            line += lines


def _producer(path: str, block_size: int, queue: mp.Queue) -> None:
    try:
        for item in _scan(path, block_size):
            queue.put(item)
        queue.put(None)
    except Exception as error:  # reported by the parent as one line
        queue.put(("error", f"{type(error).__name__}: {error}"))


def _blocks(path: Path, block_size: int) -> Iterator[tuple[list[tuple[bytes, ...]], int, list, int]]:
    if path.stat().st_size < _INLINE_BELOW:
        try:
            yield from _scan(str(path), block_size)
        except (OSError, EOFError) as error:
            raise KearError(f"{path}: cannot read: {error}") from None
        return
    context = mp.get_context("spawn")
    queue = context.Queue(maxsize=6)
    worker = context.Process(target=_producer, args=(str(path), block_size, queue), daemon=True)
    worker.start()
    try:
        while (item := queue.get()) is not None:
            if item[0] == "error":
                raise KearError(f"{path}: cannot read: {item[1]}")
            yield item
    finally:
        worker.kill()
        worker.join()


def _locate(path: Path, row: tuple[bytes, ...]) -> int | None:
    """Line number of an English row (error path only: rereads the dump up to that row)."""
    needle = b"\t/c/en/" + row[1]
    tail = b"\t" + row[3] + b"\n"
    with open_binary(path) as handle:
        for number, line in enumerate(handle, start=1):
            if needle in line and line.endswith(tail):
                return number
    return None


def ingest_conceptnet(
    dump: str | Path,
    output: str | Path,
    *,
    policy: ErrorPolicy | None = None,
    block_size: int = _BLOCK,
    progress: bool = True,
) -> IngestReport:
    """Build a ConceptNet index folder from an assertion dump (``.csv`` or ``.csv.gz``).

    Args:
        dump: ConceptNet assertions in the official five-column layout.
        output: the index folder to write (replaced atomically when it exists).
        policy: stop at the first malformed row (default) or skip and count them.
        block_size: bytes inflated per block.
        progress: show a progress bar.
    """
    dump = Path(dump)
    policy = policy or ErrorPolicy()
    if not dump.is_file():
        raise DataError(dump, None, "no such file")
    started = time.perf_counter()
    report = IngestReport()
    concepts: dict[bytes, int] = {}
    relations: dict[bytes, int] = {}
    heads, tails, rels = array("i"), array("i"), array("H")
    weights = array("d")
    surface_start, surface_blob = array("q"), bytearray()
    bar = tqdm(desc="ConceptNet rows", unit=" rows", unit_scale=True, disable=not progress)
    for rows, lines, bad, _ in _blocks(dump, block_size):
        for number, reason in bad:
            policy.handle(DataError(dump, number, reason))
        report.rows += lines
        report.english_rows += len(rows)
        bar.update(lines)
        for row in rows:
            relation, head, tail, info = row
            try:
                data = orjson.loads(info)
                weight = float(data["weight"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                policy.handle(DataError(dump, _locate(dump, row), "info column is not JSON with a 'weight'"))
                continue
            surface = data.get("surfaceText")
            heads.append(concepts.setdefault(head, len(concepts)))
            tails.append(concepts.setdefault(tail, len(concepts)))
            rels.append(relations.setdefault(relation, len(relations)))
            weights.append(weight)
            surface_start.append(len(surface_blob))
            if surface:
                surface_blob += surface.encode()
    bar.close()
    report.skipped_rows = policy.skipped
    policy.report("ConceptNet rows")
    surface_start.append(len(surface_blob))

    with atomic_path(output) as folder:
        folder.mkdir()
        counts = write_index(
            folder,
            concepts=list(concepts),
            relations=[name.decode() for name in relations],
            heads=np.frombuffer(heads, dtype=np.int32),
            tails=np.frombuffer(tails, dtype=np.int32),
            rels=np.frombuffer(rels, dtype=np.uint16),
            weights=np.frombuffer(weights, dtype=np.float64),
            surface_start=np.frombuffer(surface_start, dtype=np.int64),
            surfaces=bytes(surface_blob),
            meta={
                "format": FORMAT_VERSION,
                "source": os.path.abspath(dump),
                "source_bytes": dump.stat().st_size,
                "rows": report.rows,
                "english_rows": report.english_rows,
                "skipped_rows": report.skipped_rows,
            },
        )
    report.edges, report.concepts, report.relations, report.relation_counts = counts
    report.seconds = time.perf_counter() - started
    logger.info(
        "ConceptNet index %s: %d edges among %d concepts from %d rows (%d English) in %.1f s",
        output,
        report.edges,
        report.concepts,
        report.rows,
        report.english_rows,
        report.seconds,
    )
    return report


def report_dict(report: IngestReport) -> dict:
    return asdict(report)
