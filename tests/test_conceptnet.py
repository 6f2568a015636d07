from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from retrieval import ConceptNetConfig, ConceptNetIndex, DataError, ErrorPolicy, KearError, ingest_conceptnet
from retrieval.conceptnet import TripleSelector, relation_phrase, verbalize
from retrieval.data import sample_file

from .conftest import write_lines


def row(rel: str, head: str, tail: str, weight: float = 1.0, surface: str | None = None) -> str:
    info = {"dataset": "/d/conceptnet/4/en", "license": "cc:by/4.0", "sources": []}
    if surface:
        info["surfaceText"] = surface
    info["weight"] = weight
    return f"/a/[/r/{rel}/,{head}/,{tail}/]\t/r/{rel}\t{head}\t{tail}\t{json.dumps(info)}"


@pytest.fixture
def tiny_dump(tmp_path: Path) -> Path:
    return write_lines(
        tmp_path / "assertions.csv",
        [
            row("AtLocation", "/c/en/milk", "/c/en/refrigerator", 1.0),
            row(
                "AtLocation",
                "/c/en/milk/n",
                "/c/en/refrigerator/n/wn/artifact",
                3.5,
                "[[milk]] in [[a fridge]]",
            ),
            row("AtLocation", "/c/en/Revolving_Door", "/c/en/bank", 1.0),
            row("Antonym", "/c/en/hot/a", "/c/en/cold", -2.0),
            row("Synonym", "/c/fr/lait", "/c/en/milk", 1.0),
            row("Synonym", "/c/de/hund", "/c/de/köter", 1.0),
            row("ExternalURL", "/c/en/milk", "http://example.org/milk", 1.0).replace("/c/en/milk", "/c/en/milk", 1),
            row("dbpedia/genre", "/c/en/jazz", "/c/en/music", 0.5),
        ],
    )


def test_ingest_keeps_english_edges_merges_duplicates_and_keeps_the_heaviest(tiny_dump: Path, tmp_path: Path) -> None:
    report = ingest_conceptnet(tiny_dump, tmp_path / "index", progress=False)
    assert (report.rows, report.english_rows, report.edges) == (8, 5, 4)
    index = ConceptNetIndex(tmp_path / "index")
    milk, fridge = index.concept_id("milk"), index.concept_id("refrigerator")
    (position,) = index.edges_between(milk, fridge)
    edge = index.edge(position, milk)
    assert (edge.head, edge.relation, edge.tail, edge.weight) == ("milk", "AtLocation", "refrigerator", 3.5)
    assert edge.surface == "[[milk]] in [[a fridge]]"
    assert index.concept_id("revolving door") is not None  # lowercased, underscores to spaces
    assert index.concept_id("lait") is None and index.concept_id("köter") is None
    assert set(index.relations) == {"AtLocation", "Antonym", "dbpedia/genre"}
    hot = index.concept_id("hot")
    assert index.edge(index.out_range(hot)[0], hot).weight == -2.0  # negative weights are data, kept


def _index_arrays(folder: Path) -> tuple:
    index = ConceptNetIndex(folder)
    surfaces = [index.surface(i) for i in range(len(index))]
    return index.concepts, index.relations, index.tail.tolist(), index.weight.tolist(), surfaces


def test_gzip_and_two_workers_give_the_same_index(tiny_dump: Path, tmp_path: Path) -> None:
    lines = tiny_dump.read_text().splitlines()
    lines += [row("PartOf", f"/c/en/part_{i}", "/c/en/whole", 1.0 + i % 3, f"[[part {i}]]") for i in range(40)]
    lines += [row("PartOf", f"/c/en/part_{i}/n", "/c/en/whole/n", 1.0 + i % 3, f"[[the part {i}]]") for i in range(40)]
    dump = write_lines(tmp_path / "assertions.csv", lines)
    packed = tmp_path / "assertions.csv.gz"
    packed.write_bytes(gzip.compress(dump.read_bytes()))
    # blocks of 1 KiB pass from the inflating thread to the scanning one; some rows are longer than a block
    report = ingest_conceptnet(packed, tmp_path / "two", workers=2, block_size=1024, progress=False)
    assert (report.rows, report.edges) == (88, 44)
    assert list(report.phases) == ["reading", "writing"]
    assert sum(report.phases.values()) <= report.seconds
    ingest_conceptnet(dump, tmp_path / "one", workers=1, progress=False)
    assert _index_arrays(tmp_path / "two") == _index_arrays(tmp_path / "one")
    index = ConceptNetIndex(tmp_path / "one")
    part = index.concept_id("part 7")
    edge = index.edge(index.out_range(part)[0], part)
    assert (edge.weight, edge.surface) == (2.0, "[[part 7]]")  # equal weights: the first row in the dump


