"""Stream ConceptNet's assertion dump into an on-disk index of English edges.

The dump (``conceptnet-assertions-5.7.0.csv.gz``: 34M rows, about 10 GB inflated) has five tab-separated
columns: edge URI, relation URI, start URI, end URI and a JSON info column. About one row in ten links two
English concepts, so the work is to skip the other nine cheaply, and to use both cores of a small machine:

* the dump is inflated once, by a thread of the main process with ISA-L's reader (which lets go of the GIL
  while it inflates), into line-aligned blocks of 1 MiB in shared memory (a ``memfd`` ring of slots);
* two helper processes (:mod:`.helper`) scan the blocks, each block going to the one with fewer waiting; the
  main thread scans nothing, so the reading thread never waits for the GIL;
* a scan finds the four tabs and the newline of every line of a block at once (numpy), checks that every line
  has five columns, and keeps the English-English rows by reading eight bytes at each line's column starts.
  Their names become fixed-width keys, read from the block as words (so no Python object is made per name);
  the JSON of their info column is decoded by msgspec (only ``weight`` and ``surfaceText``; the rest is checked
  and skipped);
* at the end each helper numbers its distinct names by a hash of their keys (checked to hold one name each)
  and hands its part over as plain arrays; the main process matches the parts' names, and numpy merges
  duplicate edges (``/c/en/bank/n`` and ``/c/en/bank`` are one concept; the weight is the maximum over
  duplicates) and writes the index.

Nothing is inflated to disk. A block whose lines are not all five columns, or whose English rows' JSON is not
all plain objects, takes a slower path that says which rows are wrong (or skips them), row by row. Small dumps
(tests, samples) are read by this process alone, the same way.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import logging
import mmap
import os
import queue
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from operator import attrgetter
from pathlib import Path

import msgspec
import numpy as np
import orjson
from tqdm.auto import tqdm

from ..errors import DataError, ErrorPolicy, KearError
from ..io import atomic_path, is_index_folder, open_binary
from .index import FORMAT_VERSION, write_index

logger = logging.getLogger(__name__)

_BLOCK = 1 << 20  # small enough that a block and its masks stay in a core's cache
_PAD = 40  # bytes readable past a block's end: the reads of eight and of 32 bytes at column starts may run over
_TWO_WORKERS_FROM = 64 << 20  # dumps smaller than this (tests, samples) are read by one process
_BAD_EXIT = 3  # the helper's exit status when it stopped at a malformed row
# How the helper finds the shared blocks: "memory fd,blocks-in fd,acks-out fd,slots,slot stride", set by the
# parent in the helper's environment (its command line stays the one of helper.py).
_RING_ENV = "KEAR_CONCEPTNET_RING"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_PENDING = 2  # blocks waiting per worker: enough that neither waits on the reader, few enough to stay in cache
_TO_HELPER = struct.Struct("<qqq")  # slot (-1: no more blocks), end of the block, block number
_FROM_HELPER = struct.Struct("<qqq")  # slot done, 1 when it held a malformed row (strict mode), lines in it

_TAB, _NEWLINE, _SLASH, _OPEN, _CLOSE = 9, 10, 47, 123, 125
_COLUMN_ENDS = np.array([_TAB, _TAB, _TAB, _TAB, _NEWLINE], np.uint8)  # the control bytes of one good line
_RELATION_START = int.from_bytes(b"\t/r/", "little")  # what a relation column's first four bytes must be
_ENGLISH_START = int.from_bytes(b"\t/c/en/", "little")  # and an English concept's first seven
_LOW4, _LOW7 = np.uint64(0xFFFFFFFF), np.uint64(0x00FFFFFFFFFFFFFF)
_SHIFT4, _SHIFT7 = np.uint64(32), np.uint64(56)


class _Info(msgspec.Struct, gc=False):
    """The two fields of the info column that the index keeps; the others are checked as JSON and skipped."""

    weight: float
    surfaceText: str | None = None  # ConceptNet's key


_INFO = msgspec.json.Decoder(_Info)
_WEIGHT, _SURFACE = attrgetter("weight"), attrgetter("surfaceText")


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
    # wall seconds of each step, in order: "reading" (inflating and scanning), "finishing" (waiting for the
    # helpers to number their names and hand their parts over), "merging" (the parts), "writing" (the index)
    phases: dict[str, float] = field(default_factory=dict)


class _Laps:
    """Wall seconds of consecutive steps: ``lap(name)`` records the time since the last lap (or the start) under
    ``name`` in ``phases``; ``lap(None)`` only restarts the count (for a step no phase names)."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self.last = time.perf_counter()

    def __call__(self, name: str | None) -> None:
        now = time.perf_counter()
        if name is not None:
            self.phases[name] = now - self.last
        self.last = now


class _Ids(dict):
    """Names to ids in order of first lookup: ``ids[name]`` gives a new name the next id."""

    def __missing__(self, key: bytes) -> int:
        value = self[key] = len(self)
        return value


