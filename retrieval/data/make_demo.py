"""A generated multiple-choice sample that only knowledge can answer: ``kear demo`` runs on it.

Every question is about a made-up word (``Where would you most likely find a vorlish?``) with made-up choices,
so a model without knowledge can only guess. The matching ConceptNet dump links each question's concept to its
answer (``vorlish AtLocation tembrook``), while the other choices only have edges of their own; the matching
Wiktionary extract defines every word. Concepts never repeat across the training, development and test parts,
so what a model learns is to read the knowledge, not the answers.

``python -m retrieval.data.make_demo [FOLDER]`` writes the files (by default over the shipped ones, in
``retrieval/data/demo/``); a test checks that the shipped files are what this module generates.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import DEMO_DIR

_ONSETS = [
    "b",
    "br",
    "d",
    "dr",
    "f",
    "fl",
    "g",
    "gl",
    "k",
    "kr",
    "l",
    "m",
    "n",
    "p",
    "pl",
    "qu",
    "r",
    "s",
    "sk",
    "sl",
    "sn",
    "t",
    "tr",
    "v",
    "w",
    "z",
]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ee", "oo"]
_CODAS = ["", "", "n", "r", "l", "sh", "k", "m", "nd", "rt", "sk"]

# relation: (what its answers are, question phrasings, surface text, gloss of an answer)
RELATIONS = {
    "AtLocation": (
        "place",
        [
            "Where would you most likely find a {c}?",
            "Where does a {c} usually live?",
            "In which place is a {c} often seen?",
        ],
        "You are likely to find [[a {c}]] in [[a {a}]]",
        "A place where people rarely go.",
    ),
    "CapableOf": (
        "action",
        ["What can a {c} do?", "What is a {c} able to do?"],
        "[[a {c}]] can [[{a}]]",
        "To move or act in a particular way.",
    ),
    "HasProperty": (
        "quality",
        ["What is a {c} like?", "Which word describes a {c}?"],
        "[[a {c}]] is [[{a}]]",
        "Having a particular quality.",
    ),
    "PartOf": (
        "whole",
        ["A {c} is part of what?", "What has a {c} as one of its parts?"],
        "[[a {c}]] is part of [[a {a}]]",
        "A large thing made of many parts.",
    ),
    "Desires": (
        "want",
        ["What does a {c} want?", "What does a {c} like to have?"],
        "[[a {c}]] wants [[{a}]]",
        "Something that is wanted.",
    ),
    "Causes": (
        "effect",
        ["What does a {c} cause?", "What happens because of a {c}?"],
        "[[a {c}]] causes [[{a}]]",
        "Something that happens as a result.",
    ),
}
_CONCEPT_GLOSS = "A creature or thing known only in old stories."


@dataclass
class DemoData:
    """The generated sample: records per part, and the knowledge dumps' lines."""

    parts: dict[str, list[dict]] = field(default_factory=dict)
    conceptnet: list[str] = field(default_factory=list)
    kaikki: list[str] = field(default_factory=list)


def _words(rng: random.Random, count: int) -> list[str]:
    """Distinct pronounceable made-up words of two syllables."""
    words: set[str] = set()
    while len(words) < count:
        word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(2))
        if 5 <= len(word) <= 10:
            words.add(word)
    return sorted(words)


def _row(relation: str, head: str, tail: str, weight: float, surface: str) -> str:
    info: dict = {
        "dataset": "/d/conceptnet/4/en",
        "license": "cc:by/4.0",
        "sources": [{"contributor": "/s/contributor/omcs/kear-demo"}],
    }
    if surface:
        info.update(surfaceEnd=tail, surfaceStart=head, surfaceText=surface)
    info["weight"] = weight
    start, end = f"/c/en/{head}/n", f"/c/en/{tail}/n"
    return f"/a/[/r/{relation}/,{start}/,{end}/]\t/r/{relation}\t{start}\t{end}\t{json.dumps(info)}"