@pytest.mark.parametrize("workers", [1, 2])
def test_malformed_rows_in_any_worker_are_found(tiny_dump: Path, tmp_path: Path, workers: int) -> None:
    lines = tiny_dump.read_text().splitlines() * 8
    lines.insert(30, row("PartOf", "/c/en/wheel", "/c/en/car").replace('"weight": 1.0', '"weight": "heavy"'))
    lines.insert(50, "only\ttwo columns")
    bad = write_lines(tmp_path / "bad.csv", lines)
    with pytest.raises(DataError, match=r"bad\.csv:(31: info column is not JSON|51: expected 5 tab-separated)"):
        ingest_conceptnet(bad, tmp_path / "index", workers=workers, block_size=512, progress=False)
    policy = ErrorPolicy(skip_invalid=True)
    report = ingest_conceptnet(bad, tmp_path / "index", policy=policy, workers=workers, block_size=512, progress=False)
    assert report.skipped_rows == 2 and policy.skipped == 2
    assert sorted(e.split("bad.csv:")[1][:2] for e in policy.examples) == ["31", "51"]


def test_malformed_rows_stop_with_file_and_line_or_are_counted(tiny_dump: Path, tmp_path: Path) -> None:
    lines = tiny_dump.read_text().splitlines()
    lines.insert(2, "/a/[/r/AtLocation/,/c/en/x/,/c/en/y/]\t/r/AtLocation\t/c/en/x")
    bad = write_lines(tmp_path / "bad.csv", lines)
    with pytest.raises(DataError, match=r"bad\.csv:3: expected 5 tab-separated columns, found 3"):
        ingest_conceptnet(bad, tmp_path / "index", progress=False)
    assert not (tmp_path / "index").exists()
    policy = ErrorPolicy(skip_invalid=True)
    report = ingest_conceptnet(bad, tmp_path / "index", policy=policy, progress=False)
    assert report.skipped_rows == 1 and report.edges == 4


def test_english_row_with_bad_json_is_located(tiny_dump: Path, tmp_path: Path) -> None:
    lines = tiny_dump.read_text().splitlines()
    lines.append('/a/[/r/PartOf/,/c/en/wheel/,/c/en/car/]\t/r/PartOf\t/c/en/wheel\t/c/en/car\t{"weight": oops}')
    bad = write_lines(tmp_path / "bad.csv", lines)
    with pytest.raises(DataError, match=r"bad\.csv:9: info column is not JSON"):
        ingest_conceptnet(bad, tmp_path / "index", progress=False)


