"""The on-disk ConceptNet index: English edges as compressed-sparse-row arrays, opened in a fraction of a second.

Folder layout (all plain files; numpy arrays are read without pickle):

* ``concepts.txt``: one concept per line, in order of first appearance in the dump; its line number is its id;
* ``relations.txt``: relation names, sorted; line number is the id;
* ``head_ptr.npy``: int64 ``[concepts + 1]``; the outgoing edges of concept ``c`` are ``head_ptr[c]:head_ptr[c+1]``;
* ``tail.npy`` (int32), ``rel.npy`` (uint16), ``weight.npy`` (float64): per edge, sorted by (head, tail, rel);
* ``surface_start.npy`` (int64), ``surface_len.npy`` (int32) and ``surfaces.bin``: each edge's surface text;
* ``meta.json``: format version, kind (``conceptnet``), build id, source and counts.

Opening checks that the folder is a complete index (every file there, arrays of the right shapes and lengths,
counts that agree with ``meta.json``) and says in one line what is wrong when it is not: another kind of index, a
missing or truncated file. Checks that would read every edge are left to the lookups, which report an index
whose contents are out of range in one line too (:class:`CorruptIndex`).
"""

from __future__ import annotations

import json
import mmap
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import KearError, first_line
from ..io import index_meta

FORMAT_VERSION = 1
KIND = "conceptnet"
REBUILD = "rebuild it with 'kear index conceptnet'"
# the arrays of an index and the kinds of number each may hold (numpy's: "i" signed, "u" unsigned, "f" float)
ARRAYS = {"head_ptr": "iu", "tail": "iu", "rel": "iu", "weight": "f", "surface_start": "iu", "surface_len": "iu"}
FILES = ("meta.json", "concepts.txt", "relations.txt", *(f"{name}.npy" for name in ARRAYS), "surfaces.bin")


class CorruptIndex(KearError):
    """An index folder whose files are missing, truncated or inconsistent."""

    def __init__(self, folder: str | Path, problem: str) -> None:
        super().__init__(f"{folder}: corrupt ConceptNet index ({problem}): {REBUILD}")


def read_meta(folder: str | Path) -> dict:
    """The checked ``meta.json`` of a ConceptNet index folder; :class:`KearError` says what else the folder is.

    Args:
        folder: the folder the user gave as the index (named as given in messages).
    """
    path = Path(folder)
    meta = index_meta(folder, "a ConceptNet index", "build one with 'kear index conceptnet'", CorruptIndex)
    kind = meta.get("kind", KIND)  # indexes built before kinds were recorded are ConceptNet's
    if kind != KIND:
        raise KearError(
            f"{folder}: not a ConceptNet index (it is a {kind} index); build one with 'kear index conceptnet'"
        )
    if meta.get("format") != FORMAT_VERSION:
        raise KearError(f"{folder}: index format {meta.get('format')} is not {FORMAT_VERSION}; {REBUILD}")
    if not isinstance(meta.get("build_id"), str):
        raise CorruptIndex(folder, "meta.json has no build id")
    missing = [name for name in FILES if not (path / name).is_file()]
    if missing:
        raise KearError(f"{folder}: not a ConceptNet index (missing {', '.join(missing)}); {REBUILD}")
    return meta


@dataclass(frozen=True)
class Edge:
    """One ConceptNet edge: ``head --relation--> tail``."""

    head: str
    relation: str
    tail: str
    weight: float
    surface: str | None


def _normalised(joined: bytes) -> tuple[bytes, bool]:
    """Raw URI names (joined by newlines) lowercased with underscores as spaces, as UTF-8 (invalid UTF-8
    replaced), joined alike; and whether no two can be alike: true when the names are valid UTF-8 without capitals
    or spaces (then only underscores change). All names are done at once: a newline is neither cased nor
    case-ignorable, so lowercasing the joined text lowercases each name as it would alone (a final sigma too)."""
    try:
        text, valid = joined.decode("utf-8"), True
    except UnicodeDecodeError:
        text, valid = joined.decode("utf-8", "replace"), False
    lowered = text.lower()
    if valid and lowered == text and " " not in text:  # the usual case: only underscores change
        return joined.replace(b"_", b" "), True
    return lowered.replace("_", " ").encode("utf-8"), False


