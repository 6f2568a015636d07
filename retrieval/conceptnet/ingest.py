"""Stream ConceptNet's assertion dump into an on-disk index of English edges.

The dump (``conceptnet-assertions-5.7.0.csv.gz``: 34M rows, about 10 GB inflated) has five tab-separated
columns: edge URI, relation URI, start URI, end URI and a JSON info column. About one row in ten links two
English concepts, so the work is to skip the other nine cheaply while the dump inflates:

* one thread inflates the dump with ISA-L's reader (which lets go of the GIL while it inflates) into reusable
  line-aligned blocks of 8 MiB (:data:`_BLOCK`);
* the calling thread scans each block with compiled loops (:mod:`.scan`, also without the GIL): one visits only
  the tabs and newlines and keeps the English-English rows, one reads their JSON info columns (only ``weight``
  and ``surfaceText`` are kept; the rest is checked and skipped; rows it cannot prove valid go to orjson), and a
  name table gives their concepts and relations ids in order of first appearance;
* the edges are merged (``/c/en/bank/n`` and ``/c/en/bank`` are one concept; of duplicate edges the heaviest is
  kept) and written by :func:`.index.write_index`.

Nothing is inflated to disk, and the blocks are read in dump order, so a row's place in the dump is its line
number: a malformed row is reported with it at once, or skipped and counted.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
import orjson
from tqdm.auto import tqdm

from ..errors import DataError, ErrorPolicy
from ..io import open_binary
from ..outputs import atomic_path, check_not_emptied, is_index_folder
from .index import FORMAT_VERSION, write_index

logger = logging.getLogger(__name__)

# inflated bytes per block: few enough handoffs between the two threads (each wakes a sleeping one, which costs
# more on a virtual machine than the cache misses of a block larger than a core's cache; measured: 2 MiB 7.0 s,
# 8 MiB 5.8 s for the full dump here)
_BLOCK = 8 << 20
_PAD = 64  # bytes past a block's lines that the scan may read (it reads 64 bytes at a time)
_BUFFERS = 4  # blocks in flight: one inflating, one scanned, two waiting so that neither side waits
_NEWLINE = 10
_ROWS_PER_BYTE = 16  # a kept row is longer than this, so a block of n bytes holds fewer than n / 16 of them
_BAD_PER_BYTE = 64  # malformed lines noted per block byte before the block is read line by line instead
_WHITESPACE = b" \t\r\x0b\x0c"


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
    # wall seconds of each step, in order: "reading" (inflating and scanning), "writing" (merging and writing)
    phases: dict[str, float] = field(default_factory=dict)


class _Found(NamedTuple):
    """What the scan of one block found (see :func:`.scan.scan_block`)."""

    lines: int
    rows: np.ndarray  # the English rows' tab and newline positions, and their line numbers in the block
    bad: np.ndarray  # the first lines without four tabs: line number, first byte, tab count
    wrong: int  # how many lines have not four tabs


class _Stopped(Exception):
    """The consumer of the blocks stopped early (an error, Ctrl-C): the reading thread ends quietly."""


def _blocks(path: Path, block_size: int, free: Callable[[], bytearray]) -> Iterator[tuple[bytearray, int]]:
    """Line-aligned blocks of the inflated dump: ``(buffer, size)`` with lines in ``buffer[:size]`` and at least
    :data:`_PAD` bytes after them. ``free()`` gives a buffer to fill, which the caller is done with; a line longer
    than a buffer makes that buffer longer."""
    with open_binary(path, threaded=False) as handle:
        buffer, filled = free(), 0
        while True:
            with memoryview(buffer) as whole, whole[filled : len(buffer) - _PAD] as target:
                read = handle.readinto(target)
            if read:
                filled += read
                if filled < len(buffer) - _PAD:
                    continue
                cut = buffer.rfind(b"\n", 0, filled) + 1
                if not cut:  # one line longer than the buffer
                    buffer.extend(bytes(len(buffer)))
                    continue
            else:
                if not filled:
                    return
                if buffer[filled - 1] != _NEWLINE:  # a last line without its newline
                    buffer[filled] = _NEWLINE  # fits: the padding is never read into
                    filled += 1
                cut = filled
            rest = filled - cut
            following = free() if read else buffer
            if rest + _PAD >= len(following):
                following.extend(bytes(rest + _PAD))
            following[:rest] = buffer[cut:filled]  # the start of a line that the next block completes
            yield buffer, cut
            if not read:
                return
            buffer, filled = following, rest


class _Inflater:
    """Inflates the dump in a thread of this process into a few reusable buffers, handed over in order.

    While the inflating thread has spent less time than the consuming one (inflating, against everything else),
    it also scans the next block itself (``scan``, which runs without the GIL) before handing it over, so that the
    two threads share the work and end together, whichever part is slower on the machine at hand.

    Args:
        path: the dump.
        block_size: bytes per block.
        scan: finds the rows of a block (see :meth:`_Scanner.scan`).
    """

    def __init__(self, path: Path, block_size: int, scan: Callable[[bytearray, int], _Found]) -> None:
        self.free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(_BUFFERS):
            self.free.put(bytearray(block_size + _PAD))
        self.filled: queue.Queue[tuple[bytearray, int, _Found | None] | BaseException | None] = queue.Queue()
        self.stopped = threading.Event()
        self.busy = 0.0  # seconds this thread has worked (inflating and scanning)
        self.consumer_busy = 0.0  # seconds the consuming thread has worked on the blocks (it adds to this)
        self.thread = threading.Thread(target=self._run, args=(path, block_size, scan), name="conceptnet-inflate")
        self.thread.daemon = True  # never keeps the interpreter alive; stop() ends it in any case

    def _buffer(self) -> bytearray:
        while not self.stopped.is_set():
            waited = time.perf_counter()
            try:
                return self.free.get(timeout=0.1)
            except queue.Empty:
                continue
            finally:
                self.busy -= time.perf_counter() - waited  # waiting for a buffer is not work
        raise _Stopped

    def _run(self, path: Path, block_size: int, scan: Callable[[bytearray, int], _Found]) -> None:
        try:
            blocks = _blocks(path, block_size, self._buffer)
            while True:
                started = time.perf_counter()
                try:
                    buffer, size = next(blocks)
                except StopIteration:
                    break
                found = scan(buffer, size) if self.busy < self.consumer_busy else None  # the other is behind
                self.busy += time.perf_counter() - started
                self.filled.put((buffer, size, found))
            self.filled.put(None)
        except _Stopped:
            pass
        except BaseException as error:
            self.filled.put(error)

    def __iter__(self) -> Iterator[tuple[bytearray, int, _Found | None]]:
        self.thread.start()
        while (item := self.filled.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
            self.free.put(item[0])

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()


class _Column:
    """An array that grows block by block (doubling, so each value is copied about twice) and is read whole at
    the end without joining the blocks: the copies happen while the reading thread would wait anyway."""

    def __init__(self, dtype: type) -> None:
        self.values, self.size = np.empty(1 << 16, dtype), 0

    def append(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self.values):
            grown = np.empty(max(end, 2 * len(self.values)), self.values.dtype)
            grown[: self.size] = self.values[: self.size]
            self.values = grown
        self.values[self.size : end] = values
        self.size = end

    def whole(self) -> np.ndarray:
        return self.values[: self.size]


class _Edges:
    """The English rows kept so far: their columns, and their surface texts, written to ``surfaces`` as they come
    (in dump order, which is how the index keeps them).

    Args:
        surfaces: the index's ``surfaces.bin``, open for writing.
    """

    def __init__(self, surfaces: BinaryIO) -> None:
        self.heads, self.tails, self.rels = _Column(np.int32), _Column(np.int32), _Column(np.uint16)
        self.weights, self.order = _Column(np.float64), _Column(np.int64)  # order: each row's 0-based dump line
        self.surface_lengths = _Column(np.int64)
        self.surfaces = surfaces


class _Scanner:
    """Reads the blocks of one dump into :class:`_Edges` and the name tables, noting malformed rows.

    Args:
        dump: the dump, for messages.
        policy: what to do with a malformed row.
        surfaces: where the kept rows' surface texts go (see :class:`_Edges`).
    """

    def __init__(self, dump: Path, policy: ErrorPolicy, surfaces: BinaryIO) -> None:
        from . import scan  # compiled code: loaded only by an ingest, never by a lookup

        self.scan_code = scan
        self.dump, self.policy = dump, policy
        # room for the names a dump of this size holds (ConceptNet 5.7: 1.2M in 1.1 GB), so that the table
        # seldom grows (each growth moves every name)
        self.concepts = scan.NameTable(max(1 << 12, dump.stat().st_size // 1024))
        self.relations = scan.NameTable(64)
        self.edges = _Edges(surfaces)
        self.rows = self.english_rows = self.skipped = 0

    def scan(self, buffer: bytearray, size: int) -> _Found:
        """The rows of one block (either thread may call it: it touches nothing shared)."""
        rows = np.empty((size // _ROWS_PER_BYTE + 16, self.scan_code.ROW_FIELDS), np.int64)
        bad = np.empty((size // _BAD_PER_BYTE + 16, 3), np.int64)
        lines, kept, wrong = self.scan_code.scan_block(np.frombuffer(buffer, np.uint8), size, rows, bad)
        return _Found(lines, rows[:kept], bad[: min(wrong, len(bad))], wrong)

    def add(self, buffer: bytearray, size: int, found: _Found | None = None) -> None:
        """Add one block (``found``: its rows, when the other thread scanned it already); raise the first
        malformed row's :class:`DataError` unless the policy skips them."""
        found = found or self.scan(buffer, size)
        data = np.frombuffer(buffer, np.uint8)
        lines, rows = found.lines, found.rows
        first_line = self.rows + 1  # 1-based number of the block's first line in the dump
        errors: list[tuple[int, str]] = []  # (line in the block, what is wrong)
        if found.wrong > len(found.bad):  # many malformed lines: find them one by one
            errors += _wrong_lines(bytes(buffer[:size]))
        else:
            for line, start, tabs in found.bad.tolist():
                text = buffer[start : buffer.index(b"\n", start)]
                if text.strip(_WHITESPACE):  # a blank line is no row, and no error either
                    errors.append((line, f"expected 5 tab-separated columns, found {tabs + 1}"))
        kept = len(rows)
        weights, lengths, texts, slow = self.scan_code.read_infos(data, rows)
        keep = np.arange(kept)
        if len(slow):
            keep, lengths, texts = self._slow_infos(buffer, rows, slow, weights, lengths, texts, errors)
        if not np.isfinite(weights[keep]).all():  # "NaN", "Infinity": no weight an edge can be ranked by
            keep, texts = _finite_only(rows, keep, weights, lengths, texts, errors)
        if errors:  # the earliest first, as one reading line by line would meet them
            errors.sort()
            for line, reason in errors:
                self.policy.handle(DataError(self.dump, first_line + line, reason))
            self.skipped += len(errors)
        self.rows += lines
        self.english_rows += kept
        if len(keep):
            heads, tails, rels = self.scan_code.intern_rows(data, rows, keep, self.concepts, self.relations, size)
            edges = self.edges
            for column, values in (
                (edges.heads, heads),
                (edges.tails, tails),
                (edges.rels, rels),
                (edges.weights, weights[keep]),
                (edges.order, rows[keep, 5] + first_line - 1),
                (edges.surface_lengths, lengths[keep]),
            ):
                column.append(values)
            edges.surfaces.write(texts)

    @staticmethod
    def _slow_infos(
        buffer: bytearray,
        rows: np.ndarray,
        slow: np.ndarray,
        weights: np.ndarray,
        lengths: np.ndarray,
        texts: bytes,
        errors: list[tuple[int, str]],
    ) -> tuple[np.ndarray, np.ndarray, bytes]:
        """Decode with orjson the info columns the compiled reader left (``slow``); note those that are not JSON
        with a weight. Fills in ``weights``; returns the rows kept, every row's text length, the kept texts."""
        wrong: set[int] = set()
        decoded: dict[int, bytes] = {}
        for row in slow.tolist():
            start, end, line = rows[row, 3:6].tolist()
            try:
                info = orjson.loads(buffer[start + 1 : end])
                weight = float(info["weight"])
                text = info.get("surfaceText")
                if text is not None and not isinstance(text, str):
                    raise TypeError("surfaceText is not text")
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError, OverflowError):
                errors.append((line, "info column is not JSON with a 'weight'"))
                wrong.add(row)
                continue
            weights[row] = weight
            # lone surrogates (from \ud800 escapes) are kept as such; the index reads them back as U+FFFD
            decoded[row] = text.encode("utf-8", "surrogatepass") if text else b""
        ends = np.cumsum(lengths)
        pieces = [
            decoded[row] if row in decoded else texts[end - length : end]
            for row, (end, length) in enumerate(zip(ends.tolist(), lengths.tolist()))
            if row not in wrong
        ]
        for row, text in decoded.items():
            lengths[row] = len(text)
        keep = np.array([row for row in range(len(rows)) if row not in wrong], np.int64)
        return keep, lengths, b"".join(pieces)