@dataclass
class _Part:
    """What one worker collected from its blocks. Relation ids are local to the worker.

    While reading, each row's start and end concept (interleaved, in dump order) is kept as a key of
    :data:`_KEY` bytes (the name, zero-padded; see :func:`_keys`); :func:`_finish` then numbers the distinct
    names by a hash of their keys (``concepts``, ``heads``, ``tails``, ``first_seen``) and drops the keys.
    """

    relations: dict[bytes, int] = field(default_factory=_Ids)
    name_key: bytearray = field(default_factory=bytearray)  # _KEY bytes per name (see _keys)
    long_names: dict[bytes, int] = field(default_factory=_Ids)  # names longer than a key, or holding a NUL byte
    rels: array = field(default_factory=lambda: array("H"))
    weights: array = field(default_factory=lambda: array("d"))
    order: array = field(default_factory=lambda: array("q"))  # (block << 32) + line: position in the dump
    surface_start: array = field(default_factory=lambda: array("q"))
    surfaces: bytearray = field(default_factory=bytearray)
    rows: int = 0
    english_rows: int = 0
    # malformed rows, to locate later: (how the line ends, a part it contains, what is wrong)
    bad: list[tuple[bytes, bytes, str]] = field(default_factory=list)
    bad_count: int = 0
    # after _finish: the distinct names (ordered by hash), their hashes, each row's ids, each name's first place
    concepts: list[bytes] = field(default_factory=list)
    concept_hash: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    heads: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    tails: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    first_seen: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def note_bad(self, end: bytes, contains: bytes, reason: str) -> None:
        self.bad_count += 1
        if len(self.bad) < 3:
            self.bad.append((end, contains, reason))


# ------------------------------------------------------------------------------------------- names as keys

_KEY = 24  # bytes of a name kept as its key: nearly all ConceptNet names fit; longer ones take a slower path
_KEY_WORDS = np.arange(_KEY // 8, dtype=np.int64) * 8
_SLASHES = np.uint64(0x2F2F2F2F2F2F2F2F)
_LOW7S = np.uint64(0x7F7F7F7F7F7F7F7F)
_LOW_BYTES = np.array([(1 << (8 * n)) - 1 for n in range(9)], dtype=np.uint64)  # masks of a word's low n bytes
_CHECKED = 1 << 20  # names whose keys are compared at a time
# the key of a long name: its number in long_names, then this (no name that fits a key has NUL bytes in it)
_LONG_KEY = np.array([0, 0, 1], dtype=np.uint64)
_MIX = [np.uint64(m) for m in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5)]


def _zero_bytes(words: np.ndarray) -> np.ndarray:
    """0x80 in each byte of each word that is zero, 0 elsewhere (exact: no borrow runs between bytes)."""
    return ~(((words & _LOW7S) + _LOW7S) | words | _LOW7S)


