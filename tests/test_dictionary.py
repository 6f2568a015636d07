from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from retrieval import DataError, DictionaryIndex, ErrorPolicy, KearError, ingest_wiktionary, ingest_wordnet
from retrieval.data import sample_file
from retrieval.dictionary import MeaningResolver, wiktionary_entry

from .conftest import write_lines


@pytest.fixture(scope="module")
def resolver(tmp_path_factory) -> MeaningResolver:
    folder = tmp_path_factory.mktemp("dictionary") / "wiktionary"
    meta = ingest_wiktionary(sample_file("kaikki-english.jsonl"), folder, progress=False)
    assert meta["other_languages"] == 1  # the French entry
    return MeaningResolver(DictionaryIndex(folder))


def test_first_gloss_of_the_lowercase_entry(resolver: MeaningResolver) -> None:
    # "Milk" (a surname) comes first in the file; the lowercase entry wins, as in KEAR's dictionary.
    assert resolver.meaning("Milk").startswith("milk: A white liquid")
    assert resolver.meaning("fly") == "fly: To move through the air using wings."


def test_links_in_both_layouts(resolver: MeaningResolver) -> None:
    assert resolver.meaning("birds").startswith("bird: An animal with feathers")  # current form_of
    assert resolver.meaning("vegetables").startswith("vegetable: A plant")  # old form_of: ["..."]
    assert resolver.meaning("grey") == "gray: Having the colour between black and white."  # alt_of
    assert resolver.meaning("ate").startswith("eat: To put food")  # old heads: "verb form"
    assert resolver.meaning("fridge").startswith("refrigerator: A cabinet")


def test_back_offs(resolver: MeaningResolver) -> None:
    assert resolver.meaning("new york") == "york: A city in the north of England."  # drop the first word
    assert resolver.meaning("photo copy").startswith("photocopy: A paper copy")  # words joined
    assert resolver.meaning("exchange rings").startswith("ring: A small circle")  # drop, then link
    assert resolver.meaning("milk!").startswith("milk:")  # punctuation trimmed
    assert resolver.meaning("libraries").startswith("library: A place")  # lemma
    assert resolver.meaning("zzzz qqqq") is None
    assert resolver.meaning(None) is None


def test_link_cycles_end(tmp_path: Path) -> None:
    lines = [
        json.dumps({"word": "aa", "lang": "English", "senses": [{"form_of": [{"word": "bb"}]}]}),
        json.dumps({"word": "bb", "lang": "English", "senses": [{"alt_of": [{"word": "aa"}]}]}),
    ]
    ingest_wiktionary(write_lines(tmp_path / "k.jsonl", lines), tmp_path / "index", progress=False)
    assert MeaningResolver(DictionaryIndex(tmp_path / "index")).meaning("aa") is None


def test_malformed_lines_name_file_and_line(tmp_path: Path) -> None:
    good = json.dumps({"word": "cat", "lang": "English", "senses": [{"glosses": ["A small furry animal."]}]})
    dump = write_lines(tmp_path / "k.jsonl", [good, "{broken", json.dumps({"senses": []}), good])
    with pytest.raises(DataError, match=r"k\.jsonl:2: invalid JSON"):
        ingest_wiktionary(dump, tmp_path / "index", progress=False)
    assert not (tmp_path / "index").exists()
    policy = ErrorPolicy(skip_invalid=True)
    meta = ingest_wiktionary(dump, tmp_path / "index", policy=policy, progress=False)
    assert meta["entries"] == 2 and meta["skipped_lines"] == 2
    assert "k.jsonl:3: missing field 'word'" in policy.examples[1]


