"""File helpers shared by every reader and writer: compressed input, JSONL lines, atomic output."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson
from isal import igzip, igzip_threaded  # ISA-L inflates gzip about three times faster than zlib

from .errors import DataError, ErrorPolicy


def open_binary(path: str | Path, threaded: bool = True) -> IO[bytes]:
    """Open a file for reading bytes, inflating ``.gz`` files on the fly (never to disk).

    Args:
        path: the file.
        threaded: inflate in a background thread (which releases the GIL), so that a caller busy with each
            line overlaps with decompression; a caller that reads big blocks is faster without it.
    """
    path = Path(path)
    if path.suffix == ".gz":
        return igzip_threaded.open(path, "rb", threads=1) if threaded else igzip.open(path, "rb")
    return open(path, "rb")


def iter_json_lines(path: str | Path, policy: ErrorPolicy | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(line number, parsed object)`` for each non-blank line of a JSONL file (``-`` is stdin).

    Invalid JSON raises :class:`DataError` naming the file and line, or is counted by ``policy``.
    """
    policy = policy or ErrorPolicy()
    stream = sys.stdin.buffer if str(path) == "-" else open_binary(path)
    name = "<stdin>" if str(path) == "-" else str(path)
    with contextlib.ExitStack() as stack:
        if stream is not sys.stdin.buffer:
            stack.enter_context(stream)
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError as error:
                policy.handle(DataError(name, number, f"invalid JSON ({error.args[0].split(':')[0]})"))


def dump_json_line(obj: Any) -> bytes:
    """One JSON object as a UTF-8 line, keys in insertion order."""
    return orjson.dumps(obj) + b"\n"


def write_json_lines(path: str | Path, objects: Iterable[Any]) -> int:
    """Write objects as JSONL, atomically (``-`` writes to stdout). Returns how many were written."""
    count = 0
    with atomic_writer(path) as handle:
        for obj in objects:
            handle.write(dump_json_line(obj))
            count += 1
    return count


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    Works for files and for folders. An interrupted or failed block (Ctrl-C included) leaves no
    half-written output, and an existing output is replaced only by a complete one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    target = tmp / path.name
    try:
        yield target
        if not target.exists():
            raise FileNotFoundError(f"nothing was written to {target}")
        if path.is_dir() and target.is_dir():
            old = tmp / ".old"
            os.replace(path, old)
            os.replace(target, path)
        else:
            os.replace(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_writer(path: str | Path) -> Iterator[IO[bytes]]:
    """Open ``path`` for writing bytes atomically; ``-`` writes to stdout instead."""
    if str(path) == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with atomic_path(path) as tmp, open(tmp, "wb", buffering=io.DEFAULT_BUFFER_SIZE * 16) as handle:
        yield handle


def file_digest(path: str | Path, limit: int | None = None) -> str:
    """SHA-1 of a file's bytes (of its first ``limit`` bytes when given), for cache keys."""
    digest = hashlib.sha1()
    remaining = limit
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20 if remaining is None else min(1 << 20, remaining)):
            digest.update(chunk)
            if remaining is not None:
                remaining -= len(chunk)
                if remaining <= 0:
                    break
    return digest.hexdigest()