def _name_lengths(words: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Length of each name at ``starts`` in a column ending at ``ends``: up to its first ``/`` (within the first
    :data:`_KEY` bytes) or the column's end."""
    slash = _zero_bytes(words[starts[:, None] + _KEY_WORDS] ^ _SLASHES)
    found = slash != 0
    word = found.argmax(1)
    low = slash[np.arange(len(slash)), word]
    low &= np.uint64(0) - low  # its lowest flag: the first slash of that word
    bit = np.frexp(low.astype(np.float64))[1] - 1  # exact: a power of two
    column = ends - starts
    return np.where(found.any(1), np.minimum(word * 8 + (bit >> 3), column), column)


def _keys(block: _Block, starts: np.ndarray, lengths: np.ndarray, long_names: _Ids, cut: bool) -> np.ndarray:
    """Keys of the names ``block.data[starts : starts + lengths]`` (block-relative), as ``(names, 3)`` words.

    A key is the name zero-padded to :data:`_KEY` bytes; a name that does not fit (or holds a NUL byte, which
    the padding could not tell apart) gets :data:`_LONG_KEY` with its number in ``long_names`` instead. With
    ``cut``, such a name is cut at its first ``/`` (past the bytes :func:`_name_lengths` looked at).
    """
    keys = block.words()[starts[:, None] + _KEY_WORDS]
    kept = _LOW_BYTES[np.clip(lengths[:, None] - _KEY_WORDS, 0, 8)]
    keys &= kept
    long = np.flatnonzero((lengths > _KEY) | ((_zero_bytes(keys) & kept) != 0).any(1))
    data = block.data
    for row in long.tolist():
        begin = block.start + int(starts[row])
        name = data[begin : begin + int(lengths[row])]
        keys[row] = _LONG_KEY
        keys[row, 0] = long_names[name.split(b"/", 1)[0] if cut else name]
    return keys


def _hash(keys: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each key (a multiply-xorshift mix of its words)."""
    hashes = keys[:, 0] * _MIX[0]
    for column in range(1, keys.shape[1]):
        hashes ^= hashes >> np.uint64(29)
        hashes = (hashes ^ keys[:, column]) * _MIX[column]
    hashes ^= hashes >> np.uint64(32)
    return hashes


def _relation_ids(part: _Part, block: _Block, rows: np.ndarray) -> np.ndarray:
    """Each row's relation id in ``part.relations``: the block's distinct relations are looked up once each."""
    starts, lengths = rows[:, 0] + 4, rows[:, 1] - rows[:, 0] - 4
    long = _Ids()
    keys = _keys(block, starts, lengths, long, cut=False)
    _, first, inverse = np.unique(_hash(keys), return_index=True, return_inverse=True)
    data, begin = block.data, block.start
    if long or not (keys == keys[first][inverse]).all():  # a long name, or two that share a hash
        names = map(data.__getitem__, map(slice, (starts + begin).tolist(), (starts + lengths + begin).tolist()))
        return np.fromiter(map(part.relations.__getitem__, names), np.uint16, len(rows))
    spans = zip(starts[first].tolist(), lengths[first].tolist())
    ids = [part.relations[data[begin + start : begin + start + length]] for start, length in spans]
    return np.array(ids, np.uint16)[inverse.ravel()]


def _finish(part: _Part) -> None:
    """Number the distinct concept names of a part (see :class:`_Part`) and drop their per-row keys."""
    keys = np.frombuffer(part.name_key, np.uint64).reshape(-1, _KEY // 8)
    count = len(keys)
    hashes = _hash(keys)
    ranked = np.argsort(hashes)
    ranked_hashes = hashes[ranked]
    del hashes
    starts = np.ones(count, dtype=bool)
    starts[1:] = ranked_hashes[1:] != ranked_hashes[:-1]
    # every name that shares a hash with the one before it in hash order must be the same name (compared a
    # slice at a time, to bound the memory)
    for begin in range(0, count, _CHECKED):
        window = keys[ranked[max(0, begin - 1) : begin + _CHECKED]]
        same = ~starts[max(1, begin) : begin + _CHECKED]
        if ((window[1:] != window[:-1]).any(1) & same).any():  # a collision of 64-bit hashes: then match names exactly
            _finish_exactly(part)
            return
    leads = np.flatnonzero(starts)
    first = np.minimum.reduceat(ranked, leads) if count else ranked  # each name's earliest place
    codes = np.empty(count, dtype=np.int32)
    codes[ranked] = np.cumsum(starts, dtype=np.int32) - 1
    del ranked
    order = np.frombuffer(part.order, np.int64)
    part.heads, part.tails = codes[0::2].copy(), codes[1::2].copy()
    part.first_seen = order[first >> 1] * 2 + (first & 1)  # names are interleaved: start, end, start, end...
    part.concept_hash = ranked_hashes[leads]
    lead_keys = keys[first]
    del keys
    part.name_key = bytearray()
    part.concepts = _key_names(lead_keys, part.long_names)
    for row in np.flatnonzero((lead_keys[:, 1:] == _LONG_KEY[1:]).all(1)).tolist():
        # a long name's key is its number in this part: hash its bytes instead, as the other part will
        part.concept_hash[row] = int.from_bytes(hashlib.blake2b(part.concepts[row], digest_size=8).digest(), "little")


def _key_names(keys: np.ndarray, long_names: _Ids) -> list[bytes]:
    """The names that ``keys`` stand for."""
    padded = keys.view(np.uint8).reshape(len(keys), _KEY)
    lengths = np.count_nonzero(padded, axis=1)  # a name in a key holds no NUL byte
    joined = padded[np.arange(_KEY) < lengths[:, None]].tobytes()
    ends = np.cumsum(lengths)
    names = list(map(joined.__getitem__, map(slice, (ends - lengths).tolist(), ends.tolist())))
    long = np.flatnonzero((keys[:, 1:] == _LONG_KEY[1:]).all(1))
    if len(long):
        spelled = list(long_names)
        for row in long.tolist():
            names[row] = spelled[int(keys[row, 0])]
    return names


def _finish_exactly(part: _Part) -> None:
    """:func:`_finish` without hashes: a dictionary of the names themselves (slow; for hash collisions)."""
    keys = np.frombuffer(part.name_key, np.uint64).reshape(-1, _KEY // 8)
    count = len(keys)
    names = _key_names(keys, part.long_names)
    ids = _Ids()
    codes = np.fromiter(map(ids.__getitem__, names), np.int32, count)
    order = np.frombuffer(part.order, np.int64)
    first = np.flatnonzero(codes > np.maximum.accumulate(np.concatenate(([-1], codes[:-1]))))
    part.heads, part.tails = codes[0::2].copy(), codes[1::2].copy()
    part.first_seen = order[first >> 1] * 2 + (first & 1)
    part.concepts = list(ids)
    part.concept_hash = np.zeros(0, np.uint64)  # none: merging compares the names themselves
    part.name_key = bytearray()


# ------------------------------------------------------------------------------------------- one block


class _Block:
    """One line-aligned block: ``data[start:end]`` ends with a newline and at least :data:`_PAD` bytes follow.

    ``data`` is ``bytes`` or an ``mmap`` (the shared slots, ``slot`` the one it is in): both slice to ``bytes``
    and have ``find``.
    """

    __slots__ = ("data", "end", "number", "slot", "start")

    def __init__(self, data: bytes | mmap.mmap, start: int, end: int, number: int, slot: int | None = None) -> None:
        self.data, self.start, self.end, self.number, self.slot = data, start, end, number, slot

    def array(self) -> np.ndarray:
        return np.frombuffer(self.data, np.uint8, count=self.end - self.start, offset=self.start)

    def words(self) -> np.ndarray:
        """The eight bytes from each position of the block, as one little-endian number (a strided view)."""
        return np.ndarray((self.end - self.start,), "<u8", self.data, self.start, (1,))


_TILED = np.tile(_COLUMN_ENDS, 1 << 12)


def _column_ends(control: np.ndarray, values: np.ndarray) -> np.ndarray | None:
    """``(lines, 5)`` positions of each line's tabs and newline, or ``None`` when some line is not five columns.

    Args:
        control: positions of the block's tab and newline bytes (and of any other byte they stand for).
        values: the bytes at those positions.
    """
    global _TILED
    lines = len(control) // 5
    if len(control) != 5 * lines:
        return None
    if len(_TILED) < len(values):
        _TILED = np.tile(_COLUMN_ENDS, len(values) // 5 * 2)
    if not np.array_equal(values, _TILED[: len(values)]):
        return None
    return control.reshape(lines, 5)


def _english(block: _Block, ends: np.ndarray) -> np.ndarray:
    """Indices of the lines whose relation starts ``/r/`` and whose start and end are ``/c/en/NAME`` (NAME not
    empty): the rows KEAR's extraction keeps. ``ends`` is :func:`_column_ends`'s array for the block."""
    words = block.words()
    # the end concept first: fewest lines pass it, so the other two checks look at fewer lines
    word = words[ends[:, 2]]
    name = word >> _SHIFT7
    keep = np.flatnonzero(((word & _LOW7) == _ENGLISH_START) & (name != _SLASH) & (name != _TAB))
    word = words[ends[keep, 1]]
    name = word >> _SHIFT7
    keep = keep[((word & _LOW7) == _ENGLISH_START) & (name != _SLASH) & (name != _TAB)]
    word = words[ends[keep, 0]]
    return keep[((word & _LOW4) == _RELATION_START) & (((word >> _SHIFT4) & np.uint64(0xFF)) != _TAB)]


def _scan(part: _Part, block: _Block, strict: bool) -> bool:
    """Add a block's English rows to ``part``; ``False`` when it held a malformed row (the scan stops there in
    strict mode, otherwise the row is counted and skipped)."""
    values = block.array()
    control = np.flatnonzero(values < 11)  # tabs, newlines and (rare) other control bytes, in one pass
    ends = _column_ends(control, values[control])
    if ends is None:
        return _scan_slowly(part, block, strict)
    part.rows += len(ends)
    return _add(part, block, ends, _english(block, ends), strict)


def _scan_slowly(part: _Part, block: _Block, strict: bool) -> bool:
    """A block with control bytes other than tabs and newlines, or with lines that are not five columns."""
    values = block.array()
    control = np.flatnonzero((values == _TAB) | (values == _NEWLINE))
    ends = _column_ends(control, values[control])
    if ends is not None:  # only other control bytes, which are data
        part.rows += len(ends)
        return _add(part, block, ends, _english(block, ends), strict)
    text = block.data[block.start : block.end]
    good, ok = [], True
    for line in text.split(b"\n")[:-1]:
        part.rows += 1
        if not line.strip():
            continue
        columns = line.count(b"\t") + 1
        if columns == 5:
            good.append(line)
            continue
        ok = False
        part.note_bad(line, b"", f"expected 5 tab-separated columns, found {columns}")
        if strict:
            return False
    if not good:
        return ok
    data = b"\n".join(good) + b"\n"
    kept = _Block(data + bytes(_PAD), 0, len(data), block.number)
    values = kept.array()
    control = np.flatnonzero((values == _TAB) | (values == _NEWLINE))
    ends = control.reshape(-1, 5)
    return _add(part, kept, ends, _english(kept, ends), strict) and ok


def _add(part: _Part, block: _Block, ends: np.ndarray, lines: np.ndarray, strict: bool) -> bool:
    """Add the English rows ``lines`` (indices into ``ends``) of a block to ``part``."""
    count = len(lines)
    if not count:
        return True
    part.english_rows += count
    rows = ends[lines]
    values, data = block.array(), block.data
    starts, stops = (rows[:, 3:5] + block.start + (1, 0)).T.tolist()
    infos = list(map(data.__getitem__, map(slice, starts, stops)))
    order = lines + (block.number << 32)
    decoded = None
    if (values[rows[:, 3] + 1] == _OPEN).all() and (values[rows[:, 4] - 1] == _CLOSE).all():
        # Each info starts a JSON value and ends one, so no value can run from one row into the next, and one
        # decode of all the lines gives one object per row exactly when each row holds one object.
        joined = b"\n".join(infos)
        try:
            if not joined.isascii():
                joined.decode()  # msgspec does not check the UTF-8 of fields it skips; orjson did
            decoded = _INFO.decode_lines(joined)
        except (msgspec.DecodeError, UnicodeDecodeError):
            decoded = None
        if decoded is not None and len(decoded) != count:
            decoded = None
    if decoded is None:
        return _add_one_by_one(part, block, rows, infos, order, strict)
    surfaces = [text.encode() if text else b"" for text in map(_SURFACE, decoded)]
    _extend(part, block, rows, map(_WEIGHT, decoded), surfaces, order)
    return True


def _extend(part: _Part, block: _Block, rows: np.ndarray, weights, surfaces: list[bytes], order: np.ndarray) -> None:
    """Append English rows (``rows``: their column ends in the block) to ``part``; ``weights`` is an iterable of
    floats, ``order`` the rows' positions in the dump."""
    starts, ends = (rows[:, 1:3] + 7).ravel(), rows[:, 2:4].ravel()  # start and end concept, row by row
    lengths = _name_lengths(block.words(), starts, ends)
    part.name_key += _keys(block, starts, lengths, part.long_names, cut=True).tobytes()
    part.rels.frombytes(_relation_ids(part, block, rows).tobytes())
    part.weights.extend(weights)
    part.order.frombytes(order.astype(np.int64).tobytes())
    part.surface_start.extend(accumulate(map(len, surfaces[:-1]), initial=len(part.surfaces)))
    part.surfaces += b"".join(surfaces)


def _add_one_by_one(
    part: _Part, block: _Block, rows: np.ndarray, infos: list[bytes], order: np.ndarray, strict: bool
) -> bool:
    """Slow path for rows whose info columns are not all plain JSON objects: keep the good ones, note the rest."""
    ok = True
    keep: list[int] = []
    weights, surfaces = [], []
    for row, info in enumerate(infos):
        try:
            data = orjson.loads(info)
            weight = float(data["weight"])
            surface = data.get("surfaceText") or ""
            if not isinstance(surface, str):
                raise TypeError("surfaceText is not text")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError, OverflowError):
            ok = False
            head = block.start + int(rows[row, 1]) + 7
            name = block.data[head : block.start + int(rows[row, 2])].split(b"/")[0]
            part.note_bad(b"\t" + info, b"/c/en/" + name, "info column is not JSON with a 'weight'")
            if strict:
                break
            continue
        keep.append(row)
        weights.append(weight)
        surfaces.append(surface.encode())
    if keep:
        _extend(part, block, rows[keep], weights, surfaces, order[keep])
    return ok


