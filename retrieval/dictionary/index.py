"""The on-disk dictionary index: one SQLite table of entries by lowercase headword.

Wiktionary and WordNet are ingested into the same shape, so one resolver serves both. An entry is
``{"word", "pos", "verb_form", "senses": [{"gloss", "form_of", "alt_of"}]}`` (empty fields left out), keeping
only what meaning resolution reads: the first gloss of each sense and its links to other headwords.

Opening checks that the folder is a dictionary index (its ``meta.json``, its database) and says in one line what
is wrong when it is not; an entry or a page of the database found damaged during lookups is reported the same way.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from ..errors import KearError
from ..io import index_meta
from ..text import normalize

FORMAT_VERSION = 1
DATABASE = "dictionary.sqlite"
KINDS = ("wiktionary", "wordnet")
BUILD = "build one with 'kear index wiktionary' (or 'kear index wordnet')"
# Lookups of keys up to this long are remembered (500,000 of them at most). Headwords are short; longer keys are the
# back-offs of long texts, which rarely repeat, and remembering them would only grow memory with the input.
MAX_CACHED_KEY_CHARS = 256


class CorruptIndex(KearError):
    """A dictionary index folder whose database or metadata is damaged."""

    def __init__(self, folder: str | Path, problem: str) -> None:
        rebuild = "rebuild it with 'kear index wiktionary' (or 'kear index wordnet')"
        super().__init__(f"{folder}: corrupt dictionary index ({problem}): {rebuild}")


def read_meta(folder: str | Path) -> dict[str, Any]:
    """The checked ``meta.json`` of a dictionary index folder; :class:`KearError` says what else the folder is.

    Args:
        folder: the folder the user gave as the index (named as given in messages).
    """
    path = Path(folder)
    meta = index_meta(folder, "a dictionary index", BUILD, CorruptIndex)
    kind = meta.get("kind")
    if kind not in KINDS:
        # ConceptNet indexes built before kinds were recorded have none; they count edges
        what = "a ConceptNet index" if kind == "conceptnet" or (kind is None and "edges" in meta) else "not one"
        raise KearError(f"{folder}: not a dictionary index ({what}); {BUILD}")
    if meta.get("format") != FORMAT_VERSION:
        raise KearError(f"{folder}: index format {meta.get('format')} is not {FORMAT_VERSION}; rebuild it")
    if not isinstance(meta.get("build_id"), str):
        raise CorruptIndex(folder, "meta.json has no build id")
    if not (path / DATABASE).is_file():
        raise KearError(f"{folder}: not a dictionary index (missing {DATABASE}); {BUILD}")
    return meta


def is_dictionary_index(folder: Path) -> bool:
    """Whether a folder is a dictionary index (of any format), which a new build may replace.

    Args:
        folder: an existing folder.
    """
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("kind") in KINDS


def _entry_ok(entry: Any) -> bool:
    """Whether a stored entry has the shape meaning resolution reads."""
    if not isinstance(entry, dict) or not isinstance(entry.get("senses"), list):
        return False
    return all(
        isinstance(sense, dict) and all(isinstance(sense.get(k, ""), str) for k in ("gloss", "form_of", "alt_of"))
        for sense in entry["senses"]
    )


class DictionaryWriter:
    """Collects entries and writes an index folder (use inside :func:`retrieval.outputs.atomic_path`).

    A failed write (a full disk) is a :class:`KearError` naming ``name``, not the temporary folder.

    Args:
        folder: the (new) index folder.
        kind: what the entries come from (``wiktionary`` or ``wordnet``), recorded in ``meta.json``.
        name: the output as the user gave it, for messages (default: ``folder``).
    """

    def __init__(self, folder: Path, kind: str, name: str | Path | None = None) -> None:
        self.folder, self.kind, self.name = folder, kind, str(folder if name is None else name)
        self.pending: list[tuple[str, int, bytes]] = []
        self.entries = 0
        self.keys: set[str] = set()
        self.longest = 0
        with self._writing():
            folder.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(folder / DATABASE)
            self.db.executescript(
                "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                "CREATE TABLE entries (key TEXT NOT NULL, rank INTEGER NOT NULL, data BLOB NOT NULL);"
            )

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as error:
            reason = (error.strerror if isinstance(error, OSError) else None) or str(error)
            raise KearError(f"{self.name}: cannot write the dictionary index ({reason})") from None

    def add(self, word: str, entry: dict[str, Any], rank: int = 0) -> None:
        """Add an entry under ``word``; lower ``rank`` comes first among entries of the same headword.

        Args:
            word: the headword (normalised to its key).
            entry: ``{"word", "pos", "senses": [..]}`` as described in this module's docstring.
            rank: order among the entries of one key.
        """
        key = normalize(word)
        if not key:
            return
        self.pending.append((key, rank, orjson.dumps(entry)))
        self.keys.add(key)
        self.longest = max(self.longest, len(key))
        self.entries += 1
        if len(self.pending) >= 50_000:
            self._flush()

    def _flush(self) -> None:
        with self._writing():
            self.db.executemany("INSERT INTO entries VALUES (?, ?, ?)", self.pending)
        self.pending.clear()

    def close(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Index the table and write ``meta.json``; returns the metadata.

        Args:
            meta: more fields for ``meta.json`` (source, counts).
        """
        self._flush()
        meta = {
            "format": FORMAT_VERSION,
            "kind": self.kind,
            "build_id": uuid.uuid4().hex,
            "entries": self.entries,
            "headwords": len(self.keys),
            "longest_key": self.longest,
            **meta,
        }
        with self._writing():
            self.db.execute("CREATE INDEX by_key ON entries (key, rank)")
            self.db.commit()
            self.db.close()
            (self.folder / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return meta


class DictionaryIndex:
    """Read access to a dictionary index folder.

    Args:
        folder: a folder written by ``kear index wiktionary`` or ``kear index wordnet``.
    """

    def __init__(self, folder: str | Path) -> None:
        self.meta = read_meta(folder)
        self.name = str(folder)  # as the user gave it, for messages
        self.folder = Path(folder)
        uri = (self.folder / DATABASE).resolve().as_uri() + "?mode=ro"
        try:
            self.db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            # SQLite reads lazily: one query finds a file that is not a database, or one without the table
            self.db.execute("SELECT key, rank, data FROM entries LIMIT 1").fetchall()
        except sqlite3.DatabaseError as error:
            raise CorruptIndex(self.name, f"{DATABASE}: {error}") from None
        self._cached = lru_cache(maxsize=500_000)(self._entries)
        # no key longer than the longest headword can be found: the back-offs of a long text skip the database
        longest = self.meta.get("longest_key")  # indexes built before it was recorded have none
        self.longest = longest if isinstance(longest, int) and not isinstance(longest, bool) else None

    @property
    def fingerprint(self) -> str:
        return str(self.meta["build_id"])

    def entries(self, key: str) -> tuple[dict[str, Any], ...]:
        """The entries of a lowercase headword, in rank order (none when it is not in the dictionary).

        Args:
            key: a normalised headword.
        """
        if self.longest is not None and len(key) > self.longest:
            return ()
        return self._cached(key) if len(key) <= MAX_CACHED_KEY_CHARS else self._entries(key)

    def _entries(self, key: str) -> tuple[dict[str, Any], ...]:
        try:
            rows = self.db.execute("SELECT data FROM entries WHERE key = ? ORDER BY rank, rowid", (key,)).fetchall()
            entries = tuple(orjson.loads(row[0]) for row in rows)
        except sqlite3.DatabaseError as error:
            raise CorruptIndex(self.name, f"{DATABASE}: {error}") from None
        except (orjson.JSONDecodeError, TypeError):
            raise CorruptIndex(self.name, f"an entry of {key[:60]!r} is not JSON") from None
        if not all(_entry_ok(entry) for entry in entries):
            raise CorruptIndex(self.name, f"an entry of {key[:60]!r} has the wrong shape")
        return entries

    def __contains__(self, key: str) -> bool:
        return bool(self.entries(key))