def test_entry_shape() -> None:
    word, entry = wiktionary_entry(
        {
            "word": "ran",
            "lang_code": "en",
            "pos": "verb",
            "head_templates": [{"args": {"2": "verb form"}}],
            "senses": [{"glosses": ["simple past of run"], "form_of": [{"word": "run"}]}],
        }
    )
    assert word == "ran"
    assert entry == {
        "word": "ran",
        "pos": "verb",
        "senses": [{"gloss": "simple past of run", "form_of": "run"}],
        "verb_form": True,
    }
    assert wiktionary_entry({"word": "Hund", "lang": "German", "lang_code": "de"}) is None


def _wordnet(folder: Path) -> Path:
    """A tiny WordNet in the real database layout (data lines start with their own byte offset)."""
    folder.mkdir()
    header = "  1 This is a tiny WordNet written for tests.  \n"
    glosses = {
        "bank": ['sloping land beside a body of water; "they sat on the bank"', "a financial institution"],
        "dog": ["a domesticated animal that barks"],
    }
    data, index, offset = [header], [header], len(header.encode())
    for lemma, senses in glosses.items():
        offsets = []
        for gloss in senses:
            line = f"{offset:08d} 05 n 01 {lemma} 0 000 | {gloss}  \n"
            data.append(line)
            offsets.append(f"{offset:08d}")
            offset += len(line.encode())
        index.append(f"{lemma} n {len(senses)} 0 {len(senses)} 0 {' '.join(offsets)}  \n")
    (folder / "data.noun").write_text("".join(data))
    (folder / "index.noun").write_text("".join(index))
    (folder / "noun.exc").write_text("dogs dog\n")
    return folder


def test_wordnet_files_into_the_same_resolver(tmp_path: Path) -> None:
    source = _wordnet(tmp_path / "wn")
    meta = ingest_wordnet(source, tmp_path / "index", progress=False)
    assert meta["kind"] == "wordnet" and meta["headwords"] == 3
    resolver = MeaningResolver(DictionaryIndex(tmp_path / "index"))
    assert resolver.meaning("bank") == "bank: sloping land beside a body of water"
    assert resolver.meaning("dogs") == "dog: a domesticated animal that barks"
    with pytest.raises(KearError, match="no WordNet database files"):
        ingest_wordnet(tmp_path, tmp_path / "other", progress=False)


@pytest.mark.skipif(not Path("/usr/share/wordnet/index.noun").is_file(), reason="Debian wordnet-base not installed")
def test_real_wordnet(tmp_path: Path) -> None:
    meta = ingest_wordnet("/usr/share/wordnet", tmp_path / "index", progress=False)
    assert meta["headwords"] > 140_000
    resolver = MeaningResolver(DictionaryIndex(tmp_path / "index"))
    assert resolver.meaning("revolving door").startswith("revolving door: ")
    assert resolver.meaning("bank").startswith("bank: sloping land")
    assert resolver.meaning("geese").startswith("goose: ")
    assert resolver.meaning("ran").startswith("run: ")


# --------------------------------------------------------------------------------------- long input, no recursion


def test_a_long_phrase_backs_off_word_by_word_without_recursion(resolver: MeaningResolver) -> None:
    """Each back-off drops a word; 2,000 words once exhausted Python's stack (a RecursionError)."""
    assert resolver.meaning(" ".join(["zzzz"] * 1_999 + ["bird"])).startswith("bird: An animal with feathers")
    assert resolver.meaning(" ".join(["qqqq"] * 2_000)) is None


def test_a_long_chain_of_links_is_followed_without_recursion(tmp_path: Path) -> None:
    chain = [
        json.dumps({"word": f"w{i}", "lang": "English", "senses": [{"form_of": [{"word": f"w{i + 1}"}]}]})
        for i in range(3_000)
    ]
    chain.append(json.dumps({"word": "w3000", "lang": "English", "senses": [{"glosses": ["The end."]}]}))
    ingest_wiktionary(write_lines(tmp_path / "k.jsonl", chain), tmp_path / "index", progress=False)
    assert MeaningResolver(DictionaryIndex(tmp_path / "index")).meaning("w0") == "w3000: The end."