# ------------------------------------------------------------------------------------------- reading


def _blocks(path: str, block_size: int, stop: Callable[[], bool] = lambda: False) -> Iterator[_Block]:
    """Line-aligned blocks of the inflated dump, numbered from 0, each in its own ``bytes``.

    Every reader of the same dump with the same block size cuts the same blocks. A line longer than a block
    makes its block as long as the line.
    """
    buffer = bytearray(block_size + _PAD)
    view = memoryview(buffer)
    filled = number = 0
    with open_binary(path, threaded=False) as handle:
        while not stop():
            read = handle.readinto(view[filled : len(buffer) - _PAD])
            if not read:
                if filled:
                    if buffer[filled - 1] != _NEWLINE:  # a last line without its newline
                        buffer[filled] = _NEWLINE  # fits: the padding is never read into
                        filled += 1
                    yield _Block(bytes(view[: filled + _PAD]), 0, filled, number)
                return
            filled += read
            if filled < len(buffer) - _PAD:
                continue
            cut = buffer.rfind(b"\n", 0, filled) + 1
            if cut == 0:  # one line longer than the block: grow the block
                view.release()
                buffer.extend(bytes(len(buffer)))
                view = memoryview(buffer)
                continue
            yield _Block(bytes(view[: cut + _PAD]), 0, cut, number)
            number += 1
            buffer[: filled - cut] = buffer[cut:filled]
            filled -= cut