def _vocabulary(raw_names: bytes, first_seen: np.ndarray) -> tuple[bytes, int, np.ndarray | None]:
    """Normalise raw URI names (joined by newlines; lowercase, underscores to spaces) and order them by first
    appearance.

    ``first_seen[i]`` is where raw name ``i`` first appears in the dump, so the vocabulary does not depend on
    how the dump was read. Names that normalise alike (``Bank`` and ``bank``) become one concept. Returns the
    vocabulary (UTF-8, joined by newlines), its size and, for each raw name, its id in it (``None`` when that is
    the raw name's own id).
    """
    joined, distinct = _normalised(raw_names)
    count = len(first_seen)
    ascending = count < 2 or bool((first_seen[1:] > first_seen[:-1]).all())
    if distinct and ascending:  # the ingest's usual case: raw names are numbered by first appearance already
        return joined, count, None
    names = joined.split(b"\n") if count else []
    ranked = np.arange(count) if ascending else np.argsort(first_seen, kind="stable")
    if distinct:  # each raw name is its own concept: the ranking is the numbering
        local_to_global = np.empty(count, dtype=np.int32)
        local_to_global[ranked] = np.arange(count, dtype=np.int32)
        return b"\n".join(map(names.__getitem__, ranked.tolist())), count, local_to_global
    vocabulary = list(dict.fromkeys(map(names.__getitem__, ranked.tolist())))  # first of each, in ranked order
    ids = dict(zip(vocabulary, range(len(vocabulary))))
    local_to_global = np.fromiter(map(ids.__getitem__, names), np.int32, count)
    return b"\n".join(vocabulary), len(vocabulary), local_to_global


def first_appearances(heads: np.ndarray, tails: np.ndarray, order: np.ndarray, concepts: int) -> np.ndarray:
    """For each concept id, where it first appears in the dump: ``2 * order`` of its first row as a start,
    one more as an end (``order`` gives each row's position in the dump).

    Args:
        heads: each row's start concept.
        tails: each row's end concept.
        order: each row's position in the dump.
        concepts: how many concept ids there are.
    """
    first_seen = np.full(concepts, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_seen, heads, order * 2)
    np.minimum.at(first_seen, tails, order * 2 + 1)
    return first_seen


def _argsort(keys: np.ndarray, bits: int) -> np.ndarray:
    return np.argsort(keys)


