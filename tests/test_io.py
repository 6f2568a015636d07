from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from retrieval import DataError, KearError
from retrieval.io import (
    MAX_LINE_BYTES,
    atomic_path,
    atomic_writer,
    file_digest,
    iter_json_lines,
    open_binary,
    output_lock,
    write_json_lines,
)


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


def test_atomic_folder_replaces_an_existing_folder_of_its_kind_only(tmp_path: Path) -> None:
    target = tmp_path / "index"
    for content in ("one", "two"):
        with atomic_path(target, folder=True) as folder:
            folder.mkdir()
            (folder / "meta.json").write_text('{"format": 1}')
            (folder / "data").write_text(content)
    assert (target / "data").read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["index"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    with pytest.raises(KearError, match=r"mine: holds files kear did not write"), atomic_path(mine, folder=True):
        raise AssertionError("never reached")
    assert (mine / "thesis.tex").read_text() == "years of work"


def test_outputs_go_only_to_regular_files_or_new_paths(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "real.jsonl").write_text("kept\n")
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "real.jsonl")
    os.mkfifo(tmp_path / "pipe")
    cases = {
        "folder": "is a folder; the output is a file",
        "link.jsonl": "is a symbolic link",
        "pipe": "is not a regular file",
    }
    for name, message in cases.items():
        with pytest.raises(KearError, match=message):
            write_json_lines(tmp_path / name, [{"a": 1}])
    with pytest.raises(KearError, match="is not a regular file"):
        write_json_lines("/dev/null", [{"a": 1}])
    with pytest.raises(KearError, match=r"real.jsonl: is also an input \("):
        write_json_lines(tmp_path / "real.jsonl", [{"a": 1}], inputs=[tmp_path / "link.jsonl"])
    assert (tmp_path / "real.jsonl").read_text() == "kept\n"
    with pytest.raises(KearError, match="is not a folder"), atomic_path(tmp_path / "real.jsonl", folder=True):
        pass
    # a folder output may not hold an input: replacing the folder would delete it
    index = tmp_path / "index"
    index.mkdir()
    (index / "meta.json").write_text('{"format": 1}')
    (index / "dump.csv").write_text("rows")
    with (
        pytest.raises(KearError, match="holds an input"),
        atomic_path(index, folder=True, inputs=[index / "dump.csv"]),
    ):
        pass
    assert (index / "dump.csv").read_text() == "rows"
    # nor may a file output lie inside an input folder (an index, a model, a dataset): it would replace part of it
    with pytest.raises(KearError, match=r"meta.json: is inside an input folder"):
        write_json_lines(index / "meta.json", [{"a": 1}], inputs=[index])
    assert (index / "meta.json").read_text() == '{"format": 1}'
    # a file output named as a folder, and a folder made for a failed output, is not left behind
    with pytest.raises(KearError, match="names a folder"):
        write_json_lines(f"{tmp_path}/newdir/", [{"a": 1}])
    with pytest.raises(RuntimeError), atomic_writer(tmp_path / "new" / "deep" / "out.jsonl"):
        raise RuntimeError("the input was bad")
    assert not (tmp_path / "new").exists()


def test_a_second_writer_fails_at_once_and_stale_temporaries_go(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    stale = tmp_path / ".out.jsonl.abc123.tmp"  # what a killed run left
    stale.mkdir()
    (stale / "out.jsonl").write_text("half")
    with output_lock(out):
        assert not stale.exists()
        with pytest.raises(KearError, match="another kear run is writing it"):
            write_json_lines(out, [{"a": 1}])
    assert not out.exists()
    write_json_lines(out, [{"a": 1}])
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


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