class _Ring:
    """Shared memory for the blocks the main process inflates and both workers read: ``slots`` slots of
    ``stride`` bytes in an anonymous file (``memfd`` on Linux), which the helper maps by its descriptor."""

    def __init__(self, block_size: int, slots: int) -> None:
        self.slots, self.stride, self.block_size = slots, block_size + _PAD, block_size
        if hasattr(os, "memfd_create"):
            self.fd = os.memfd_create("kear-conceptnet-blocks")
            self._file = None
        else:  # an unlinked temporary file serves where there is no memfd
            self._file = tempfile.TemporaryFile()  # noqa: SIM115  (closed in close())
            self.fd = self._file.fileno()
        os.ftruncate(self.fd, slots * self.stride)
        self.memory = mmap.mmap(self.fd, slots * self.stride)

    def close(self) -> None:
        # arrays on the slots that an exception's traceback still holds keep the mapping until they go
        with contextlib.suppress(BufferError):
            self.memory.close()
        if self._file is not None:
            self._file.close()
        else:
            os.close(self.fd)


def _read_exact(fd: int, size: int) -> bytes:
    """``size`` bytes from a pipe, or fewer at its end."""
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            break
        data += chunk
    return data


class _Feeder:
    """Inflates the dump into the ring's slots in a thread of the main process and hands each block to the helper
    with the fewest waiting, through its pipe; each helper says through another pipe when it is done with a
    slot. A block that is not in the ring (a line longer than a slot) goes to the main thread's queue instead.

    The main thread itself scans nothing else, so the reading thread never waits for the GIL.

    Args:
        path: the dump.
        ring: the shared slots.
        to_helpers: the pipe each helper reads block records from.
        from_helpers: the pipe each helper writes its acknowledgements to.
        strict: stop when a helper says it met a malformed row.
        bar: the progress bar, advanced by the helpers' lines.
    """

    def __init__(
        self, path: str, ring: _Ring, to_helpers: list[int], from_helpers: list[int], strict: bool, bar: tqdm
    ) -> None:
        self.path, self.ring, self.to_helpers, self.from_helpers = path, ring, to_helpers, from_helpers
        self.strict, self.bar = strict, bar
        self.blocks: queue.Queue[_Block | None] = queue.Queue()
        self.state = threading.Condition()
        self.free = list(range(ring.slots))
        self.waiting = [0] * len(to_helpers)
        self.stopped = False  # set by either side to end early
        self.error: BaseException | None = None  # what stopped the reader, raised again in the main thread
        self.reader = threading.Thread(target=self._read, name="conceptnet-reader", daemon=True)
        self.listeners = [
            threading.Thread(target=self._listen, args=(helper,), name="conceptnet-acks", daemon=True)
            for helper in range(len(from_helpers))
        ]

    def start(self) -> None:
        self.reader.start()
        for listener in self.listeners:
            listener.start()

    def stop(self) -> None:
        with self.state:
            self.stopped = True
            self.state.notify_all()

    def _listen(self, helper: int) -> None:
        while True:
            record = _read_exact(self.from_helpers[helper], _FROM_HELPER.size)
            if len(record) < _FROM_HELPER.size:  # the helper ended (it says how when it is waited for)
                self.stop()
                return
            slot, bad, lines = _FROM_HELPER.unpack(record)
            self.bar.update(lines)
            with self.state:
                self.waiting[helper] -= 1
                self.free.append(slot)
                if bad and self.strict:
                    self.stopped = True
                self.state.notify_all()

    def _slot(self) -> int | None:
        with self.state:
            self.state.wait_for(lambda: self.free or self.stopped)
            return None if self.stopped else self.free.pop()

    def _send(self, block: _Block) -> bool:
        """Hand a block to a worker; ``False`` when stopped meanwhile."""
        if block.slot is None:
            self.blocks.put(block)
            return True
        with self.state:
            self.state.wait_for(lambda: self.stopped or min(self.waiting) < _PENDING)
            if self.stopped:
                return False
            helper = self.waiting.index(min(self.waiting))
            self.waiting[helper] += 1
        try:
            os.write(self.to_helpers[helper], _TO_HELPER.pack(block.slot, block.end - block.start, block.number))
        except OSError:  # the helper is gone; its listener says so
            return False
        return True

    def _read(self) -> None:
        memory, stride, size = self.ring.memory, self.ring.stride, self.ring.block_size
        number, carry = 0, b""  # carry: the start of a line cut by the end of the previous block
        try:
            with open_binary(self.path, threaded=False) as handle:
                while True:
                    slot = self._slot()
                    if slot is None:
                        break
                    start = slot * stride
                    memory[start : start + len(carry)] = carry
                    filled, read = len(carry), 1
                    with memoryview(memory)[start : start + size] as view:
                        while filled < size and read:
                            read = handle.readinto(view[filled:])
                            filled += read
                    at_end = filled < size
                    if at_end and filled and memory[start + filled - 1] != _NEWLINE:
                        memory[start + filled] = _NEWLINE  # a last line without its newline; fits: filled < size
                        filled += 1
                    cut = memory.rfind(b"\n", start, start + filled) + 1 - start
                    if cut <= 0:  # nothing left, or a line longer than a block: that line gets a block of its own
                        with self.state:
                            self.free.append(slot)
                        if not filled:
                            break
                        block, carry = self._long_line(handle, memory[start : start + filled], number)
                    else:
                        block = _Block(memory, start, start + cut, number, slot)
                        carry = memory[start + cut : start + filled]
                    if not self._send(block):
                        break
                    number += 1
                    if at_end and not carry:
                        break
        except BaseException as error:  # raised again in the main thread
            self.error = error
        finally:
            self.blocks.put(None)
            for pipe in self.to_helpers:  # a helper reads block records until this one
                with contextlib.suppress(OSError):
                    os.write(pipe, _TO_HELPER.pack(-1, 0, 0))

    def _long_line(self, handle, head: bytes, number: int) -> tuple[_Block, bytes]:
        """A block of its own for a line that does not fit a slot, read on to its newline; and what follows."""
        parts, rest = [head], b""
        while chunk := handle.read(self.ring.block_size):
            cut = chunk.find(b"\n") + 1
            if cut:
                parts.append(chunk[:cut])
                rest = chunk[cut:]
                break
            parts.append(chunk)
        data = b"".join(parts)
        if not data.endswith(b"\n"):
            data += b"\n"
        return _Block(data + bytes(_PAD), 0, len(data), number), rest


