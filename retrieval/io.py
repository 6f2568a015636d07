"""File helpers shared by every reader and writer: compressed input, JSONL lines, index metadata.

What an output may replace, and how it is written, is :mod:`retrieval.outputs`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson
from isal import igzip, igzip_threaded, isal_zlib  # ISA-L inflates gzip about three times faster than zlib

from .errors import DataError, ErrorPolicy, KearError
from .outputs import atomic_writer

# A JSONL line longer than this is refused before it is parsed: memory stays bounded whatever the input. Records
# cut their texts far below it (see records.py); this only stops what no record could be.
MAX_LINE_BYTES = 256 << 20
_READ_ERRORS = (OSError, EOFError, zlib.error, isal_zlib.error)
# ISA-L's C gzip reader (what igzip.open wraps); igzip.open serves if a later python-isal renames it
_RAW_READER = getattr(igzip, "_IGzipReader", None)
_RAW_INPUT_BYTES = 512 << 10  # compressed bytes it reads at a time


class _Named(io.RawIOBase):
    """A binary stream whose read errors (a truncated or corrupt ``.gz``, a failing disk) name its file."""

    def __init__(self, stream: IO[bytes], path: Path, underlying: IO[bytes] | None = None) -> None:
        super().__init__()
        self.stream, self.path, self.underlying = stream, path, underlying

    def _fail(self, error: BaseException) -> DataError:
        reason = str(error).strip() or type(error).__name__
        if isinstance(error, EOFError) or "end-of-stream" in reason:
            reason = "the compressed file is cut short (truncated download?)"
        elif self.path.suffix == ".gz" and not isinstance(error, FileNotFoundError):
            reason = f"not a readable gzip file ({reason})"
        return DataError(self.path, None, f"cannot read: {reason}")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        try:
            return self.stream.readinto(buffer)
        except _READ_ERRORS as error:
            raise self._fail(error) from None

    def read(self, size: int = -1) -> bytes:
        try:
            return self.stream.read(size)
        except _READ_ERRORS as error:
            raise self._fail(error) from None

    def readline(self, size: int | None = -1) -> bytes:
        try:
            return self.stream.readline(-1 if size is None else size)
        except _READ_ERRORS as error:
            raise self._fail(error) from None

    def close(self) -> None:
        with contextlib.suppress(*_READ_ERRORS):
            self.stream.close()
            if self.underlying is not None:
                self.underlying.close()
        super().close()


def open_binary(path: str | Path, threaded: bool = True) -> IO[bytes]:
    """Open a file for reading bytes, inflating ``.gz`` files on the fly (never to disk).

    Read errors, a truncated or corrupt ``.gz`` among them, raise :class:`DataError` naming the file.

    Args:
        path: the file.
        threaded: inflate in a background thread (which releases the GIL), so that a caller busy with each
            line overlaps with decompression; a caller that reads big blocks is faster without it: it gets
            ISA-L's reader itself, whose ``readinto`` inflates straight into the caller's buffer (and lets go of
            the GIL meanwhile), where ``igzip.open``'s inflates into a new ``bytes`` and copies that.
    """
    path = Path(path)
    underlying = None
    try:
        if path.suffix == ".gz" and not threaded and _RAW_READER is not None:
            underlying = open(path, "rb")  # noqa: SIM115  (closed by the wrapper)
            try:
                stream = _RAW_READER(underlying, _RAW_INPUT_BYTES)
            except BaseException:
                underlying.close()
                raise
        elif path.suffix == ".gz":
            stream = igzip_threaded.open(path, "rb", threads=1) if threaded else igzip.open(path, "rb")
        else:
            stream = open(path, "rb")  # noqa: SIM115  (closed by the wrapper)
    except IsADirectoryError:
        raise DataError(path, None, "is a folder, not a file") from None
    except FileNotFoundError:
        raise DataError(path, None, "no such file") from None
    except OSError as error:
        raise DataError(path, None, f"cannot read: {error.strerror or error}") from None
    return _Named(stream, path, underlying)  # type: ignore[return-value]


def _lines(stream: IO[bytes], name: str, policy: ErrorPolicy) -> Iterator[tuple[int, bytes]]:
    """Numbered lines, none longer than :data:`MAX_LINE_BYTES` (longer ones are refused, or skipped whole)."""
    number = 0
    while line := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            policy.handle(DataError(name, number, f"line longer than {MAX_LINE_BYTES >> 20} MiB"))
            while (rest := stream.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
            continue
        yield number, line


def iter_json_lines(path: str | Path, policy: ErrorPolicy | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(line number, parsed object)`` for each non-blank line of a JSONL file (``-`` is stdin).

    Invalid JSON raises :class:`DataError` naming the file and line, or is counted by ``policy``.
    """
    policy = policy or ErrorPolicy()
    if str(path) == "-" and sys.stdin is None:
        raise DataError("<stdin>", None, "standard input is closed")
    stream = sys.stdin.buffer if str(path) == "-" else open_binary(path)
    name = "<stdin>" if str(path) == "-" else str(path)
    with contextlib.ExitStack() as stack:
        if stream is not sys.stdin.buffer:
            stack.enter_context(stream)
        for number, line in _lines(stream, name, policy):
            if number == 1 and line.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark, as some editors write
                line = line[3:]
            if not line.strip():
                continue
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError as error:
                policy.handle(DataError(name, number, f"invalid JSON ({error.args[0].split(':')[0]})"))
            except RecursionError:  # orjson refuses nesting beyond its limit with this
                policy.handle(DataError(name, number, "JSON nested too deeply"))


def dump_json_line(obj: Any) -> bytes:
    """One JSON object as a UTF-8 line, keys in insertion order."""
    return orjson.dumps(obj) + b"\n"


def write_json_lines(
    path: str | Path,
    objects: Iterable[Any],
    *,
    kind: str,
    overwrite: bool = False,
    inputs: Iterable[str | Path | None] = (),
) -> int:
    """Write objects as JSONL, atomically (``-`` writes to stdout). Returns how many were written.

    Args:
        path: the output (see :mod:`retrieval.outputs` for what it may replace).
        objects: what to write, one line each.
        kind: what kind of output this is (``records``, ``ensemble``...), recorded beside the file.
        overwrite: replace an existing file that is not kear's output of this kind.
        inputs: the files the objects come from; the output may not be one of them.
    """
    count = 0
    with atomic_writer(path, kind=kind, overwrite=overwrite, inputs=inputs) as handle:
        for obj in objects:
            handle.write(dump_json_line(obj))
            count += 1
    return count


def index_meta(folder: str | Path, what: str, build: str, corrupt: Callable[[str | Path, str], KearError]) -> dict:
    """The ``meta.json`` of a folder given as an index, read; one-line errors for what the folder is instead.

    Args:
        folder: the folder the user gave (named as given in messages).
        what: what it should be, for messages (``a ConceptNet index``).
        build: how to build one, for messages.
        corrupt: the error for an index whose ``meta.json`` is damaged, given the folder and the problem.
    """
    path = Path(folder)
    if not path.exists():
        raise KearError(f"{folder}: not {what} (no such folder); {build}")
    if not path.is_dir():
        raise KearError(f"{folder}: not {what} (a file, not a folder); {build}")
    try:
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KearError(f"{folder}: not {what} (missing meta.json); {build}") from None
    except (OSError, ValueError) as error:
        raise corrupt(folder, f"meta.json is not readable JSON: {type(error).__name__}") from None
    if not isinstance(meta, dict):
        raise corrupt(folder, "meta.json is not a JSON object")
    return meta


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
