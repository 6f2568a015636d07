"""The compiled loops of the ConceptNet ingest against plain Python doing the same on the same bytes."""

from __future__ import annotations

import random

import numpy as np
import orjson
import pytest

from retrieval.conceptnet import scan

ENGLISH = "/a/[/r/IsA/,/c/en/x/,/c/en/y/]\t/r/IsA\t/c/en/x\t/c/en/y\t"


def block(lines: list[bytes]) -> tuple[np.ndarray, int]:
    data = b"".join(line + b"\n" for line in lines)
    return np.frombuffer(data + bytes(64), np.uint8), len(data)


def scanned(lines: list[bytes]) -> tuple[np.ndarray, tuple[int, int, int], np.ndarray, np.ndarray]:
    buf, size = block(lines)
    rows, bad = np.empty((len(lines) + 16, scan.ROW_FIELDS), np.int64), np.empty((len(lines) + 16, 3), np.int64)
    counts = scan.scan_block(buf, size, rows, bad)
    return buf, counts, rows[: counts[1]], bad[: counts[2]]


def test_scan_block_keeps_the_rows_a_split_keeps() -> None:
    rng = random.Random(0)
    parts = ["/c/en/cat", "/c/en/", "/c/fr/chat", "/c/en//n", "/c/en/big_dog/n", "", "x"]
    relations = ["/r/IsA", "/r/", "/x/IsA", "/r/dbpedia/genre"]
    lines = []
    for _ in range(3000):
        columns = ["/a/[edge]", rng.choice(relations), rng.choice(parts), rng.choice(parts), '{"weight": 1.0}']
        if rng.random() < 0.05:
            columns.insert(rng.randrange(5), "extra")
        if rng.random() < 0.03:
            columns = columns[:3]
        line = "\t".join(columns)
        if rng.random() < 0.02:
            line = line.replace("cat", "c\x01t")  # another control byte is data
        lines.append(line.encode())
    lines += [b"", b"   "]
    buf, (count, kept, wrong), rows, bad = scanned(lines)
    expected_kept, expected_bad = [], []
    for number, line in enumerate(lines):
        columns = line.split(b"\t")
        if len(columns) != 5:
            expected_bad.append((number, len(columns) - 1))
            continue
        _, relation, start, end, _ = columns
        if (
            relation.startswith(b"/r/")
            and len(relation) > 3
            and all(c.startswith(b"/c/en/") and len(c) > 6 and c[6:7] != b"/" for c in (start, end))
        ):
            expected_kept.append(number)
    assert count == len(lines) and kept == len(expected_kept) and wrong == len(expected_bad)
    assert rows[:, 5].tolist() == expected_kept
    assert [(line, tabs) for line, _, tabs in bad.tolist()] == expected_bad
    data = buf.tobytes()
    for t0, t1, t2, t3, newline, number in rows.tolist():
        assert data[t0] == data[t1] == data[t2] == data[t3] == 9 and data[newline] == 10
        assert data[t3 + 1 : newline] == lines[number].split(b"\t")[4]


