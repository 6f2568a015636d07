from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from retrieval import DataError
from retrieval.io import MAX_LINE_BYTES, file_digest, iter_json_lines, open_binary


def test_truncated_and_corrupt_gzip_name_their_file(tmp_path: Path) -> None:
    whole = gzip.compress(b'{"a": 1}\n' * 50_000)
    cut, garbage = tmp_path / "cut.jsonl.gz", tmp_path / "garbage.jsonl.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    garbage.write_bytes(b"this is not gzip at all\n" * 10)
    with pytest.raises(DataError, match=r"cut.jsonl.gz: cannot read: the compressed file is cut short"):
        list(iter_json_lines(cut))
    with pytest.raises(DataError, match=r"garbage.jsonl.gz: cannot read: not a readable gzip file"):
        list(iter_json_lines(garbage))
    with pytest.raises(DataError, match=r"nothing.jsonl: no such file"):
        list(iter_json_lines(tmp_path / "nothing.jsonl"))


def test_an_endless_line_is_refused_without_reading_it_whole(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("retrieval.io.MAX_LINE_BYTES", 1000)
    path = tmp_path / "long.jsonl"
    path.write_text('{"a": 1}\n' + '{"b": "' + "x" * 5000 + '"}\n' + '{"c": 3}\n')
    with pytest.raises(DataError, match=r"long.jsonl:2: line longer than"):
        list(iter_json_lines(path))
    from retrieval import ErrorPolicy

    policy = ErrorPolicy(skip_invalid=True)
    assert [n for n, _ in iter_json_lines(path, policy)] == [1, 3] and policy.skipped == 1
    assert MAX_LINE_BYTES >= 64 << 20  # a 50 MB record is read (and its texts cut), not refused


def test_gzip_is_read_transparently(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b"hello\n" * 1000)
    with open_binary(path) as handle:
        assert handle.read() == b"hello\n" * 1000


def test_file_digest(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"same")
    b.write_bytes(b"same")
    assert file_digest(a) == file_digest(b)
    b.write_bytes(b"different")
    assert file_digest(a) != file_digest(b)