def _collect(
    path: str, worker: int, workers: int, block_size: int, strict: bool, progress: bool, stop=lambda: False
) -> _Part:
    """Read the blocks that belong to ``worker`` into a :class:`_Part`.

    Alone (``workers`` 1) a worker reads the dump itself. The helper (``worker`` 1) reads the blocks the main
    process sends it through the shared ring named by :data:`_RING_ENV`, and acknowledges each. In strict mode
    reading stops at the first malformed row, or when ``stop()`` says so.
    """
    part = _Part()
    ring = os.environ.get(_RING_ENV) if worker else None
    if ring:
        _serve(part, ring, strict)
        _finish(part)
        return part
    bar = tqdm(desc="ConceptNet rows", unit=" rows", unit_scale=True, disable=not progress)
    for number, block in enumerate(_blocks(path, block_size, stop=lambda: strict and stop())):
        if number % workers != worker:
            continue
        rows = part.rows
        ok = _scan(part, block, strict)
        bar.update((part.rows - rows) * workers)
        if strict and not ok:
            break
    bar.close()
    part.surface_start.append(len(part.surfaces))
    _finish(part)
    return part


def _serve(part: _Part, ring: str, strict: bool) -> None:
    """The helper's side of the ring: scan the blocks the main process sends, until it sends no more."""
    memory_fd, blocks_fd, acks_fd, slots, stride = map(int, ring.split(","))
    memory = mmap.mmap(memory_fd, slots * stride, access=mmap.ACCESS_READ)
    try:
        while True:
            record = _read_exact(blocks_fd, _TO_HELPER.size)
            if len(record) < _TO_HELPER.size:
                break
            slot, size, number = _TO_HELPER.unpack(record)
            if slot < 0:
                break
            rows = part.rows
            ok = _scan(part, _Block(memory, slot * stride, slot * stride + size, number), strict)
            os.write(acks_fd, _FROM_HELPER.pack(slot, 0 if ok else 1, part.rows - rows))
            if strict and not ok:
                break
    finally:
        with contextlib.suppress(BufferError):  # views a traceback still holds keep the mapping until they go
            memory.close()
    part.surface_start.append(len(part.surfaces))


def _text(raw: bytes) -> str:  # any bytes, as JSON-safe text that turns back into the same bytes
    return raw.decode("utf-8", "surrogateescape")


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


_ARRAYS = {"rels": "H", "weights": "d", "order": "q", "surface_start": "q"}  # kept as array.array
_NUMPY = {"heads": np.int32, "tails": np.int32, "first_seen": np.int64, "concept_hash": np.uint64}


