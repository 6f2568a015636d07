from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval import DataError, DictionaryIndex, ErrorPolicy, KearError, ingest_wiktionary, ingest_wordnet
from retrieval.data import sample_file
from retrieval.dictionary import MeaningResolver, wiktionary_entry

from .conftest import write_lines


@pytest.fixture(scope="module")
def resolver(tmp_path_factory) -> MeaningResolver:
    folder = tmp_path_factory.mktemp("dict") / "wiktionary"
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
