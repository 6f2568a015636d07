"""File helpers shared by every reader and writer: compressed input, JSONL lines, and the output policy.

The output policy, the same for every command:

* outputs go only to regular files, or to new paths (a folder output: to a new or empty folder, or one of kear's
  own of the same kind); never to a device, a pipe, a link, or a path that is also an input;
* they are written atomically: a temporary sibling (``.NAME.*.tmp``) moved into place when complete, so a failed
  or killed run changes no existing file;
* one writer at a time: a second run on the same output fails at once (a lock beside it, ``.NAME.kear-lock``);
  the writer that holds the lock removes what killed runs left beside the output.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import stat
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson
from isal import igzip, igzip_threaded, isal_zlib  # ISA-L inflates gzip about three times faster than zlib

from .errors import DataError, ErrorPolicy, KearError

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


def write_json_lines(path: str | Path, objects: Iterable[Any], *, inputs: Iterable[str | Path] = ()) -> int:
    """Write objects as JSONL, atomically (``-`` writes to stdout). Returns how many were written.

    Args:
        path: the output (see the output policy in this module's docstring).
        objects: what to write, one line each.
        inputs: the files the objects come from; the output may not be one of them.
    """
    count = 0
    with atomic_writer(path, inputs=inputs) as handle:
        for obj in objects:
            handle.write(dump_json_line(obj))
            count += 1
    return count


def _local(paths: Iterable[str | Path | None]) -> list[Path]:
    """The inputs that are local paths (not ``-``, not a Hub id that names nothing here)."""
    return [Path(p) for p in paths if p is not None and str(p) != "-" and Path(p).exists()]


def is_index_folder(folder: Path, kind: str | None = None) -> bool:
    """Whether a folder is one of kear's knowledge indexes (``kear index`` writes ``meta.json`` with a format),
    and, with ``kind``, one of that kind (``conceptnet``, ``wiktionary``, ``wordnet``)."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(meta, dict) or "format" not in meta:
        return False
    # ConceptNet indexes built before kinds were recorded have none; dictionaries always recorded theirs
    return kind is None or meta.get("kind", "conceptnet") == kind


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


def check_output(
    path: str | Path,
    inputs: Iterable[str | Path | None] = (),
    *,
    folder: bool = False,
    owned: Callable[[Path], bool] = is_index_folder,
) -> Path:
    """Refuse an output that kear must not write to, before any work; return it as a ``Path``.

    Args:
        path: the output the user gave.
        inputs: what the command reads (files and folders: records, indexes, models, caches); the output may not
            be one of them, nor lie inside an input folder, nor (for a folder output) hold one.
        folder: the output is a folder (an index, an upload folder) rather than a file.
        owned: for a folder output, whether an existing non-empty folder is kear's own of the same kind (only
            those are replaced).
    """
    if not folder and str(path).endswith(("/", os.sep)):
        raise KearError(f"{path}: names a folder; the output is a file: give a file name")
    path = Path(path)
    if path.is_symlink():
        raise KearError(f"{path}: is a symbolic link; kear writes only to regular files or new paths")
    if path.exists():
        mode = path.stat().st_mode
        if folder and not stat.S_ISDIR(mode):
            raise KearError(f"{path}: is not a folder; the output is a folder: give a new or empty one")
        if not folder and stat.S_ISDIR(mode):
            raise KearError(f"{path}: is a folder; the output is a file: give a new path or a regular file")
        if not folder and not stat.S_ISREG(mode):
            raise KearError(f"{path}: is not a regular file; kear writes only to regular files or new paths")
        if folder and any(path.iterdir()) and not owned(path):
            what = "another kind of kear index" if is_index_folder(path) else "files kear did not write"
            raise KearError(f"{path}: holds {what}; give a new or empty folder")
    else:
        for parent in path.parents:  # the first that exists must be a folder
            if parent.exists():
                if not parent.is_dir():
                    raise KearError(f"{parent}: is not a folder")
                break
    target = path.resolve()
    for source in _local(inputs):
        where = source.resolve()
        if target == where or (path.exists() and os.path.samefile(source, path)):
            problem = f"is also an input ({source})"
        elif where.is_dir() and target.is_relative_to(where):
            problem = f"is inside an input folder ({source})"  # an index, a model, a dataset, a cache
        elif folder and where.is_relative_to(target):
            problem = f"holds an input ({source}), which replacing the folder would take with it"
        else:
            continue
        raise KearError(f"{path}: {problem}; write the output somewhere else")
    return path


@contextlib.contextmanager
def output_lock(path: str | Path) -> Iterator[None]:
    """Hold the lock of an output for the block: a second writer fails at once, instead of mixing its lines in.

    The holder also removes the temporary files that killed runs left beside the output (``.NAME.*.tmp``): while
    it holds the lock, no other run can own them. Folders made for the output are removed again if the block fails
    before anything is in them.
    """
    path = Path(path)
    made = [parent for parent in (path.parent, *path.parent.parents) if not parent.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(f".{path.name}.kear-lock")
    handle = open(lock, "a+b")  # noqa: SIM115  (closed below, after the unlock)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise KearError(f"{path}: another kear run is writing it; wait for it to end, or write elsewhere") from None
    failed = False
    try:
        for stale in path.parent.glob(f".{glob_escape(path.name)}.*.tmp"):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
        yield
    except BaseException:
        failed = True
        raise
    finally:
        lock.unlink(missing_ok=True)
        handle.close()
        if failed:
            for folder in made:  # innermost first; a folder that holds anything stays
                with contextlib.suppress(OSError):
                    folder.rmdir()


def glob_escape(name: str) -> str:
    """A file name with glob's special characters taken literally."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def swap_in(new: Path, path: Path, aside: Path) -> None:
    """Put ``new`` at ``path``; a folder already there is first moved to ``aside`` (the caller removes it there).

    ``path`` holds one whole version at every moment but the instant between the two renames; a writer killed
    in that instant leaves the old version at ``aside`` (see ``kear.checkpoint.remove_staged``).
    """
    if path.is_dir():
        os.replace(path, aside)
    os.replace(new, path)


@contextlib.contextmanager
def atomic_path(
    path: str | Path,
    *,
    inputs: Iterable[str | Path | None] = (),
    folder: bool = False,
    owned: Callable[[Path], bool] = is_index_folder,
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    Works for files and for folders (``folder``); the output policy of this module applies (:func:`check_output`,
    :func:`output_lock`). An interrupted or failed block (Ctrl-C included) leaves no half-written output, and an
    existing output is replaced only by a complete one.
    """
    path = check_output(path, inputs, folder=folder, owned=owned)
    with output_lock(path):
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        target = tmp / path.name
        try:
            yield target
            if not target.exists():
                raise KearError(f"{path}: nothing was written")
            if target.is_dir() != path.is_dir() and path.exists():
                kind = "a folder" if target.is_dir() else "a file"
                raise KearError(f"{path}: the output is {kind}, and this is not; give a new path")
            swap_in(target, path, tmp / ".old")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_writer(path: str | Path, *, inputs: Iterable[str | Path | None] = ()) -> Iterator[IO[bytes]]:
    """Open ``path`` for writing bytes atomically; ``-`` writes to stdout instead."""
    if str(path) == "-":
        if sys.stdout is None:
            raise KearError("-: standard output is closed")
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with (
        atomic_path(path, inputs=inputs) as tmp,
        open(tmp, "wb", buffering=io.DEFAULT_BUFFER_SIZE * 16) as handle,
    ):
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
