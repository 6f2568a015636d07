from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from retrieval.io import atomic_path, atomic_writer, file_digest, open_binary


def test_atomic_writer_leaves_nothing_when_interrupted(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt), atomic_writer(out) as handle:
        handle.write(b"half a line")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_atomic_writer_keeps_the_old_file_until_the_new_one_is_complete(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_writer(out) as handle:
        handle.write(b"new\n")
        raise RuntimeError("disk on fire")
    assert out.read_text() == "old\n"
    with atomic_writer(out) as handle:
        handle.write(b"new\n")
    assert out.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_atomic_folder_replaces_an_existing_folder(tmp_path: Path) -> None:
    target = tmp_path / "index"
    for content in ("one", "two"):
        with atomic_path(target) as folder:
            folder.mkdir()
            (folder / "data").write_text(content)
    assert (target / "data").read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["index"]


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
