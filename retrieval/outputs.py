"""The output rule: what every command that writes may write over, and how it writes.

One rule for every command (``retrieve``, ``index``, ``train``, ``evaluate``, ``predict``, ``ensemble``,
``ablate``, ``push --dry-run``, ``demo``), checked before any work:

* a new path is written;
* kear's own output of the same kind is replaced (or, for a run that can go on, continued): a file that kear wrote
  has a record beside it (``.NAME.kear.json``: what wrote it, its size and time), a folder says what it is
  (an index's ``meta.json``, a run's ``train_config.yaml``...);
* anything else that exists (a user's file, a folder of other files, kear's output of another kind, a file changed
  since kear wrote it) is refused, unless the command is given ``--overwrite``;
* never, not even with ``--overwrite``: an input, or anything the command reads (records, indexes, corpora,
  models, a study's data), a path inside an input folder, a folder that holds an input, a link, a device or a pipe.

How: the output is written into a temporary folder beside it (``.NAME.kear-RANDOM.tmp``, with a mark inside) and
moved into place when complete, so a failed or killed run changes no existing file; one writer at a time (a lock
beside the output, ``.NAME.kear-lock``); the writer that holds the lock removes the temporary folders killed runs
left, and only those: a name of that pattern with kear's mark inside.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import logging
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from .errors import KearError

TEMPORARY_MARK = ".kear-temporary"  # inside every temporary folder kear makes; clean-up removes only those


def is_index_folder(folder: Path, kind: str | None = None) -> bool:
    """Whether a folder is one of kear's knowledge indexes (``kear index`` writes ``meta.json`` with a format),
    and, with ``kind``, one of that kind (``conceptnet``, ``wiktionary``, ``wordnet``, ``examples``)."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(meta, dict) or "format" not in meta:
        return False
    # ConceptNet indexes built before kinds were recorded have none; dictionaries always recorded theirs
    return kind is None or meta.get("kind", "conceptnet") == kind


def own_record_path(path: Path) -> Path:
    """Where kear keeps its record of a file it wrote: which command's output it is, and (for files written whole)
    its size and time, so that a file changed since is not taken for kear's."""
    return path.with_name(f".{path.name}.kear.json")


