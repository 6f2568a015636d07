"""Stream ConceptNet's assertion dump into an on-disk index of English edges.

The dump (``conceptnet-assertions-5.7.0.csv.gz``: 34M rows, about 10 GB inflated) has five tab-separated
columns: edge URI, relation URI, start URI, end URI and a JSON info column. About one row in ten links two
English concepts, so the work is to skip the other nine cheaply, and to use both cores of a small machine:

* the dump is cut into line-aligned blocks of 1 MiB, inflated with ISA-L straight into one reused buffer;
* two workers (this process and a helper process) each inflate the whole stream, which is cheap, and each
  takes every other block: it checks the block's column counts with two byte counts, keeps the
  English-English rows with one compiled regular expression, and parses only their JSON;
* the helper hands its part over as plain arrays; numpy then merges duplicates (``/c/en/bank/n`` and
  ``/c/en/bank`` are one concept; the weight is the maximum over duplicates) and writes the index.

Nothing is inflated to disk.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path

import numpy as np
import orjson
from tqdm.auto import tqdm

from ..errors import DataError, ErrorPolicy, KearError
from ..io import atomic_path, is_index_folder, open_binary
from .index import FORMAT_VERSION, write_index

logger = logging.getLogger(__name__)

# relation, start concept and end concept (part-of-speech suffixes cut off), JSON info.
_ENGLISH_EDGE = re.compile(rb"\t/r/([^\t\n]+)\t/c/en/([^\t\n/]+)[^\t\n]*\t/c/en/([^\t\n/]+)[^\t\n]*\t([^\t\n]*)\n")
_BLOCK = 1 << 20  # small enough that counting and matching a block both run in cache
_TWO_WORKERS_FROM = 64 << 20  # dumps smaller than this (tests, samples) are read by one process
_BAD_EXIT = 3  # the helper's exit status when it stopped at a malformed row


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


@dataclass
class _Part:
    """What one worker collected from its blocks. Concept and relation ids are local to the worker."""

    concepts: dict[bytes, int] = field(default_factory=dict)
    relations: dict[bytes, int] = field(default_factory=dict)
    heads: array = field(default_factory=lambda: array("i"))
    tails: array = field(default_factory=lambda: array("i"))
    rels: array = field(default_factory=lambda: array("H"))
    weights: array = field(default_factory=lambda: array("d"))
    order: array = field(default_factory=lambda: array("q"))  # (block << 32) + row: position in the dump
    surface_start: array = field(default_factory=lambda: array("q"))
    surfaces: bytearray = field(default_factory=bytearray)
    rows: int = 0
    english_rows: int = 0
    # malformed rows, to locate later: (how the line ends, a part it contains, what is wrong)
    bad: list[tuple[bytes, bytes, str]] = field(default_factory=list)
    bad_count: int = 0


def _blocks(path: str, block_size: int) -> Iterator[tuple[bytearray, int]]:
    """Yield ``(buffer, end)``: line-aligned blocks of the inflated dump in one reused buffer.

    Every reader of the same dump with the same block size cuts the same blocks, which is what lets two
    workers share the blocks out without talking to each other.
    """
    buffer = bytearray(block_size)
    view = memoryview(buffer)
    filled = 0
    with open_binary(path, threaded=False) as handle:
        while True:
            read = handle.readinto(view[filled:])
            if not read:
                if filled:
                    if buffer[filled - 1] != 0x0A:  # a last line without its newline
                        buffer[filled] = 0x0A  # fits: a full buffer is always cut before the next read
                        filled += 1
                    yield buffer, filled
                return
            filled += read
            if filled < len(buffer):
                continue
            cut = buffer.rfind(b"\n", 0, filled) + 1
            if cut == 0:  # one line longer than the block: grow the block
                view.release()
                buffer.extend(bytes(len(buffer)))
                view = memoryview(buffer)
                continue
            yield buffer, cut
            buffer[: filled - cut] = buffer[cut:filled]
            filled -= cut


def _malformed(block: bytes) -> tuple[bytes, list[tuple[bytes, bytes, str]]]:
    """Slow path for a block whose tab count is off: drop and return its malformed lines."""
    good, bad = [], []
    for line in block.split(b"\n")[:-1]:
        if not line.strip():
            continue
        columns = line.count(b"\t") + 1
        if columns == 5:
            good.append(line)
        else:
            bad.append((line, b"", f"expected 5 tab-separated columns, found {columns}"))
    good.append(b"")
    return b"\n".join(good), bad


def _add_rows(part: _Part, rows: list[tuple[bytes, ...]], base: int) -> bool:
    """Parse one block's English rows into ``part``, a column at a time; ``False`` if one was malformed."""
    relations, heads, tails, infos = zip(*rows)
    try:
        data = [orjson.loads(info) for info in infos]
        weights = [float(item["weight"]) for item in data]
        surfaces = [item.get("surfaceText") or "" for item in data]
        positions = range(base, base + len(rows))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return _add_rows_one_by_one(part, rows, base)
    concepts, names = part.concepts, part.relations
    part.heads.extend([concepts.setdefault(head, len(concepts)) for head in heads])
    part.tails.extend([concepts.setdefault(tail, len(concepts)) for tail in tails])
    part.rels.extend([names.setdefault(relation, len(names)) for relation in relations])
    part.weights.extend(weights)
    part.order.extend(positions)
    encoded = [surface.encode() for surface in surfaces]
    part.surface_start.extend(accumulate(map(len, encoded[:-1]), initial=len(part.surfaces)))
    part.surfaces += b"".join(encoded)
    return True