def _infos() -> list[bytes]:
    base = {"dataset": "/d/x", "sources": [{"a": 1, "b": [True, None, -2.5e3]}], "surfaceText": "[[a]] is [[b]]"}
    cases = [orjson.dumps({**base, "weight": w}) for w in (1, 1.0, -0.5, 2.828, 1e-3, 0.1, 12345678901234567, 1e300)]
    cases += [
        b'{"weight": 1.0}',
        b'{"surfaceText": null, "weight": 2}',
        b'{ "weight" : 3.5 , "surfaceText" : "a \\"quoted\\" text" }',
        b'{"weight": 1.0, "surfaceText": "caf\xc3\xa9"}',
        b'{"weight": 1.0, "weight": 2.0}',
        b'{"weight": "heavy"}',
        b'{"weight": oops}',
        b'{"weight": 1.0,}',
        b'{"weight": 01}',
        b'{"weight": 1.}',
        b'{"weight": -}',
        b'{"weight": 1.0} x',
        b'{"weight": 1.0, "sources": [1, 2,]}',
        b'{"weight": 1.0, "sources": {"a" 1}}',
        b'{"weight": 1.0, "x": "\\q"}',
        b'{"weight": 1.0, "x": "\\u12G4"}',
        b'{"weight": 1.0, "x": tru}',
        b'{"surfaceText": 5, "weight": 1.0}',
        b'{"\\u0077eight": 1.0}',
        b"[1.0]",
        b'{"weight": 1.0, "x": ' + b"[" * 40 + b"]" * 40 + b"}",
        b'{"weight": 1.0, "x": ' + b"[" * 10 + b"]" * 9 + b"}",
        b'{"weight": 1.0, "x": "a\x01b"}',
        b"{}",
    ]
    rng = random.Random(1)
    good = orjson.dumps({**base, "weight": 1.5})
    for _ in range(3000):  # random damage to a good line: every change must be caught or be valid JSON
        line = bytearray(good)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(line))
            if rng.random() < 0.5:
                del line[at]
            else:
                line.insert(at, rng.choice(b'{}[]",:.-+eE0123456789 \\ntrufalse'))
        cases.append(bytes(line).replace(b"\t", b"").replace(b"\n", b""))
    return cases


def test_read_infos_takes_only_what_a_json_library_reads_alike() -> None:
    infos = _infos()
    buf, (_, kept, _), rows, _ = scanned([ENGLISH.encode() + info for info in infos])
    assert kept == len(infos)
    weights, lengths, texts, slow = scan.read_infos(buf, rows)
    fast = sorted(set(range(kept)) - set(slow.tolist()))
    assert len(fast) > 100 and len(slow) > 100  # both ways were taken
    ends = np.cumsum(lengths)
    for row in fast:
        decoded = orjson.loads(infos[row])  # the fast path never takes what is not JSON
        assert weights[row] == float(decoded["weight"]) and not isinstance(decoded["weight"], bool)
        text = (decoded.get("surfaceText") or "").encode()
        assert texts[ends[row] - lengths[row] : ends[row]] == text
    assert lengths[slow].sum() == 0


def test_name_table_numbers_names_by_first_lookup_as_a_dict_does(monkeypatch) -> None:
    rng = random.Random(2)
    words = [
        bytes(rng.choice(b"ab_\x00") for _ in range(rng.choice([1, 7, 8, 9, 16, 24, 25, 40]))) for _ in range(3000)
    ]
    names = [rng.choice(words) for _ in range(20_000)]
    for mask in (scan.HASH_MASK, 0):  # 0: every name hashes alike, only the bytes tell them apart
        monkeypatch.setattr(scan, "HASH_MASK", mask)
        lines = [b"/a/[e]\t/r/IsA\t/c/en/" + a + b"\t/c/en/" + b + b"\t{}" for a, b in zip(names[::2], names[1::2])]
        buf, (_, kept, _), rows, _ = scanned(lines)
        concepts, relations = scan.NameTable(16), scan.NameTable(4)  # small: the table grows many times
        heads, tails, _ = scan.intern_rows(buf, rows, np.arange(kept), concepts, relations, len(buf))
        ids: dict[bytes, int] = {}
        for name in names:
            ids.setdefault(name, len(ids))
        assert heads.tolist() == [ids[n] for n in names[::2]]
        assert tails.tolist() == [ids[n] for n in names[1::2]]
        assert concepts.spelled() == list(ids)


@pytest.mark.parametrize("bits", [1, 16, 17, 47])
def test_argsort_keys_is_a_stable_sort(bits: int) -> None:
    keys = np.random.default_rng(bits).integers(0, 1 << bits, 50_000)
    assert (scan.argsort_keys(keys, bits) == np.argsort(keys, kind="stable")).all()
