"""The on-disk ConceptNet index: English edges as compressed-sparse-row arrays, opened in a fraction of a second.

Folder layout (all plain files; numpy arrays are read without pickle):

* ``concepts.txt``: one concept per line, in order of first appearance in the dump; its line number is its id;
* ``relations.txt``: relation names, sorted; line number is the id;
* ``head_ptr.npy``: int64 ``[concepts + 1]``; the outgoing edges of concept ``c`` are ``head_ptr[c]:head_ptr[c+1]``;
* ``tail.npy`` (int32), ``rel.npy`` (uint16), ``weight.npy`` (float64): per edge, sorted by (head, tail, rel);
* ``surface_start.npy`` (int64), ``surface_len.npy`` (int32) and ``surfaces.bin``: each edge's surface text;
* ``meta.json``: format version, build id, source and counts.
"""

from __future__ import annotations

import json
import mmap
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import KearError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Edge:
    """One ConceptNet edge: ``head --relation--> tail``."""

    head: str
    relation: str
    tail: str
    weight: float
    surface: str | None


def _vocabulary(raw_names: list[bytes], first_seen: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Normalise raw URI names (lowercase, underscores to spaces) and order them by first appearance.

    ``first_seen[i]`` is where raw name ``i`` first appears in the dump, so the vocabulary does not depend on
    how the dump was read. Names that normalise alike (``Bank`` and ``bank``) become one concept. Returns the
    vocabulary and, for each raw name, its id in it.
    """
    names = [raw.decode("utf-8", "replace").lower().replace("_", " ") for raw in raw_names]
    raw_names.clear()  # the caller's list: its bytes are no longer needed
    ranked = np.argsort(first_seen, kind="stable")
    ids: dict[str, int] = {}
    local_to_global = np.empty(len(names), dtype=np.int32)
    for local in ranked.tolist():
        local_to_global[local] = ids.setdefault(names[local], len(ids))
    return list(ids), local_to_global


def write_index(
    folder: Path,
    *,
    concepts: list[bytes],
    relations: list[str],
    heads: np.ndarray,
    tails: np.ndarray,
    rels: np.ndarray,
    weights: np.ndarray,
    order: np.ndarray,
    surface_start: np.ndarray,
    surfaces: bytes | bytearray,
    meta: dict,
) -> tuple[int, int, int, dict[str, int]]:
    """Merge duplicate edges and write the folder.

    Of duplicate edges the heaviest is kept, and of equally heavy ones the first in the dump (``order`` gives
    each edge's position there), so the index does not depend on how the dump was read.

    ``concepts`` are raw URI names (``b"revolving_door"``; the list is emptied on the way, to save memory);
    they are lowercased and underscores become spaces, so differently spelled duplicates merge too.
    Returns (edges, concepts, relations, edges per relation).
    """
    first_seen = np.full(len(concepts), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_seen, heads, order * 2)
    np.minimum.at(first_seen, tails, order * 2 + 1)
    vocabulary, concept_map = _vocabulary(concepts, first_seen)
    relation_names = sorted(set(relations))
    relation_map = np.array([relation_names.index(name) for name in relations], dtype=np.uint16)

    head = concept_map[heads] if len(heads) else np.zeros(0, np.int32)
    tail = concept_map[tails] if len(tails) else np.zeros(0, np.int32)
    rel = relation_map[rels] if len(rels) else np.zeros(0, np.uint16)
    # one int64 key per (head, tail, relation) when the ids fit, which sorts faster than three keys
    concept_bits, relation_bits = max(1, len(vocabulary)).bit_length(), max(1, len(relation_names)).bit_length()
    if 2 * concept_bits + relation_bits <= 63:
        packed = (head.astype(np.int64) << (concept_bits + relation_bits)) | (tail.astype(np.int64) << relation_bits)
        ranked = np.lexsort((order, -weights, packed | rel))
        del packed
    else:
        ranked = np.lexsort((order, -weights, rel, tail, head))
    head, tail, rel = head[ranked], tail[ranked], rel[ranked]
    first = np.ones(len(ranked), dtype=bool)
    first[1:] = (head[1:] != head[:-1]) | (tail[1:] != tail[:-1]) | (rel[1:] != rel[:-1])
    keep = ranked[first]
    del ranked
    head, tail, rel = head[first], tail[first], rel[first]
    start = surface_start[keep]
    length = (surface_start[keep + 1] - start).astype(np.int32)

    head_ptr = np.zeros(len(vocabulary) + 1, dtype=np.int64)
    np.cumsum(np.bincount(head, minlength=len(vocabulary)), out=head_ptr[1:])
    (folder / "concepts.txt").write_text("\n".join(vocabulary), encoding="utf-8")
    (folder / "relations.txt").write_text("\n".join(relation_names), encoding="utf-8")
    for name, values in (
        ("head_ptr", head_ptr),
        ("tail", tail.astype(np.int32)),
        ("rel", rel.astype(np.uint16)),
        ("weight", weights[keep].astype(np.float64)),
        ("surface_start", start.astype(np.int64)),
        ("surface_len", length),
    ):
        np.save(folder / f"{name}.npy", values, allow_pickle=False)
    (folder / "surfaces.bin").write_bytes(surfaces)
    per_relation = np.bincount(rel, minlength=len(relation_names))
    relation_counts = {name: int(n) for name, n in zip(relation_names, per_relation)}
    meta = {
        **meta,
        "build_id": uuid.uuid4().hex,
        "edges": len(keep),
        "concepts": len(vocabulary),
        "relations": relation_counts,
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return len(keep), len(vocabulary), len(relation_names), relation_counts


class ConceptNetIndex:
    """Read access to an index folder written by :func:`retrieval.conceptnet.ingest_conceptnet`.

    Args:
        folder: the index folder.
    """

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        meta_path = folder / "meta.json"
        if not meta_path.is_file():
            raise KearError(f"{folder}: not a ConceptNet index (no meta.json); build one with 'kear index conceptnet'")
        self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if self.meta.get("format") != FORMAT_VERSION:
            raise KearError(f"{folder}: index format {self.meta.get('format')} is not {FORMAT_VERSION}; rebuild it")
        self.folder = folder
        text = (folder / "concepts.txt").read_text(encoding="utf-8")
        self.concepts: list[str] = text.split("\n") if text else []
        self.ids = {name: i for i, name in enumerate(self.concepts)}
        text = (folder / "relations.txt").read_text(encoding="utf-8")
        self.relations: list[str] = text.split("\n") if text else []
        load = lambda name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)  # noqa: E731
        self.head_ptr = np.asarray(load("head_ptr"))
        self.tail = np.asarray(load("tail"))
        self.rel = np.asarray(load("rel"))
        self.weight = np.asarray(load("weight"))
        self.surface_start = load("surface_start")
        self.surface_len = load("surface_len")
        with open(folder / "surfaces.bin", "rb") as handle:
            size = handle.seek(0, 2)
            self._surfaces = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""

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
        length = int(self.surface_len[position])
        if not length:
            return None
        start = int(self.surface_start[position])
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