def _add_rows_one_by_one(part: _Part, rows: list[tuple[bytes, ...]], base: int) -> bool:
    """Slow path for a block with a malformed info column: keep the good rows, note the bad ones."""
    good, ok = [], True
    for position, row in enumerate(rows):
        try:
            data = orjson.loads(row[3])
            float(data["weight"])
            good.append((base + position, row))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            ok = False
            part.bad_count += 1
            if len(part.bad) < 3:
                part.bad.append((b"\t" + row[3], b"/c/en/" + row[1], "info column is not JSON with a 'weight'"))
    for position, row in good:
        _add_rows(part, [row], position)
    return ok


def _collect(
    path: str, worker: int, workers: int, block_size: int, strict: bool, progress: bool, stop=lambda: False
) -> _Part:
    """Read the blocks that belong to ``worker`` (every ``workers``-th one) into a :class:`_Part`.

    In strict mode it stops at the first malformed row, or when ``stop()`` says the other worker did.
    """
    part = _Part()
    bar = tqdm(desc="ConceptNet rows", unit=" rows", unit_scale=True, disable=not progress)
    for number, (buffer, end) in enumerate(_blocks(path, block_size)):
        if number % workers != worker:
            continue
        if strict and stop():
            break
        lines = buffer.count(b"\n", 0, end)
        part.rows += lines
        bar.update(lines * workers)
        if buffer.count(b"\t", 0, end) == 4 * lines:
            rows = _ENGLISH_EDGE.findall(buffer, 0, end)
        else:
            kept, bad = _malformed(bytes(buffer[:end]))
            part.bad_count += len(bad)
            part.bad.extend(bad[: 3 - len(part.bad)] if len(part.bad) < 3 else [])
            if strict:
                break
            rows = _ENGLISH_EDGE.findall(kept)
        part.english_rows += len(rows)
        if rows and not _add_rows(part, rows, number << 32) and strict:
            break
    bar.close()
    part.surface_start.append(len(part.surfaces))
    return part


def _text(raw: bytes) -> str:  # any bytes, as JSON-safe text that turns back into the same bytes
    return raw.decode("utf-8", "surrogateescape")


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


_ARRAYS = {"heads": "i", "tails": "i", "rels": "H", "weights": "d", "order": "q", "surface_start": "q"}


def _save_part(part: _Part, folder: Path) -> None:
    """Hand a helper's part over as plain files (names one per line, numbers as raw arrays)."""
    (folder / "concepts.bin").write_bytes(b"\n".join(part.concepts))
    (folder / "relations.bin").write_bytes(b"\n".join(part.relations))
    for name in _ARRAYS:
        (folder / f"{name}.bin").write_bytes(getattr(part, name).tobytes())
    (folder / "surfaces.bin").write_bytes(part.surfaces)
    bad = [(_text(end), _text(has), why) for end, has, why in part.bad]
    summary = {"rows": part.rows, "english_rows": part.english_rows, "bad": bad, "bad_count": part.bad_count}
    (folder / "summary.json").write_text(json.dumps(summary))


def _load_part(folder: Path) -> _Part:
    part = _Part()
    for name, code in _ARRAYS.items():
        values = array(code)
        values.frombytes((folder / f"{name}.bin").read_bytes())
        setattr(part, name, values)
    part.surfaces = bytearray((folder / "surfaces.bin").read_bytes())
    for name in ("concepts", "relations"):  # only iterated when merging: a list is enough
        raw = (folder / f"{name}.bin").read_bytes()
        setattr(part, name, raw.split(b"\n") if raw else [])
    summary = json.loads((folder / "summary.json").read_text())
    part.rows, part.english_rows, part.bad_count = summary["rows"], summary["english_rows"], summary["bad_count"]
    part.bad = [(_raw(end), _raw(has), why) for end, has, why in summary["bad"]]
    return part