def generate(seed: int = 0, sizes: dict[str, int] | None = None, objects_per_kind: int = 30) -> DemoData:
    """Generate the sample (deterministic for a seed).

    Args:
        seed: the random seed.
        sizes: questions per part (default: 150 train, 50 dev, 40 test).
        objects_per_kind: made-up answers of each kind (places, actions...) shared by all questions.
    """
    sizes = sizes or {"train": 150, "dev": 50, "test": 40}
    rng = random.Random(seed)
    total = sum(sizes.values())
    vocabulary = _words(rng, total + objects_per_kind * len(RELATIONS) + 60)
    rng.shuffle(vocabulary)
    concepts, rest = vocabulary[:total], vocabulary[total:]
    objects = {
        kind: rest[i * objects_per_kind : (i + 1) * objects_per_kind] for i, (kind, *_) in enumerate(RELATIONS.values())
    }
    extra = rest[objects_per_kind * len(RELATIONS) :]
    data = DemoData()
    rows: set[str] = set()
    for part, size in sizes.items():
        data.parts[part] = []
        for number in range(size):
            concept = concepts.pop()
            relation = rng.choice(list(RELATIONS))
            kind, phrasings, surface, _ = RELATIONS[relation]
            choices = rng.sample(objects[kind], 5)
            answer = rng.randrange(5)
            record = {
                "answerKey": "ABCDE"[answer],
                "id": f"demo-{part}-{number:03d}",
                "question": {
                    "question_concept": concept,
                    "choices": [{"label": "ABCDE"[i], "text": text} for i, text in enumerate(choices)],
                    "stem": rng.choice(phrasings).format(c=concept),
                },
            }
            data.parts[part].append(record)
            weight = rng.choice([1.0, 2.0, 2.828])
            rows.add(_row(relation, concept, choices[answer], weight, surface.format(c=concept, a=choices[answer])))
    # every answer-like word has edges of its own, which are the only triples the wrong choices get
    for kind_objects in objects.values():
        for word in kind_objects:
            for _ in range(rng.randint(1, 3)):
                relation = rng.choice(list(RELATIONS))
                _, _, surface, _ = RELATIONS[relation]
                tail = rng.choice(extra)
                rows.add(_row(relation, word, tail, rng.choice([1.0, 2.0]), surface.format(c=word, a=tail)))
    # rows an ingester must skip: other languages, and a relation outside KEAR's ten
    rows.update(
        f"/a/[/r/Synonym/,/c/fr/{w}/n/,/c/de/{w}/n/]\t/r/Synonym\t/c/fr/{w}/n\t/c/de/{w}/n\t"
        '{"dataset": "/d/wiktionary/fr", "license": "cc:by-sa/4.0", "sources": [], "weight": 1.0}'
        for w in extra[:10]
    )
    data.conceptnet = sorted(rows)
    records = [record for part in data.parts.values() for record in part]
    glosses = {record["question"]["question_concept"]: _CONCEPT_GLOSS for record in records}
    for kind, _, _, gloss in RELATIONS.values():
        glosses.update({word: gloss for word in objects[kind]})
    glosses.update({word: "Something ordinary, of no importance." for word in extra})
    data.kaikki = [
        json.dumps(
            {"word": word, "lang": "English", "lang_code": "en", "pos": "noun", "senses": [{"glosses": [gloss]}]}
        )
        for word, gloss in sorted(glosses.items())
    ]
    return data


def write(folder: str | Path, data: DemoData | None = None) -> Path:
    """Write ``train.jsonl``, ``dev.jsonl``, ``test.jsonl``, ``conceptnet-assertions.csv``, ``kaikki.jsonl``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = data or generate()
    for part, records in data.parts.items():
        (folder / f"{part}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    (folder / "conceptnet-assertions.csv").write_text("\n".join(data.conceptnet) + "\n", encoding="utf-8")
    (folder / "kaikki.jsonl").write_text("\n".join(data.kaikki) + "\n", encoding="utf-8")
    return folder


if __name__ == "__main__":
    print(write(sys.argv[1] if len(sys.argv) > 1 else DEMO_DIR))