def _ranked_edges(
    head: np.ndarray,
    tail: np.ndarray,
    rel: np.ndarray,
    weights: np.ndarray,
    order: np.ndarray,
    relations: int,
    argsort: Callable[[np.ndarray, int], np.ndarray] = _argsort,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted by (head, tail, relation), heaviest first among equal ones, then first in the dump; and, for
    each sorted row, whether it is the first of its (head, tail, relation). ``argsort(keys, bits)`` orders
    non-negative keys below ``2**bits``."""
    concept_bits = max(1, int(max(head.max(initial=0), tail.max(initial=0))) + 1).bit_length()
    relation_bits = max(1, relations).bit_length()
    if 2 * concept_bits + relation_bits > 63:
        ranked = np.lexsort((order, -weights, rel, tail, head))
        head, tail, rel = head[ranked], tail[ranked], rel[ranked]
        first = np.ones(len(ranked), dtype=bool)
        first[1:] = (head[1:] != head[:-1]) | (tail[1:] != tail[:-1]) | (rel[1:] != rel[:-1])
        return ranked, first
    # one int64 key per (head, tail, relation), sorted once; duplicates are rare (a few hundred in 3.6M rows),
    # so only the rows that share a key are sorted again by weight and position
    key = head.astype(np.int64)  # in place from here on: these are arrays of millions
    key <<= concept_bits + relation_bits
    shifted = tail.astype(np.int64)
    shifted <<= relation_bits
    key |= shifted
    key |= rel
    del shifted
    ranked = argsort(key, 2 * concept_bits + relation_bits)
    key = key[ranked]
    same = np.flatnonzero(key[1:] == key[:-1])
    if len(same):
        shared = np.union1d(same, same + 1)  # positions of all rows in groups of equal keys, ascending
        rows = ranked[shared]
        ranked[shared] = rows[np.lexsort((order[rows], -weights[rows], key[shared]))]
    first = np.ones(len(ranked), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    return ranked, first


def write_index(
    folder: Path,
    *,
    concepts: bytes,
    relations: list[str],
    heads: np.ndarray,
    tails: np.ndarray,
    rels: np.ndarray,
    weights: np.ndarray,
    order: np.ndarray,
    surface_start: np.ndarray,
    surfaces: bytes | bytearray | None,
    meta: dict,
    first_seen: np.ndarray | None = None,
    argsort: Callable[[np.ndarray, int], np.ndarray] = _argsort,
) -> tuple[int, int, int, dict[str, int]]:
    """Merge duplicate edges and write the folder.

    Of duplicate edges the heaviest is kept, and of equally heavy ones the first in the dump (``order`` gives
    each edge's position there), so the index does not depend on how the dump was read.

    ``concepts`` are the raw URI names (``b"revolving_door"``, never empty), each id's in turn, joined by
    newlines; they are lowercased and underscores become spaces, so differently spelled duplicates merge too.
    ``surface_start`` gives where each edge's surface text starts in ``surfaces`` (bytes in any order, written
    as given; ``None``: the caller wrote ``surfaces.bin`` in the folder already), with one more entry for the end
    of the last. ``first_seen`` is :func:`first_appearances` of the
    rows when the caller has it already; ``argsort(keys, bits)`` orders the edges' non-negative int64 keys below
    ``2**bits`` (the ingest passes a faster one than numpy's). Returns (edges, concepts, relations, edges per
    relation).
    """
    # the files are written by a second thread while this one computes the next (writing is a copy into the page
    # cache, done by the writer's core; numpy and file writes let go of the GIL)
    with ThreadPoolExecutor(1, thread_name_prefix="conceptnet-write") as writer:
        written = []

        def save(name: str, values: np.ndarray | bytes) -> None:
            if isinstance(values, bytes | bytearray):
                written.append(writer.submit((folder / name).write_bytes, values))
            else:
                written.append(writer.submit(np.save, folder / f"{name}.npy", values, allow_pickle=False))

        if surfaces is not None:
            save("surfaces.bin", surfaces)
        if first_seen is None:
            first_seen = first_appearances(heads, tails, order, concepts.count(b"\n") + 1 if concepts else 0)
        vocabulary, concept_count, concept_map = _vocabulary(concepts, first_seen)
        save("concepts.txt", vocabulary)
        relation_names = sorted(set(relations))
        save("relations.txt", "\n".join(relation_names).encode("utf-8"))
        relation_map = np.array([relation_names.index(name) for name in relations], dtype=np.uint16)

        if concept_map is None:
            head, tail = heads, tails
        else:
            head = concept_map[heads] if len(heads) else np.zeros(0, np.int32)
            tail = concept_map[tails] if len(tails) else np.zeros(0, np.int32)
        rel = relation_map[rels] if len(rels) else np.zeros(0, np.uint16)
        ranked, first = _ranked_edges(head, tail, rel, weights, order, len(relation_names), argsort)
        keep = ranked[first]
        del ranked, first
        head = head[keep]
        head_ptr = np.zeros(concept_count + 1, dtype=np.int64)
        np.cumsum(np.bincount(head, minlength=concept_count), out=head_ptr[1:])
        save("head_ptr", head_ptr)
        save("tail", tail[keep].astype(np.int32, copy=False))
        rel = rel[keep]
        save("rel", rel.astype(np.uint16, copy=False))
        save("weight", weights[keep].astype(np.float64, copy=False))
        # surfaces.bin holds the texts as the caller gave them (the ingest: in dump order, which does not depend on
        # how the dump was read); each edge points at its own
        start = surface_start[keep]
        save("surface_start", start.astype(np.int64, copy=False))
        save("surface_len", (surface_start[keep + 1] - start).astype(np.int32))
        for done in written:
            done.result()  # a write that failed (a full disk) fails the ingest here
    per_relation = np.bincount(rel, minlength=len(relation_names))
    relation_counts = {name: int(n) for name, n in zip(relation_names, per_relation)}
    meta = {
        **meta,
        "kind": KIND,
        "build_id": uuid.uuid4().hex,
        "edges": len(keep),
        "concepts": concept_count,
        "relations": relation_counts,
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return len(keep), concept_count, len(relation_names), relation_counts


class ConceptNetIndex:
    """Read access to an index folder written by :func:`retrieval.conceptnet.ingest_conceptnet`.

    Args:
        folder: the index folder.
    """

    def __init__(self, folder: str | Path) -> None:
        self.meta = read_meta(folder)
        self.name = str(folder)  # as the user gave it, for messages
        folder = Path(folder)
        self.folder = folder
        self.concepts = self._names("concepts.txt")
        self.ids = {name: i for i, name in enumerate(self.concepts)}
        self.relations = self._names("relations.txt")
        arrays = {name: self._array(name, kinds) for name, kinds in ARRAYS.items()}
        self.head_ptr = np.asarray(arrays["head_ptr"])
        self.tail = np.asarray(arrays["tail"])
        self.rel = np.asarray(arrays["rel"])
        self.weight = np.asarray(arrays["weight"])
        self.surface_start = arrays["surface_start"]
        self.surface_len = arrays["surface_len"]
        self._check_sizes()
        try:
            with open(folder / "surfaces.bin", "rb") as handle:
                size = handle.seek(0, 2)
                self._surfaces = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        except OSError as error:
            raise CorruptIndex(self.name, f"surfaces.bin cannot be read: {error.strerror or error}") from None

    def _names(self, file: str) -> list[str]:
        """The lines of a name file (concepts or relations)."""
        try:
            text = (self.folder / file).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise CorruptIndex(self.name, f"{file} is not UTF-8 text") from None
        except OSError as error:
            raise CorruptIndex(self.name, f"{file} cannot be read: {error.strerror or error}") from None
        return text.split("\n") if text else []

    def _array(self, name: str, kinds: str) -> np.ndarray:
        """One array, memory-mapped (never unpickled), checked to be one-dimensional numbers of one of ``kinds``."""
        try:
            array = np.load(self.folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
        except (ValueError, EOFError, OSError) as error:
            raise CorruptIndex(self.name, f"{name}.npy is not a readable array: {first_line(error)}") from None
        if array.ndim != 1 or array.dtype.kind not in kinds:
            raise CorruptIndex(self.name, f"{name}.npy holds {array.dtype} of shape {array.shape}")
        return array

    def _check_sizes(self) -> None:
        """Lengths that must agree (cheap: no edge is read), so that a truncated file is found at once."""
        edges = len(self.tail)
        if len(self.head_ptr) != len(self.concepts) + 1:
            raise CorruptIndex(
                self.name, f"concepts.txt has {len(self.concepts)} names for {len(self.head_ptr) - 1} concepts"
            )
        for name in ("rel", "weight", "surface_start", "surface_len"):
            if len(getattr(self, name)) != edges:
                raise CorruptIndex(self.name, f"{name}.npy has {len(getattr(self, name))} values for {edges} edges")
        if int(self.head_ptr[0]) != 0 or int(self.head_ptr[-1]) != edges:
            raise CorruptIndex(self.name, f"head_ptr.npy does not span the {edges} edges")
        for key, found in (("edges", edges), ("concepts", len(self.concepts))):
            expected = self.meta.get(key)
            if isinstance(expected, int) and expected != found:
                raise CorruptIndex(self.name, f"meta.json counts {expected} {key}, the files hold {found}")
        relations = self.meta.get("relations")
        if isinstance(relations, dict) and len(relations) != len(self.relations):
            raise CorruptIndex(
                self.name, f"relations.txt has {len(self.relations)} names, meta.json counts {len(relations)}"
            )

    @property
    def fingerprint(self) -> str:
        """Identity of this build, for caches."""
        return str(self.meta["build_id"])

    def __len__(self) -> int:
        return len(self.tail)

    def concept_id(self, name: str) -> int | None:
        """Id of a concept given as lowercase text with spaces, or ``None``."""
        return self.ids.get(name)

    def out_range(self, concept: int) -> tuple[int, int]:
        """``(start, end)`` positions of a concept's outgoing edges."""
        return int(self.head_ptr[concept]), int(self.head_ptr[concept + 1])

    def edges_between(self, head: int, tail: int) -> range:
        """Positions of the edges ``head -> tail`` (any relation)."""
        start, end = self.out_range(head)
        tails = self.tail[start:end]
        return range(
            start + int(np.searchsorted(tails, tail, "left")),
            start + int(np.searchsorted(tails, tail, "right")),
        )

    def surface(self, position: int) -> str | None:
        """The surface text of the edge at ``position``, or ``None`` when it has none."""
        length = int(self.surface_len[position])
        if not length:
            return None
        start = int(self.surface_start[position])
        if start < 0 or length < 0 or start + length > len(self._surfaces):
            raise CorruptIndex(self.name, "surfaces.bin is shorter than its offsets say")
        return self._surfaces[start : start + length].decode("utf-8", "replace")

    def edge(self, position: int, head: int) -> Edge:
        """The edge at ``position``, whose head is ``head``."""
        return Edge(
            head=self.concepts[head],
            relation=self.relations[int(self.rel[position])],
            tail=self.concepts[int(self.tail[position])],
            weight=float(self.weight[position]),
            surface=self.surface(position),
        )