def _save_part(part: _Part, folder: Path) -> None:
    """Hand a helper's part over as plain files (names one per line, numbers as raw arrays)."""
    (folder / "concepts.bin").write_bytes(b"\n".join(part.concepts))
    (folder / "relations.bin").write_bytes(b"\n".join(part.relations))
    for name in (*_ARRAYS, *_NUMPY):
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
    for name, kind in _NUMPY.items():
        setattr(part, name, np.fromfile(folder / f"{name}.bin", dtype=kind))
    part.surfaces = bytearray((folder / "surfaces.bin").read_bytes())
    for name in ("concepts", "relations"):  # only iterated when merging: a list is enough
        raw = (folder / f"{name}.bin").read_bytes()
        setattr(part, name, raw.split(b"\n") if raw else [])
    summary = json.loads((folder / "summary.json").read_text())
    part.rows, part.english_rows, part.bad_count = summary["rows"], summary["english_rows"], summary["bad_count"]
    part.bad = [(_raw(end), _raw(has), why) for end, has, why in summary["bad"]]
    return part


def _union(main: _Part, other: _Part) -> tuple[np.ndarray, np.ndarray, list[bytes], np.ndarray]:
    """The two parts' concepts as one list: (main's ids in it, other's ids in it, the names, where each first
    appears). Names are matched by their hashes, which are checked to belong to equal names."""
    sizes = len(main.concepts), len(other.concepts)
    if not sizes[0] or not sizes[1]:  # nothing to match
        offset = np.arange(sizes[1], dtype=np.int32) + sizes[0]
        seen = np.concatenate([main.first_seen, other.first_seen])
        return np.arange(sizes[0], dtype=np.int32), offset, main.concepts + other.concepts, seen
    hashed = len(main.concept_hash) == sizes[0] and len(other.concept_hash) == sizes[1]
    if hashed:
        hashes = np.concatenate([main.concept_hash, other.concept_hash])
        ranked = np.argsort(hashes, kind="stable")  # of equal hashes, main's comes first
        ranked_hashes = hashes[ranked]
        starts = np.ones(len(ranked), dtype=bool)
        starts[1:] = ranked_hashes[1:] != ranked_hashes[:-1]
        seconds = np.flatnonzero(~starts)  # the other part's copy of a name that main has too
        firsts, others = ranked[seconds - 1], ranked[seconds] - sizes[0]
        # each shared hash must be one name of each part, spelled alike
        hashed = not (~starts[1:] & ~starts[:-1]).any() and (firsts < sizes[0]).all() and (others >= 0).all()
        if hashed:
            spelled = map(main.concepts.__getitem__, firsts.tolist()), map(other.concepts.__getitem__, others.tolist())
            hashed = all(map(bytes.__eq__, *spelled))
    if not hashed:  # a hash shared by different names (or a part numbered without hashes): match the names
        ids = _Ids()
        maps = [np.fromiter(map(ids.__getitem__, p.concepts), np.int32, len(p.concepts)) for p in (main, other)]
        first_seen = np.full(len(ids), np.iinfo(np.int64).max, dtype=np.int64)
        for part, ids_map in zip((main, other), maps):
            np.minimum.at(first_seen, ids_map, part.first_seen)
        return maps[0], maps[1], list(ids), first_seen
    code = np.empty(len(ranked), dtype=np.int32)
    code[ranked] = np.cumsum(starts, dtype=np.int64) - 1
    names = main.concepts + other.concepts
    concepts = list(map(names.__getitem__, ranked[starts].tolist()))
    seen = np.concatenate([main.first_seen, other.first_seen])[ranked]
    return code[: sizes[0]], code[sizes[0] :], concepts, np.minimum.reduceat(seen, np.flatnonzero(starts))


def _merge(main: _Part, other: _Part) -> _Part:
    """Append ``other``'s edges to ``main``, renumbering its concepts and relations into ``main``'s ids."""
    main_ids, other_ids, main.concepts, main.first_seen = _union(main, other)
    main.heads = np.concatenate([main_ids[main.heads], other_ids[other.heads]])
    main.tails = np.concatenate([main_ids[main.tails], other_ids[other.tails]])
    main.concept_hash = np.zeros(0, np.uint64)
    relation_map = np.array(list(map(main.relations.__getitem__, other.relations)), np.uint16)
    if len(other.rels):
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


def _read_alongside(feeder: _Feeder, part: _Part, strict: bool, bar: tqdm) -> None:
    """The main thread's share: scan the blocks the feeder queues for it (lines longer than a slot) until it
    queues ``None``."""
    while (block := feeder.blocks.get()) is not None:
        rows = part.rows
        ok = feeder.stopped or _scan(part, block, strict)
        bar.update(part.rows - rows)
        if strict and not ok:
            feeder.stop()
    part.surface_start.append(len(part.surfaces))


def _start_helper(
    dump: Path, handover: Path, block_size: int, strict: bool, ring: str, fds: tuple[int, ...]
) -> subprocess.Popen:
    """A helper process (:mod:`.helper`) that scans the blocks it is sent through the ring ``ring`` names."""
    command = [sys.executable, "-m", f"{__package__}.helper", str(dump), str(handover), "--block-size", str(block_size)]
    command += ["--parent", str(os.getpid())]  # it ends when this process ends, however it ends
    command += ["--strict"] if strict else []
    # its own session: Ctrl-C reaches only this process, which stops the helpers in `finally`
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        pass_fds=fds,
        env={**os.environ, _RING_ENV: ring},
        preexec_fn=_dies_with(os.getpid()),  # see _dies_with
    )