def _merge(main: _Part, other: _Part) -> _Part:
    """Append ``other``'s edges to ``main``, renumbering its concepts and relations into ``main``'s ids."""
    concept_map = np.array([main.concepts.setdefault(k, len(main.concepts)) for k in other.concepts], np.int32)
    relation_map = np.array([main.relations.setdefault(k, len(main.relations)) for k in other.relations], np.uint16)
    if len(other.heads):
        main.heads.frombytes(concept_map[np.frombuffer(other.heads, np.int32)].tobytes())
        main.tails.frombytes(concept_map[np.frombuffer(other.tails, np.int32)].tobytes())
        main.rels.frombytes(relation_map[np.frombuffer(other.rels, np.uint16)].tobytes())
    main.weights.extend(other.weights)
    main.order.extend(other.order)
    main.surface_start.pop()  # the end sentinel
    shift = len(main.surfaces)
    main.surface_start.frombytes((np.frombuffer(other.surface_start, np.int64) + shift).tobytes())
    main.surfaces += other.surfaces
    main.rows += other.rows
    main.english_rows += other.english_rows
    main.bad_count += other.bad_count
    main.bad.extend(other.bad[: max(0, 3 - len(main.bad))])
    return main


def _locate(path: Path, end: bytes, contains: bytes) -> int | None:
    """Number of the first line that ends with ``end`` and contains ``contains`` (error path only: it rereads
    the dump up to that line)."""
    with open_binary(path) as handle:
        for number, line in enumerate(handle, start=1):
            if line.rstrip(b"\r\n").endswith(end) and contains in line:
                return number
    return None


def _read_parts(dump: Path, block_size: int, strict: bool, workers: int, progress: bool, scratch: Path) -> _Part:
    """Both workers' parts, merged; ``scratch`` is an empty folder for the helper's handover, which the caller
    removes (inside the output's temporary folder, so a killed run's rerun removes it too)."""
    if workers == 1:
        return _collect(str(dump), 0, 1, block_size, strict, progress)
    scratch.mkdir()
    command = [sys.executable, "-m", f"{__package__}.helper", str(dump), str(scratch), "--block-size", str(block_size)]
    command += ["--parent", str(os.getpid())]  # it ends when this process ends, however it ends
    # its own session: Ctrl-C reaches only this process, which stops the helper in `finally`
    strict_flag = ["--strict"] if strict else []
    helper = subprocess.Popen([*command, *strict_flag], stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        main = _collect(str(dump), 0, 2, block_size, strict, progress, stop=lambda: helper.poll() == _BAD_EXIT)
        if strict and main.bad_count:
            return main  # no need to wait for the rest
        status = helper.wait()
    finally:
        if helper.poll() is None:
            helper.kill()
            helper.wait()
    if status not in (0, _BAD_EXIT):
        raise KearError(f"{dump}: the helper reading the dump failed (exit status {status})")
    return _merge(main, _load_part(scratch))


def ingest_conceptnet(
    dump: str | Path,
    output: str | Path,
    *,
    policy: ErrorPolicy | None = None,
    block_size: int = _BLOCK,
    workers: int | None = None,
    progress: bool = True,
) -> IngestReport:
    """Build a ConceptNet index folder from an assertion dump (``.csv`` or ``.csv.gz``).

    Args:
        dump: ConceptNet assertions in the official five-column layout.
        output: the index folder to write (replaced atomically when it exists).
        policy: stop at the first malformed row (default) or skip and count them.
        block_size: bytes inflated per block.
        workers: processes reading the dump: 1, or 2 (default for dumps of 64 MiB and more on 2+ cores).
        progress: show a progress bar.
    """
    dump = Path(dump)
    policy = policy or ErrorPolicy()
    if not dump.is_file():
        raise DataError(dump, None, "is a folder, not a file" if dump.is_dir() else "no such file")
    if workers is None:
        workers = 2 if dump.stat().st_size >= _TWO_WORKERS_FROM and (os.cpu_count() or 1) > 1 else 1
    started = time.perf_counter()
    with atomic_path(output, folder=True, inputs=[dump], owned=lambda f: is_index_folder(f, "conceptnet")) as folder:
        part = _read_parts(dump, block_size, not policy.skip_invalid, workers, progress, folder.with_name("handover"))
        for end, contains, reason in part.bad:
            policy.handle(DataError(dump, _locate(dump, end, contains), reason))  # raises unless skipping
        policy.skipped += part.bad_count - len(part.bad)
        policy.report("ConceptNet rows")

        report = IngestReport(rows=part.rows, english_rows=part.english_rows, skipped_rows=part.bad_count)
        concepts, part.concepts = list(part.concepts), {}  # the list is all that is needed from here on
        folder.mkdir()
        counts = write_index(
            folder,
            concepts=concepts,
            relations=[name.decode() for name in part.relations],
            heads=np.frombuffer(part.heads, dtype=np.int32),
            tails=np.frombuffer(part.tails, dtype=np.int32),
            rels=np.frombuffer(part.rels, dtype=np.uint16),
            weights=np.frombuffer(part.weights, dtype=np.float64),
            order=np.frombuffer(part.order, dtype=np.int64),
            surface_start=np.frombuffer(part.surface_start, dtype=np.int64),
            surfaces=part.surfaces,
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
    logger.debug(
        "ConceptNet index %s: %d edges among %d concepts from %d rows (%d English) in %.1f s",
        output,
        report.edges,
        report.concepts,
        report.rows,
        report.english_rows,
        report.seconds,
    )
    return report