def test_missing_dump_and_missing_index(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        ingest_conceptnet(tmp_path / "absent.csv.gz", tmp_path / "index", progress=False)
    with pytest.raises(KearError, match="not a ConceptNet index"):
        ConceptNetIndex(tmp_path)


@pytest.fixture(scope="module")
def sample_selector(tmp_path_factory) -> TripleSelector:
    folder = tmp_path_factory.mktemp("conceptnet") / "index"
    ingest_conceptnet(sample_file("conceptnet-assertions.csv"), folder, progress=False)
    return TripleSelector(ConceptNetIndex(folder), ConceptNetConfig())


def triple(selector: TripleSelector, concept: str | None, choice: str) -> tuple | None:
    edge = selector.select(concept, choice)
    return None if edge is None else (edge.head, edge.relation, edge.tail, edge.weight)


def test_direct_edge_from_question_concept_wins(sample_selector: TripleSelector) -> None:
    assert triple(sample_selector, "milk", "refrigerator") == ("milk", "AtLocation", "refrigerator", 3.464)
    assert triple(sample_selector, "bird", "eat") == ("bird", "CapableOf", "eat", 1.0)


def test_fallback_prefers_rare_relations(sample_selector: TripleSelector) -> None:
    # library: AtLocation school (1.0), AtLocation town (1.0), HasProperty quiet (1.0); N = 3:
    # AtLocation scores 1 x 3 / 2 = 1.5, HasProperty 1 x 3 / 1 = 3.
    assert triple(sample_selector, "book", "library")[1] == "AtLocation"  # direct
    assert triple(sample_selector, "milk", "library") == ("library", "HasProperty", "quiet", 1.0)
    # ties go to the first relation by name, then the first tail by name: eat Causes full vs HasPrerequisite food
    assert triple(sample_selector, "milk", "eat") == ("eat", "Causes", "full", 1.0)


def test_filters_relations_weights_and_short_concepts(sample_selector: TripleSelector, tmp_path: Path) -> None:
    assert triple(sample_selector, "dog", "bath") is None  # weight -1 is below min_weight
    assert triple(sample_selector, "milk", "cow") is None  # RelatedTo is not one of KEAR's ten
    index = sample_selector.index
    wide = TripleSelector(index, ConceptNetConfig(relations=["RelatedTo"]))
    assert triple(wide, "milk", "cow") == ("milk", "RelatedTo", "cow", 1.0)
    dog, bath = index.concept_id("dog"), index.concept_id("bath")
    assert [index.edge(p, dog).weight for p in index.edges_between(dog, bath)] == [-1.0]  # kept in the index
    assert triple(TripleSelector(index, ConceptNetConfig(min_weight=0)), "dog", "bath") is None


def test_choice_lemma_fallback(sample_selector: TripleSelector) -> None:
    assert triple(sample_selector, "bird", "flying") == ("bird", "CapableOf", "fly", 5.292)
    assert triple(sample_selector, "book", "libraries")[2] == "library"
    strict = TripleSelector(sample_selector.index, ConceptNetConfig(lemma_fallback=False))
    assert triple(strict, "book", "libraries") is None


def test_grounding_finds_the_concept_linked_to_the_choices(sample_selector: TripleSelector) -> None:
    choices = ["refrigerator", "cupboard", "mailbox"]
    assert sample_selector.ground("Where should you put a carton of milk?", choices) == "milk"
    assert sample_selector.ground("Where is the dog when it wants to play?", ["play", "bark"]) == "dog"
    assert sample_selector.ground("nothing known here", choices) is None


def test_verbalize() -> None:
    assert verbalize(["revolving door", "AtLocation", "bank"]) == "revolving door at location bank"
    assert relation_phrase("HasA") == "has a"
    assert relation_phrase("dbpedia/genre") == "genre"


# ------------------------------------------------------------------------------------ corrupt or foreign indexes


@pytest.fixture
def copied(sample_indexes: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the sample ConceptNet index as ``kg`` in the working folder (named as the user would)."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(sample_indexes["conceptnet"], tmp_path / "conceptnet")
    return Path("conceptnet")


def _refused(folder: str | Path, *words: str) -> None:
    """Opening ``folder`` fails with one line that names it as given, with ``words`` in it."""
    with pytest.raises(KearError) as caught:
        ConceptNetIndex(folder)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{folder}: "), message
    for word in words:
        assert word in message, message


def test_folders_that_are_no_conceptnet_index(copied: Path, sample_indexes: dict[str, Path]) -> None:
    Path("stuff").mkdir()
    (Path("stuff") / "a.txt").write_text("x")
    _refused("stuff", "not a ConceptNet index (missing meta.json)")
    _refused("stuff/a.txt", "not a ConceptNet index (a file, not a folder)")
    _refused("nowhere", "not a ConceptNet index (no such folder)")
    _refused(sample_indexes["dictionary"], "not a ConceptNet index (it is a wiktionary index)")


# the damage done to a copy of the sample index: the words its one-line error must hold
DAMAGES = {
    "missing tail.npy": ["not a ConceptNet index (missing tail.npy)", "kear index conceptnet"],
    "missing surfaces.bin": ["missing surfaces.bin"],
    "truncated tail.npy": ["corrupt ConceptNet index (tail.npy is not a readable array"],
    "empty weight.npy": ["corrupt ConceptNet index (weight.npy is not a readable array"],
    "pickled rel.npy": ["corrupt ConceptNet index (rel.npy is not a readable array"],
    "2-D head_ptr.npy": ["corrupt ConceptNet index (head_ptr.npy holds"],
    "short weight.npy": ["corrupt ConceptNet index (weight.npy has"],
    "truncated concepts.txt": ["corrupt ConceptNet index (concepts.txt has"],
    "binary concepts.txt": ["corrupt ConceptNet index (concepts.txt is not UTF-8"],
    "truncated relations.txt": ["corrupt ConceptNet index (relations.txt has"],
    "meta.json not JSON": ["corrupt ConceptNet index (meta.json is not readable JSON"],
    "meta.json a list": ["corrupt ConceptNet index (meta.json is not a JSON object"],
    "meta.json of another format": ["index format 7 is not 1"],
}


@pytest.mark.parametrize(("damage", "words"), DAMAGES.items())
def test_damaged_conceptnet_indexes_are_one_line_errors(copied: Path, damage: str, words: list[str]) -> None:
    name = next(word for word in damage.split() if "." in word)
    path = copied / name
    if damage.startswith("missing"):
        path.unlink()
    elif damage.startswith("truncated") and name.endswith(".npy"):
        path.write_bytes(path.read_bytes()[:-8])
    elif damage.startswith("truncated"):
        path.write_text(path.read_text().rsplit("\n", 1)[0])
    elif damage.startswith("empty"):
        path.write_bytes(b"")
    elif damage.startswith("pickled"):
        np.save(path, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    elif damage.startswith("2-D"):
        np.save(path, np.zeros((2, 2), dtype=np.int64))
    elif damage.startswith("short"):
        np.save(path, np.load(path)[:-1])
    elif damage.startswith("binary"):
        path.write_bytes(b"\xff\xfe\x00bad")
    elif damage == "meta.json not JSON":
        path.write_text("{not json")
    elif damage == "meta.json a list":
        path.write_text("[1, 2]")
    else:
        path.write_text(json.dumps({**json.loads(path.read_text()), "format": 7}))
    _refused(copied, *words)


def test_damage_found_only_by_a_lookup_is_a_one_line_error(copied: Path, sample_config) -> None:
    """Contents of the right size but out of range (tails, surface offsets) are reported when they are read."""
    from retrieval import annotate, read_records

    tail = np.load(copied / "tail.npy")
    np.save(copied / "tail.npy", tail + 10_000_000)
    sample_config.conceptnet.index = str(copied)
    records = list(read_records(sample_file("questions.jsonl")))
    with pytest.raises(KearError) as caught:
        list(annotate(records, sample_config, ["conceptnet"], progress=False))
    message = str(caught.value)
    assert "\n" not in message and message.startswith("conceptnet: corrupt ConceptNet index (an id out of range"), (
        message
    )

    np.save(copied / "tail.npy", tail)
    (copied / "surfaces.bin").write_bytes((copied / "surfaces.bin").read_bytes()[:10])
    sample_config.use_cache = False
    with pytest.raises(
        KearError, match=r"^conceptnet: corrupt ConceptNet index \(surfaces\.bin is shorter than its offsets"
    ):
        list(annotate(records, sample_config, ["conceptnet"], progress=False))


# --------------------------------------------------------------------------------------- long input stays linear


def test_grounding_and_selection_over_long_texts(sample_selector: TripleSelector) -> None:
    """No n-gram, lemma or lookup step recurses or goes quadratic: 5,000 words take well under a few seconds."""
    question = " ".join(["where", "should", "you", "put"] * 1_250) + " a carton of milk?"
    choices = ["refrigerator", "cupboard " * 2_000, "mailbox"]
    assert sample_selector.ground(question, choices) == "milk"
    assert sample_selector.select("milk", "refrigerator " * 2_000) is None  # not a concept: nothing, and quickly
    assert len(sample_selector._memo) < 100  # long pairs are not remembered


def test_relations_are_every_relation_from_the_concept_to_the_choice(sample_config) -> None:
    from retrieval import annotate, read_records

    records = list(
        annotate(read_records(sample_file("questions.jsonl")), sample_config, ["conceptnet"], progress=False)
    )
    pairs = [(r, c) for r in records for c in r.choices]
    assert all(isinstance(c.knowledge["relations"], list) for _, c in pairs)
    # a direct triple from the question concept names one of the relations the rule counts
    direct = [(r, c) for r, c in pairs if c.knowledge["triple"] and c.knowledge["triple"][0][0] == r.question_concept]
    assert direct and all(c.knowledge["triple"][0][1] in c.knowledge["relations"] for _, c in direct)
    assert any(not c.knowledge["relations"] for _, c in pairs)  # choices the concept has no edge to


def test_long_names_and_hash_collisions_give_the_same_index(tiny_dump: Path, tmp_path: Path, monkeypatch) -> None:
    """Names longer than the 16 bytes the name table holds in its rows (cut at their part of speech all the same),
    a NUL byte in a name, and a hash shared by every name all give the index of the plain reading."""
    from retrieval.conceptnet import scan

    long = "a_concept_name_longer_than_any_fixed_width_key"
    lines = tiny_dump.read_text().splitlines()
    lines += [row("PartOf", f"/c/en/{long}_{i}/n/wn/x", f"/c/en/{long}", 1.0 + i) for i in range(30)]
    lines += [row("PartOf", f"/c/en/{long}_{i}", "/c/en/Milk/n", 9.0, f"[[{i}]]") for i in range(30)]
    lines += [row("IsA", "/c/en/nul\x00name", "/c/en/milk", 1.0)]
    dump = write_lines(tmp_path / "assertions.csv", lines)
    ingest_conceptnet(dump, tmp_path / "one", workers=1, progress=False)
    index = ConceptNetIndex(tmp_path / "one")
    name = long.replace("_", " ")
    assert index.concept_id(name) is not None and index.concept_id(f"{name} 7") is not None
    assert not any("/" in concept for concept in index.concepts)
    (position,) = index.edges_between(index.concept_id(f"{name} 7"), index.concept_id(name))
    assert index.weight[position] == 8.0
    assert index.concept_id("nul\x00name") is not None
    ingest_conceptnet(dump, tmp_path / "two", workers=2, block_size=1024, progress=False)
    monkeypatch.setattr(scan, "HASH_MASK", 0)  # every name hashes to 0: only the names tell them apart
    ingest_conceptnet(dump, tmp_path / "collide", workers=2, block_size=1024, progress=False)
    reference = _index_arrays(tmp_path / "one")
    assert _index_arrays(tmp_path / "two") == reference
    assert _index_arrays(tmp_path / "collide") == reference


def test_names_normalised_together_as_each_would_be_alone() -> None:
    from retrieval.conceptnet.index import _vocabulary

    def alone(raw: bytes) -> bytes:
        return raw.decode("utf-8", "replace").lower().replace("_", " ").encode("utf-8")

    rng = np.random.default_rng(0)
    pieces = [b"a", b"B", b"_", b"\xc3\xa9", b"\xc3\x89", b"\xce\xa3", b"\xff", b"\xe2\x82", b"\xc4\xb0", b" ", b"z"]
    for trial in range(300):
        raw = [b"".join(rng.choice(pieces, rng.integers(1, 6))) for _ in range(rng.integers(1, 12))]
        if trial % 3 == 0:  # ASCII lowercase only: the fast path
            raw = [name.lower() for name in raw if name.isascii() and b" " not in name] or [b"x"]
        raw = list(dict.fromkeys(raw))  # a name table's names are distinct
        order = rng.permutation(len(raw)) if trial % 2 else np.arange(len(raw))
        vocabulary, count, ids = _vocabulary(b"\n".join(raw), order.astype(np.int64))
        expected = list(dict.fromkeys(alone(raw[i]) for i in np.argsort(order, kind="stable")))
        assert vocabulary.split(b"\n") == expected and count == len(expected)
        mapped = np.arange(len(raw)) if ids is None else ids
        assert [expected[i] for i in mapped] == [alone(name) for name in raw]
