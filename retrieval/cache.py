"""A persistent cache of retrieved knowledge, keyed by source fingerprint and record content.

The cache is only a cache: everything in it can be computed again. So a cache file that SQLite finds damaged
when it is opened (not a database, a malformed page, a table of another shape) is moved aside, to
``retrieval.sqlite.corrupt`` beside it (with its ``-wal`` and ``-shm`` files), and a new one is started, with a
one-line warning naming both files; nothing is deleted. A row whose value cannot be read is treated as missing
and computed again. Damage found in the middle of a run stops it with one line naming the file and telling to
delete it. A cache that cannot be made or written at all (``cache_dir`` a file, no permission, a full disk)
stops with one line naming it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from .errors import KearError
from .records import Record
from .source import Knowledge

logger = logging.getLogger(__name__)

# SQLite's words for a file that is damaged or is not a database (Python 3.10 has no error codes on exceptions)
_DAMAGED = ("file is not a database", "malformed", "no such column", "corrupt")


def record_key(fingerprint: str, record: Record) -> str:
    """Cache key of one record for one source: everything a source may read from the record."""
    identity = [
        fingerprint,
        record.id,
        record.question,
        record.question_concept,
        [[c.label, c.text] for c in record.choices],
    ]
    return hashlib.sha1(orjson.dumps(identity)).hexdigest()


def _damaged(error: sqlite3.DatabaseError) -> bool:
    """Whether an SQLite error says the file is damaged (rather than locked, read-only or unreachable)."""
    if getattr(error, "sqlite_errorname", None) in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
        return True
    return any(words in str(error).lower() for words in _DAMAGED)


def _knowledge(value: bytes) -> Knowledge | None:
    """A cached value as :class:`Knowledge`, or ``None`` when it is not one (it is then computed again)."""
    try:
        obj: Any = orjson.loads(value)
    except (orjson.JSONDecodeError, TypeError):
        return None
    if not isinstance(obj, dict) or set(obj) - {"question", "choices", "question_concept"}:
        return None
    question, choices, concept = obj.get("question", {}), obj.get("choices", []), obj.get("question_concept")
    if not isinstance(question, dict) or not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        return None
    if concept is not None and not isinstance(concept, str):
        return None
    return Knowledge(question, choices, concept)


class KnowledgeCache:
    """SQLite table from cache key to :class:`Knowledge` (as JSON). Safe to interrupt: it commits per batch.

    Args:
        path: the database file (created with its folder when missing); a damaged one is moved aside (see the
            module's docstring).
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        self.path = path
        if path.parent.exists() and not path.parent.is_dir():
            raise KearError(f"{path.parent}: the retrieval cache folder (cache_dir) is not a folder")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise KearError(
                f"{path.parent}: cannot make the retrieval cache folder ({error.strerror or error}); set cache_dir"
            ) from None
        if path.exists() and not path.is_file():
            raise KearError(f"{path}: the retrieval cache is not a file; move it away or set cache_dir elsewhere")
        try:
            self.db = self._open()
        except sqlite3.DatabaseError as error:
            if not _damaged(error):
                raise self._failure(error) from None
            aside = self._move_aside()
            logger.warning(
                "%s: corrupt retrieval cache (%s): moved aside to %s; starting a new one", path, error, aside
            )
            try:
                self.db = self._open()
            except sqlite3.DatabaseError as again:
                raise self._failure(again) from None

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=60)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS knowledge (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
            # SQLite reads lazily: one query finds a table of another shape, or damage in the first pages
            db.execute("SELECT key, value FROM knowledge LIMIT 1").fetchall()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _move_aside(self) -> Path:
        """Rename the damaged database (and its journal files) to ``NAME.corrupt``; returns the new name."""
        aside = self.path.with_name(self.path.name + ".corrupt")
        try:
            for suffix in ("", "-wal", "-shm"):
                source = Path(f"{self.path}{suffix}")
                if source.exists():
                    os.replace(source, f"{aside}{suffix}")
                else:  # a journal left from an older damaged file must not be read with the new one
                    Path(f"{aside}{suffix}").unlink(missing_ok=True)
        except OSError as error:
            raise KearError(
                f"{self.path}: corrupt retrieval cache, and it cannot be moved aside ({error.strerror or error}): "
                "delete it, or set cache_dir elsewhere"
            ) from None
        return aside

    def _failure(self, error: sqlite3.DatabaseError) -> KearError:
        """One line for an SQLite error on the cache."""
        if _damaged(error):
            return KearError(f"{self.path}: corrupt retrieval cache ({error}): delete it and run again")
        return KearError(
            f"{self.path}: cannot use the retrieval cache ({error}); set cache_dir elsewhere, or use_cache=false"
        )

    def get_many(self, keys: Sequence[str]) -> dict[str, Knowledge]:
        """The cached knowledge of those ``keys`` that have some (a value that cannot be read counts as missing).

        Args:
            keys: cache keys from :func:`record_key`.
        """
        found: dict[str, Knowledge] = {}
        try:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key, value in self.db.execute(f"SELECT key, value FROM knowledge WHERE key IN ({marks})", chunk):
                    knowledge = _knowledge(value)
                    if knowledge is not None:
                        found[key] = knowledge
        except sqlite3.DatabaseError as error:
            raise self._failure(error) from None
        return found

    def put_many(self, items: dict[str, Knowledge]) -> None:
        """Store knowledge by cache key (replacing what was there), in one transaction.

        Args:
            items: knowledge by cache key.
        """
        rows = [(key, orjson.dumps(k.__dict__)) for key, k in items.items()]
        try:
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO knowledge VALUES (?, ?)", rows)
        except sqlite3.DatabaseError as error:
            raise self._failure(error) from None

    def close(self) -> None:
        self.db.close()
