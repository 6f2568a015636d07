"""The on-disk dictionary index: one SQLite table of entries by lowercase headword.

Wiktionary and WordNet are ingested into the same shape, so one resolver serves both. An entry is
``{"word", "pos", "verb_form", "senses": [{"gloss", "form_of", "alt_of"}]}`` (empty fields left out), keeping
only what meaning resolution reads: the first gloss of each sense and its links to other headwords.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from ..errors import KearError
from ..text import normalize

FORMAT_VERSION = 1
DATABASE = "dictionary.sqlite"


class DictionaryWriter:
    """Collects entries and writes an index folder (use inside :func:`retrieval.io.atomic_path`).

    Args:
        folder: the (new) index folder.
        kind: what the entries come from (``wiktionary`` or ``wordnet``), recorded in ``meta.json``.
    """

    def __init__(self, folder: Path, kind: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.kind = folder, kind
        self.db = sqlite3.connect(folder / DATABASE)
        self.db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE entries (key TEXT NOT NULL, rank INTEGER NOT NULL, data BLOB NOT NULL);"
        )
        self.pending: list[tuple[str, int, bytes]] = []
        self.entries = 0
        self.keys: set[str] = set()

    def add(self, word: str, entry: dict[str, Any], rank: int = 0) -> None:
        """Add an entry under ``word``; lower ``rank`` comes first among entries of the same headword."""
        key = normalize(word)
        if not key:
            return
        self.pending.append((key, rank, orjson.dumps(entry)))
        self.keys.add(key)
        self.entries += 1
        if len(self.pending) >= 50_000:
            self._flush()

    def _flush(self) -> None:
        self.db.executemany("INSERT INTO entries VALUES (?, ?, ?)", self.pending)
        self.pending.clear()

    def close(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Index the table and write ``meta.json``; returns the metadata."""
        self._flush()
        self.db.execute("CREATE INDEX by_key ON entries (key, rank)")
        self.db.commit()
        self.db.close()
        meta = {
            "format": FORMAT_VERSION,
            "kind": self.kind,
            "build_id": uuid.uuid4().hex,
            "entries": self.entries,
            "headwords": len(self.keys),
            **meta,
        }
        (self.folder / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return meta


class DictionaryIndex:
    """Read access to a dictionary index folder.

    Args:
        folder: a folder written by ``kear index wiktionary`` or ``kear index wordnet``.
    """

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        try:
            self.meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise KearError(f"{folder}: not a dictionary index (build one with 'kear index wiktionary')") from None
        if self.meta.get("format") != FORMAT_VERSION:
            raise KearError(f"{folder}: index format {self.meta.get('format')} is not {FORMAT_VERSION}; rebuild it")
        self.folder = folder
        uri = (folder / DATABASE).resolve().as_uri() + "?mode=ro"
        self.db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self.entries = lru_cache(maxsize=500_000)(self._entries)

    @property
    def fingerprint(self) -> str:
        return str(self.meta["build_id"])

    def _entries(self, key: str) -> tuple[dict[str, Any], ...]:
        rows = self.db.execute("SELECT data FROM entries WHERE key = ? ORDER BY rank, rowid", (key,)).fetchall()
        return tuple(orjson.loads(row[0]) for row in rows)

    def __contains__(self, key: str) -> bool:
        return bool(self.entries(key))