def _finite_only(
    rows: np.ndarray, keep: np.ndarray, weights: np.ndarray, lengths: np.ndarray, texts: bytes, errors: list
) -> tuple[np.ndarray, bytes]:
    """The kept rows whose weight is a finite number, and their texts; the others noted as errors."""
    finite = np.isfinite(weights[keep])
    ends = np.cumsum(lengths[keep]).tolist()
    pieces = []
    for row, end, length, good in zip(keep.tolist(), ends, lengths[keep].tolist(), finite.tolist()):
        if good:
            pieces.append(texts[end - length : end])
        else:
            errors.append((int(rows[row, 5]), f"weight {weights[row]} is not a finite number"))
    return keep[finite], b"".join(pieces)


def _wrong_lines(block: bytes) -> list[tuple[int, str]]:
    """Every line of a block that is not five columns (and not blank): (line in the block, what is wrong)."""
    found = []
    for number, line in enumerate(block.split(b"\n")[:-1]):
        columns = line.count(b"\t") + 1
        if columns != 5 and line.strip(_WHITESPACE):
            found.append((number, f"expected 5 tab-separated columns, found {columns}"))
    return found


def _read(
    dump: Path, block_size: int, policy: ErrorPolicy, workers: int, progress: bool, surfaces: BinaryIO
) -> _Scanner:
    """Scan the whole dump (surface texts to ``surfaces``): with ``workers`` 2, a thread inflates while this one
    scans; with 1, this one does both in turn."""
    scanner = _Scanner(dump, policy, surfaces)
    bar = tqdm(desc="ConceptNet rows", unit=" rows", unit_scale=True, disable=not progress)
    inflater = _Inflater(dump, block_size, scanner.scan) if workers > 1 else None
    if inflater is None:  # two buffers in turn: the one scanned last is free again when the next is filled
        pair = [bytearray(block_size + _PAD), bytearray(block_size + _PAD)]
        blocks = ((*block, None) for block in _blocks(dump, block_size, lambda: pair.append(pair.pop(0)) or pair[-1]))
    else:
        blocks = iter(inflater)
    try:
        for buffer, size, found in blocks:
            rows, started = scanner.rows, time.perf_counter()
            scanner.add(buffer, size, found)
            if inflater is not None:
                inflater.consumer_busy += time.perf_counter() - started
            bar.update(scanner.rows - rows)
    finally:
        bar.close()
        if inflater is not None:
            inflater.stop()
    return scanner