def _dies_with(parent: int) -> Callable[[], None] | None:
    """What the helper's child runs before it starts Python: have the kernel kill it when ``parent`` ends.

    The helper asks for the same itself (helper.die_with), but only once its imports are done, some tenths of a
    second later; a parent killed meanwhile would leave it running that long. The function is looked up here,
    in the parent, so that the child only makes the system call (Linux; elsewhere there is nothing to do).
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent ended before the call: it would never be signalled
            os._exit(1)

    return arm


def _read_parts(
    dump: Path, block_size: int, strict: bool, workers: int, progress: bool, scratch: Path, lap: _Laps
) -> _Part:
    """The workers' parts, merged; ``scratch`` is an empty folder for the helpers' handovers, which the caller
    removes (inside the output's temporary folder, so a killed run's rerun removes it too). ``lap`` times
    reading, finishing and merging (see :class:`IngestReport`)."""
    if workers == 1:
        part = _collect(str(dump), 0, 1, block_size, strict, progress)
        lap("reading")
        return part
    scratch.mkdir()
    ring = _Ring(block_size, slots=workers * _PENDING + 2)  # blocks waiting, the one being filled, one spare
    pipes = [os.pipe() for _ in range(2 * workers)]  # per helper: blocks to it, acknowledgements from it
    ours = [pipes[2 * h][1] for h in range(workers)], [pipes[2 * h + 1][0] for h in range(workers)]
    theirs = [fd for h in range(workers) for fd in (pipes[2 * h][0], pipes[2 * h + 1][1])]
    bar = tqdm(desc="ConceptNet rows", unit=" rows", unit_scale=True, disable=not progress)
    helpers: list[subprocess.Popen] = []
    main = _Part()
    try:
        for h in range(workers):
            blocks_in, acks_out = pipes[2 * h][0], pipes[2 * h + 1][1]
            (scratch / str(h)).mkdir()
            names = f"{ring.fd},{blocks_in},{acks_out},{ring.slots},{ring.stride}"
            helpers.append(
                _start_helper(dump, scratch / str(h), block_size, strict, names, (ring.fd, blocks_in, acks_out))
            )
        for fd in theirs:
            os.close(fd)
        theirs = []
        feeder = _Feeder(str(dump), ring, *ours, strict, bar)
        feeder.start()
        try:
            _read_alongside(feeder, main, strict, bar)
        finally:
            feeder.stop()
            feeder.reader.join()
        if feeder.error is not None:
            raise feeder.error
        if strict and main.bad_count:
            return main  # no need to wait for the rest
        lap("reading")
        statuses = [helper.wait() for helper in helpers]
    finally:
        bar.close()
        for helper in helpers:
            if helper.poll() is None:
                helper.kill()
                helper.wait()
        for fd in (*ours[0], *ours[1], *theirs):
            os.close(fd)
        ring.close()
    for status in statuses:
        if status not in (0, _BAD_EXIT):
            raise KearError(f"{dump}: a helper reading the dump failed (exit status {status})")
    _finish(main)
    parts = [_load_part(scratch / str(h)) for h in range(workers)]
    lap("finishing")
    for other in parts:
        main = _merge(main, other)
    lap("merging")
    return main


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
        workers: 1 (this process reads the dump alone), or the number of helper processes that scan the blocks
            this one inflates (default: 2 for dumps of 64 MiB and more on 2+ cores).
        progress: show a progress bar.
    """
    dump = Path(dump)
    policy = policy or ErrorPolicy()
    if not dump.is_file():
        raise DataError(dump, None, "is a folder, not a file" if dump.is_dir() else "no such file")
    if workers is None:
        workers = 2 if dump.stat().st_size >= _TWO_WORKERS_FROM and (os.cpu_count() or 1) > 1 else 1
    started = time.perf_counter()
    lap = _Laps()
    with atomic_path(output, folder=True, inputs=[dump], owned=lambda f: is_index_folder(f, "conceptnet")) as folder:
        scratch = folder.with_name("handover")
        part = _read_parts(dump, block_size, not policy.skip_invalid, workers, progress, scratch, lap)
        for end, contains, reason in part.bad:
            policy.handle(DataError(dump, _locate(dump, end, contains), reason))  # raises unless skipping
        policy.skipped += part.bad_count - len(part.bad)
        policy.report("ConceptNet rows")

        report = IngestReport(
            rows=part.rows, english_rows=part.english_rows, skipped_rows=part.bad_count, phases=lap.phases
        )
        lap(None)  # handling malformed rows (which may read the dump again to say where they are) is no phase
        concepts, part.concepts = part.concepts, []  # write_index empties the list on the way
        folder.mkdir()
        counts = write_index(
            folder,
            concepts=concepts,
            relations=[name.decode() for name in part.relations],
            heads=part.heads,
            tails=part.tails,
            rels=np.frombuffer(part.rels, dtype=np.uint16),
            weights=np.frombuffer(part.weights, dtype=np.float64),
            order=np.frombuffer(part.order, dtype=np.int64),
            surface_start=np.frombuffer(part.surface_start, dtype=np.int64),
            surfaces=part.surfaces,
            first_seen=part.first_seen,
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
    lap("writing")
    report.seconds = time.perf_counter() - started
    logger.debug(
        "ConceptNet index %s: %d edges among %d concepts from %d rows (%d English) in %.1f s (%s)",
        output,
        report.edges,
        report.concepts,
        report.rows,
        report.english_rows,
        report.seconds,
        ", ".join(f"{name} {seconds:.1f} s" for name, seconds in lap.phases.items()),
    )
    return report