# ------------------------------------------------------------------------------------ corrupt or foreign indexes


def _one_line_naming(error: pytest.ExceptionInfo, name: str, *words: str) -> None:
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{name}: "), message
    for word in words:
        assert word in message, message


@pytest.fixture
def copied(sample_indexes: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the sample dictionary index as ``dict`` in the working folder (named as the user would)."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(sample_indexes["dictionary"], tmp_path / "dictionary")
    return Path("dictionary")


def test_a_folder_that_is_no_dictionary_index(copied: Path, sample_indexes: dict[str, Path]) -> None:
    Path("stuff").mkdir()
    (Path("stuff") / "a.txt").write_text("x")
    with pytest.raises(KearError) as caught:
        DictionaryIndex("stuff")
    _one_line_naming(caught, "stuff", "not a dictionary index (missing meta.json)")
    with pytest.raises(KearError) as caught:
        DictionaryIndex(sample_indexes["conceptnet"])
    _one_line_naming(caught, str(sample_indexes["conceptnet"]), "not a dictionary index (a ConceptNet index)")
    with pytest.raises(KearError) as caught:
        DictionaryIndex("stuff/a.txt")
    _one_line_naming(caught, "stuff/a.txt", "a file, not a folder")
    with pytest.raises(KearError) as caught:
        DictionaryIndex("nowhere")
    _one_line_naming(caught, "nowhere", "no such folder")


def test_a_dictionary_index_without_its_database(copied: Path) -> None:
    (copied / "dictionary.sqlite").unlink()
    with pytest.raises(KearError) as caught:
        DictionaryIndex(copied)
    _one_line_naming(caught, "dictionary", "missing dictionary.sqlite")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "meta"])
def test_a_damaged_dictionary_index(copied: Path, damage: str) -> None:
    database = copied / "dictionary.sqlite"
    if damage == "garbage":
        database.write_bytes(b"not a database at all " * 100)
    elif damage == "truncated":
        database.write_bytes(database.read_bytes()[:1000])
    elif damage == "empty":
        database.write_bytes(b"")  # SQLite takes an empty file for an empty database: no table
    else:
        (copied / "meta.json").write_text("{not json")
    with pytest.raises(KearError) as caught:
        MeaningResolver(DictionaryIndex(copied)).meaning("milk")
    _one_line_naming(caught, "dictionary", "corrupt dictionary index", "rebuild it with 'kear index wiktionary'")


def test_a_damaged_entry_is_found_when_it_is_looked_up(copied: Path) -> None:
    db = sqlite3.connect(copied / "dictionary.sqlite")
    db.execute("UPDATE entries SET data = ? WHERE key = 'milk'", (b"{broken",))
    db.execute("UPDATE entries SET data = ? WHERE key = 'bird'", (b'{"senses": "not a list"}',))
    db.commit()
    db.close()
    resolver = MeaningResolver(DictionaryIndex(copied))
    assert resolver.meaning("fly").startswith("fly:")  # the rest of the index still serves
    for concept, problem in (("milk", "is not JSON"), ("bird", "has the wrong shape")):
        with pytest.raises(KearError) as caught:
            resolver.meaning(concept)
        _one_line_naming(caught, "dictionary", "corrupt dictionary index", problem)


def test_an_index_is_rebuilt_in_place_but_never_over_another_kind(copied: Path, sample_indexes: dict) -> None:
    before = DictionaryIndex(copied).fingerprint
    ingest_wiktionary(sample_file("kaikki-english.jsonl"), copied, progress=False)
    assert DictionaryIndex(copied).fingerprint != before
    shutil.copytree(sample_indexes["conceptnet"], "conceptnet")
    with pytest.raises(KearError, match=r"^conceptnet: "):
        ingest_wiktionary(sample_file("kaikki-english.jsonl"), "conceptnet", progress=False)
    assert (Path("conceptnet") / "tail.npy").is_file()