def ingest_conceptnet(
    dump: str | Path,
    output: str | Path,
    *,
    policy: ErrorPolicy | None = None,
    block_size: int = _BLOCK,
    workers: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> IngestReport:
    """Build a ConceptNet index folder from an assertion dump (``.csv`` or ``.csv.gz``).

    Args:
        dump: ConceptNet assertions in the official five-column layout.
        output: the index folder to write (replaced atomically when it exists).
        policy: stop at the first malformed row (default) or skip and count them.
        block_size: bytes inflated per block.
        workers: 2 (a thread inflates the dump while this one scans it) or 1 (this thread does both in turn);
            default: 2 on a machine with more than one core.
        progress: show a progress bar.
        overwrite: replace whatever ``output`` holds (an existing index even by an empty one; never the dump).
    """
    dump = Path(dump)
    policy = policy or ErrorPolicy()
    if not dump.is_file():
        raise DataError(dump, None, "is a folder, not a file" if dump.is_dir() else "no such file")
    if workers is None:
        workers = 2 if (os.cpu_count() or 1) > 1 else 1
    started = time.perf_counter()
    owned = lambda f: is_index_folder(f, "conceptnet")  # noqa: E731  (an existing ConceptNet index is replaced)
    with atomic_path(output, folder=True, overwrite=overwrite, inputs=[dump], owned=owned) as folder:
        folder.mkdir()
        with open(folder / "surfaces.bin", "wb") as surfaces:
            scanner = _read(dump, block_size, policy, workers, progress, surfaces)
        policy.report("ConceptNet rows")
        reading = time.perf_counter()
        report = IngestReport(rows=scanner.rows, english_rows=scanner.english_rows, skipped_rows=scanner.skipped)
        edges = scanner.edges
        lengths = edges.surface_lengths.whole()
        surface_start = np.zeros(len(lengths) + 1, np.int64)
        np.cumsum(lengths, out=surface_start[1:])
        counts = write_index(
            folder,
            concepts=scanner.concepts.joined(),
            relations=[name.decode() for name in scanner.relations.spelled()],
            heads=edges.heads.whole(),
            tails=edges.tails.whole(),
            rels=edges.rels.whole(),
            weights=edges.weights.whole(),
            order=edges.order.whole(),
            surface_start=surface_start,
            surfaces=None,  # written already
            first_seen=np.arange(len(scanner.concepts), dtype=np.int64),  # ids are given in order of first appearance
            argsort=scanner.scan_code.argsort_keys,
            meta={
                "format": FORMAT_VERSION,
                "source": os.path.abspath(dump),
                "source_bytes": dump.stat().st_size,
                "rows": report.rows,
                "english_rows": report.english_rows,
                "skipped_rows": report.skipped_rows,
            },
        )
        check_not_emptied(output, dump, "English edges", counts[0], overwrite)
    report.edges, report.concepts, report.relations, report.relation_counts = counts
    finished = time.perf_counter()
    report.phases = {"reading": reading - started, "writing": finished - reading}
    report.seconds = finished - started
    logger.debug(
        "ConceptNet index %s: %d edges among %d concepts from %d rows (%d English) in %.1f s (%s)",
        output,
        report.edges,
        report.concepts,
        report.rows,
        report.english_rows,
        report.seconds,
        ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.phases.items()),
    )
    return report