def own_record(path: Path) -> dict[str, Any] | None:
    """kear's record of the file at ``path``, or ``None`` when there is none (or it is not readable)."""
    try:
        record = json.loads(own_record_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def written_by(path: Path) -> str | None:
    """The kind of output kear recorded writing at ``path`` (``None``: not kear's, or changed since).

    A prediction file's record (``kear predict``'s, which says how to continue it) names no kind: it is one of
    ``predictions``, and whether a run may continue it is the prediction module's to decide.
    """
    record = own_record(path)
    if record is None:
        return None
    kind = record.get("kind", "predictions")
    if "size" in record:  # written whole: the file must be as kear left it
        try:
            found = path.stat()
        except OSError:
            return None
        if (found.st_size, found.st_mtime_ns) != (record["size"], record.get("mtime_ns")):
            return None
    return kind if isinstance(kind, str) else None


def record_own(path: Path, kind: str) -> None:
    """Keep a record that kear wrote ``path`` (whole) as an output of ``kind``; written atomically."""
    found = path.stat()
    record = {"kind": kind, "size": found.st_size, "mtime_ns": found.st_mtime_ns}
    target = own_record_path(path)
    staging = target.with_name(f"{target.name}.{os.getpid()}.partial")
    staging.write_text(json.dumps(record), encoding="utf-8")
    os.replace(staging, target)


def _local(paths: Iterable[str | Path | None]) -> list[Path]:
    """The inputs that are local paths (not ``-``, not a Hub id that names nothing here)."""
    return [Path(p) for p in paths if p is not None and str(p) != "-" and Path(p).exists()]


def check_output(
    path: str | Path,
    inputs: Iterable[str | Path | None] = (),
    *,
    kind: str | None = None,
    overwrite: bool = False,
    folder: bool = False,
    owned: Callable[[Path], bool] = is_index_folder,
) -> Path:
    """Refuse an output that the rule of this module forbids, before any work; return it as a ``Path``.

    Args:
        path: the output the user gave.
        inputs: what the command reads (files and folders: records, indexes, models, caches); the output may not
            be one of them, nor lie inside an input folder, nor (for a folder output) hold one.
        kind: for a file output, the kind of output the command writes (``records``, ``ensemble``...): an
            existing file is replaced only if kear wrote it as this kind, or with ``overwrite``. ``None``: the
            command decides about an existing file itself (``kear predict``, which continues its own).
        overwrite: replace an existing output that is not kear's own of this kind (never an input).
        folder: the output is a folder (an index, an upload folder) rather than a file.
        owned: for a folder output, whether an existing non-empty folder is kear's own of the same kind.
    """
    if not folder and str(path).endswith(("/", os.sep)):
        raise KearError(f"{path}: names a folder; the output is a file: give a file name")
    path = Path(path)
    if path.is_symlink():
        raise KearError(f"{path}: is a symbolic link; kear writes only to regular files or new paths")
    if not path.exists():
        for parent in path.parents:  # the first that exists must be a folder
            if parent.exists():
                if not parent.is_dir():
                    raise KearError(f"{path}: cannot be written: {parent} is not a folder")
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
    if path.exists():  # after the inputs: what no --overwrite allows is said first
        _check_existing(path, kind, overwrite, folder, owned)
    return path


def _check_existing(path: Path, kind: str | None, overwrite: bool, folder: bool, owned: Callable[[Path], bool]) -> None:
    mode = path.stat().st_mode
    if folder and not stat.S_ISDIR(mode):
        raise KearError(f"{path}: is not a folder; the output is a folder: give a new or empty one")
    if not folder and stat.S_ISDIR(mode):
        raise KearError(f"{path}: is a folder; the output is a file: give a new path or a regular file")
    if not folder and not stat.S_ISREG(mode):
        raise KearError(f"{path}: is not a regular file; kear writes only to regular files or new paths")
    if overwrite:
        return
    if folder and any(path.iterdir()) and not owned(path):
        what = "another kind of kear index" if is_index_folder(path) else "files kear did not write"
        raise KearError(f"{path}: holds {what}; give a new or empty folder, or --overwrite to replace it")
    if not folder and kind is not None and path.stat().st_size > 0:
        found = written_by(path)
        if found != kind:
            why = "kear did not write it" if found is None else f"it is kear's {found}, not {kind}"
            raise KearError(f"{path}: exists and {why}; give --overwrite to replace it, or another output")


def check_not_emptied(path: str | Path, source: str | Path, what: str, count: int, overwrite: bool) -> None:
    """An index is never replaced by an empty one without ``overwrite``; a new empty one is written with a warning.

    Call it in :func:`atomic_path`'s block, once the new index is counted: raising there keeps the old one.

    Args:
        path: the index folder being written.
        source: what it was built from (a dump, a folder), named in the message.
        what: what it counts (``English edges``, ``entries``).
        count: how many the new index holds.
        overwrite: the user asked to replace whatever is there.
    """
    if count:
        return
    path = Path(path)
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise KearError(
            f"{source}: holds no {what}; {path} keeps the index it has (--overwrite replaces it with an empty one)"
        )
    logging.getLogger(__name__).warning("%s: holds no %s; %s will be an empty index", source, what, path)


def check_writable(path: str | Path) -> None:
    """Refuse, before the work rather than after it, an output in a folder kear cannot write or one that another
    run is writing: its lock is taken and let go (folders made for it are removed again).

    For commands that do their work before they write (``retrieve``, ``ensemble``, a study's report); the others
    take the lock first and keep it.
    """
    path = Path(path)
    made = [parent for parent in (path.parent, *path.parent.parents) if not parent.exists()]
    try:
        with output_lock(path):
            pass
    finally:
        for folder in made:  # innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()


@contextlib.contextmanager
def output_lock(path: str | Path) -> Iterator[None]:
    """Hold the lock of an output for the block: a second writer fails at once, instead of mixing its lines in.

    The holder also removes the temporary folders that killed runs left beside the output (see
    :func:`temporary_folder`): while it holds the lock, no other run can own them. Folders made for the output are
    removed again if the block fails before anything is in them.
    """
    path = Path(path)
    made = [parent for parent in (path.parent, *path.parent.parents) if not parent.exists()]
    lock = path.with_name(f".{path.name}.kear-lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock, "a+b")  # noqa: SIM115  (closed below, after the unlock)
    except OSError as error:  # the output's folder is read-only, full, or not a folder: name the output
        raise KearError(f"{path}: cannot write here: {error.strerror or error}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise KearError(f"{path}: another kear run is writing it; wait for it to end, or write elsewhere") from None
    failed = False
    try:
        remove_temporary(path)
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


def temporary_folder(path: Path) -> Path:
    """A new temporary folder beside ``path``, for what becomes ``path`` when complete: named with kear's prefix
    and a random part (``.NAME.kear-RANDOM.tmp``, a name no user chooses) and marked inside as kear's."""
    folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.kear-", suffix=".tmp", dir=path.parent))
    (folder / TEMPORARY_MARK).write_bytes(b"")
    return folder


def remove_temporary(path: Path) -> None:
    """Remove the temporary folders of ``path`` that killed runs left: of kear's pattern, with kear's mark."""
    for stale in path.parent.glob(f".{glob_escape(path.name)}.kear-*.tmp"):
        if stale.is_dir() and not stale.is_symlink() and (stale / TEMPORARY_MARK).is_file():
            shutil.rmtree(stale, ignore_errors=True)


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
    kind: str | None = None,
    overwrite: bool = False,
    inputs: Iterable[str | Path | None] = (),
    folder: bool = False,
    owned: Callable[[Path], bool] = is_index_folder,
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    Works for files and for folders (``folder``); the rule of this module applies (:func:`check_output`, whose
    arguments these are, and :func:`output_lock`). An interrupted or failed block (Ctrl-C included) leaves no
    half-written output, and an existing output is replaced only by a complete one. A file written as ``kind``
    gets kear's record beside it, so that a later run of the same kind may replace it.
    """
    path = check_output(path, inputs, kind=kind, overwrite=overwrite, folder=folder, owned=owned)
    with output_lock(path):
        tmp = temporary_folder(path)
        target = tmp / path.name
        try:
            yield target
            if not target.exists():
                raise KearError(f"{path}: nothing was written")
            if target.is_dir() != path.is_dir() and path.exists():
                what = "a folder" if target.is_dir() else "a file"
                raise KearError(f"{path}: the output is {what}, and this is not; give a new path")
            swap_in(target, path, tmp / ".old")
            if kind is not None and not folder:
                record_own(path, kind)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_writer(
    path: str | Path, *, kind: str, overwrite: bool = False, inputs: Iterable[str | Path | None] = ()
) -> Iterator[IO[bytes]]:
    """Open ``path`` for writing bytes atomically, as an output of ``kind`` (see :func:`atomic_path`); ``-``
    writes to stdout instead."""
    if str(path) == "-":
        if sys.stdout is None:
            raise KearError("-: standard output is closed")
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with (
        atomic_path(path, kind=kind, overwrite=overwrite, inputs=inputs) as tmp,
        open(tmp, "wb", buffering=io.DEFAULT_BUFFER_SIZE * 16) as handle,
    ):
        yield handle
