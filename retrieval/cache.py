"""A persistent cache of retrieved knowledge, keyed by source fingerprint and record content."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import orjson

from .records import Record
from .source import Knowledge


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


class KnowledgeCache:
    """SQLite table from cache key to :class:`Knowledge` (as JSON). Safe to interrupt: it commits per batch.

    Args:
        path: the database file (created with its folder when missing).
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS knowledge (key TEXT PRIMARY KEY, value BLOB NOT NULL)")

    def get_many(self, keys: Sequence[str]) -> dict[str, Knowledge]:
        found: dict[str, Knowledge] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, value in self.db.execute(f"SELECT key, value FROM knowledge WHERE key IN ({marks})", chunk):
                found[key] = Knowledge(**orjson.loads(value))
        return found

    def put_many(self, items: dict[str, Knowledge]) -> None:
        rows = [(key, orjson.dumps(k.__dict__)) for key, k in items.items()]
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO knowledge VALUES (?, ?)", rows)

    def close(self) -> None:
        self.db.close()
