from __future__ import annotations

import os
from pathlib import Path

import pytest

from retrieval import KearError
from retrieval.io import write_json_lines
from retrieval.outputs import (
    TEMPORARY_MARK,
    atomic_path,
    atomic_writer,
    output_lock,
    own_record_path,
    temporary_folder,
    written_by,
)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_atomic_writer_leaves_nothing_when_interrupted(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt), atomic_writer(out, kind="records") as handle:
        handle.write(b"half a line")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_atomic_writer_keeps_the_old_file_until_the_new_one_is_complete(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    write_json_lines(out, [{"old": 1}], kind="records")
    with pytest.raises(RuntimeError), atomic_writer(out, kind="records") as handle:
        handle.write(b"new\n")
        raise RuntimeError("disk on fire")
    assert out.read_text() == '{"old":1}\n'
    with atomic_writer(out, kind="records") as handle:
        handle.write(b"new\n")
    assert out.read_text() == "new\n"
    assert names(tmp_path) == [".out.jsonl.kear.json", "out.jsonl"]


def test_an_existing_file_is_replaced_only_when_kear_wrote_it_as_this_kind(tmp_path: Path) -> None:
    notes = tmp_path / "notes.jsonl"
    notes.write_text("my notes\n")
    with pytest.raises(KearError, match=r"notes.jsonl: exists and kear did not write it; give --overwrite"):
        write_json_lines(notes, [{"a": 1}], kind="ensemble")
    assert notes.read_text() == "my notes\n"
    write_json_lines(notes, [{"a": 1}], kind="ensemble", overwrite=True)
    assert written_by(notes) == "ensemble"
    write_json_lines(notes, [{"a": 2}], kind="ensemble")  # kear's own, of the same kind: replaced
    assert notes.read_text() == '{"a":2}\n'
    with pytest.raises(KearError, match=r"it is kear's ensemble, not records"):
        write_json_lines(notes, [{"a": 3}], kind="records")
    # changed since kear wrote it: the user's now
    notes.write_text('{"a": 2, "checked": true}\n')
    assert written_by(notes) is None
    with pytest.raises(KearError, match=r"kear did not write it"):
        write_json_lines(notes, [{"a": 4}], kind="ensemble")
    assert notes.read_text() == '{"a": 2, "checked": true}\n'


def test_atomic_folder_replaces_an_existing_folder_of_its_kind_only(tmp_path: Path) -> None:
    target = tmp_path / "index"
    for content in ("one", "two"):
        with atomic_path(target, folder=True) as folder:
            folder.mkdir()
            (folder / "meta.json").write_text('{"format": 1}')
            (folder / "data").write_text(content)
    assert (target / "data").read_text() == "two"
    assert names(tmp_path) == ["index"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    with pytest.raises(KearError, match=r"mine: holds files kear did not write"), atomic_path(mine, folder=True):
        raise AssertionError("never reached")
    assert (mine / "thesis.tex").read_text() == "years of work"
    with atomic_path(mine, folder=True, overwrite=True) as folder:  # what --overwrite asks for
        folder.mkdir()
        (folder / "meta.json").write_text('{"format": 1}')
    assert names(mine) == ["meta.json"]


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
            write_json_lines(tmp_path / name, [{"a": 1}], kind="records", overwrite=True)
    with pytest.raises(KearError, match="is not a regular file"):
        write_json_lines("/dev/null", [{"a": 1}], kind="records", overwrite=True)
    with pytest.raises(KearError, match=r"real.jsonl: is also an input \("):  # --overwrite or not
        write_json_lines(
            tmp_path / "real.jsonl", [{"a": 1}], kind="records", overwrite=True, inputs=[tmp_path / "link.jsonl"]
        )
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
        atomic_path(index, folder=True, overwrite=True, inputs=[index / "dump.csv"]),
    ):
        pass
    assert (index / "dump.csv").read_text() == "rows"
    # nor may a file output lie inside an input folder (an index, a model, a dataset): it would replace part of it
    with pytest.raises(KearError, match=r"meta.json: is inside an input folder"):
        write_json_lines(index / "meta.json", [{"a": 1}], kind="records", overwrite=True, inputs=[index])
    assert (index / "meta.json").read_text() == '{"format": 1}'
    # a file output named as a folder, and a folder made for a failed output, is not left behind
    with pytest.raises(KearError, match="names a folder"):
        write_json_lines(f"{tmp_path}/newdir/", [{"a": 1}], kind="records")
    with pytest.raises(RuntimeError), atomic_writer(tmp_path / "new" / "deep" / "out.jsonl", kind="records"):
        raise RuntimeError("the input was bad")
    assert not (tmp_path / "new").exists()


def test_a_second_writer_fails_at_once_and_only_kears_temporaries_go(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    stale = temporary_folder(out)  # what a killed run left
    (stale / "out.jsonl").write_text("half")
    mine = tmp_path / ".out.jsonl.mine.tmp"  # a user's files, whatever their names
    mine.write_text("keep me")
    lookalike = tmp_path / ".out.jsonl.kear-notes.tmp"
    lookalike.mkdir()
    (lookalike / "notes").write_text("keep me too")
    with output_lock(out):
        assert not stale.exists() and mine.read_text() == "keep me" and (lookalike / "notes").is_file()
        with pytest.raises(KearError, match="another kear run is writing it"):
            write_json_lines(out, [{"a": 1}], kind="records")
    assert not out.exists()
    write_json_lines(out, [{"a": 1}], kind="records")
    assert names(tmp_path) == [".out.jsonl.kear-notes.tmp", ".out.jsonl.kear.json", ".out.jsonl.mine.tmp", "out.jsonl"]
    assert stale.name.startswith(".out.jsonl.kear-") and TEMPORARY_MARK not in names(lookalike)


def test_an_unwritable_folder_is_named_by_the_output(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with (
        pytest.raises(KearError, match=r"^\S*file/out.jsonl: cannot write here") as caught,
        output_lock(blocker / "out.jsonl"),
    ):
        pass
    assert "kear-lock" not in str(caught.value)


def test_the_record_beside_a_file_names_it(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    write_json_lines(out, [{"a": 1}], kind="records")
    assert own_record_path(out).name == ".out.jsonl.kear.json" and written_by(out) == "records"
    write_json_lines("-", [{"a": 1}], kind="records")  # stdout: nothing recorded anywhere
    assert names(tmp_path) == [".out.jsonl.kear.json", "out.jsonl"]
