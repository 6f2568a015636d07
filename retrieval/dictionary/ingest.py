"""Dictionary dumps to index: kaikki.org's Wiktionary extract, and WordNet 3.0's database files.

Wiktionary (``kaikki.jsonl[.gz]``, one JSON entry per line) comes in two layouts that differ where meaning
resolution looks: the current one marks inflected forms with ``senses[].form_of: [{"word": ...}]`` and heads
with ``head_templates[].args``; the older one used ``form_of: ["..."]`` and ``heads: [{"2": "verb form"}]``.
Both are read into the same entry shape. Only English entries are kept.

WordNet is read from its database files (``index.noun``, ``data.noun``... and the ``*.exc`` exception lists),
as shipped by Debian's ``wordnet-base`` (``/usr/share/wordnet``) or found in NLTK's data folder.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..errors import DataError, ErrorPolicy, KearError
from ..io import iter_json_lines
from ..outputs import atomic_path, check_not_emptied
from .index import DictionaryWriter, is_dictionary_index

logger = logging.getLogger(__name__)


def _link(value: Any) -> str | None:
    """The target of a ``form_of``/``alt_of`` field in either layout."""
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict):
        value = value.get("word")
    return value if isinstance(value, str) and value.strip() else None


def _is_verb_form(entry: dict[str, Any]) -> bool:
    heads = entry.get("heads")
    if isinstance(heads, list) and heads and isinstance(heads[0], dict):
        return heads[0].get("2") == "verb form"
    templates = entry.get("head_templates")
    if isinstance(templates, list) and templates and isinstance(templates[0], dict):
        args = templates[0].get("args")
        return isinstance(args, dict) and args.get("2") == "verb form"
    return False


def wiktionary_entry(obj: Any) -> tuple[str, dict[str, Any]] | None:
    """``(word, entry)`` from one kaikki line, ``None`` for a non-English entry; ``ValueError`` if malformed."""
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    word = obj.get("word")
    if not isinstance(word, str) or not word.strip():
        raise ValueError("missing field 'word'")
    if obj.get("lang_code", "en") != "en" or obj.get("lang", "English") != "English":
        return None
    senses = obj.get("senses", [])
    if not isinstance(senses, list):
        raise ValueError("field 'senses' must be a list")
    kept = []
    for sense in senses:
        if not isinstance(sense, dict):
            raise ValueError("each sense must be an object")
        glosses = sense.get("glosses")
        if glosses is not None and not isinstance(glosses, list):
            raise ValueError(f"field 'glosses' must be a list of texts, not {type(glosses).__name__}")
        item = {
            "gloss": glosses[0] if isinstance(glosses, list) and glosses and isinstance(glosses[0], str) else None,
            "form_of": _link(sense.get("form_of")),
            "alt_of": _link(sense.get("alt_of")),
        }
        kept.append({k: v for k, v in item.items() if v is not None})
    entry: dict[str, Any] = {"word": word, "pos": obj.get("pos"), "senses": kept}
    if _is_verb_form(obj):
        entry["verb_form"] = True
    return word, entry


def ingest_wiktionary(
    dump: str | Path,
    output: str | Path,
    *,
    policy: ErrorPolicy | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Build a dictionary index from a kaikki.org Wiktionary extract (``.jsonl`` or ``.jsonl.gz``).

    Entries spelled in lowercase come before capitalised ones of the same headword (``bank`` before ``Bank``).
    Returns the index metadata (entries, headwords, skipped lines, seconds). With ``overwrite``, whatever
    ``output`` holds is replaced (an existing index even by an empty one; never the dump).
    """
    dump, policy = Path(dump), policy or ErrorPolicy()
    if not dump.is_file():
        raise DataError(dump, None, "no such file")
    started = time.perf_counter()
    other_languages = 0
    with atomic_path(output, folder=True, overwrite=overwrite, inputs=[dump], owned=is_dictionary_index) as folder:
        writer = DictionaryWriter(folder, "wiktionary", name=output)
        lines = iter_json_lines(dump, policy)
        for number, obj in tqdm(lines, desc="Wiktionary entries", unit=" entries", disable=not progress):
            try:
                found = wiktionary_entry(obj)
            except ValueError as error:
                policy.handle(DataError(dump, number, str(error)))
                continue
            if found is None:
                other_languages += 1
                continue
            word, entry = found
            writer.add(word, entry, rank=0 if word == word.lower() else 1)
        policy.report("Wiktionary lines")
        meta = writer.close(
            {
                "source": os.path.abspath(dump),
                "other_languages": other_languages,
                "skipped_lines": policy.skipped,
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
        check_not_emptied(output, dump, "English entries", meta["entries"], overwrite)
    logger.debug("dictionary index %s: %d entries, %d headwords", output, meta["entries"], meta["headwords"])
    return meta


_WORDNET_POS = (("noun", "n"), ("verb", "v"), ("adj", "a"), ("adv", "r"))


def _wordnet_folder(path: Path) -> Path:
    for candidate in (path, path / "dict", path / "corpora" / "wordnet", path / "wordnet"):
        if (candidate / "index.noun").is_file() and (candidate / "data.noun").is_file():
            return candidate
    raise KearError(f"{path}: no WordNet database files (index.noun, data.noun) found here")


def _definition(data: bytes, offset: int, where: str) -> str | None:
    end = data.find(b"\n", offset)
    line = data[offset : end if end >= 0 else len(data)].decode("utf-8", "replace")
    if not line.startswith(f"{offset:08d} "):
        raise DataError(where, None, f"no synset at byte offset {offset}")
    gloss = line.partition(" | ")[2].strip()
    definition = gloss.split('; "', 1)[0].strip().rstrip(";").strip()
    return definition or None


def ingest_wordnet(
    source: str | Path, output: str | Path, *, progress: bool = True, overwrite: bool = False
) -> dict[str, Any]:
    """Build a dictionary index from WordNet's database files.

    Senses keep WordNet's order (most frequent first), nouns first, then verbs, adjectives and adverbs;
    irregular forms from the ``*.exc`` lists become ``form_of`` links (``geese`` -> ``goose``). With
    ``overwrite``, whatever ``output`` holds is replaced (never the WordNet files).
    """
    folder = _wordnet_folder(Path(source))
    started = time.perf_counter()
    with atomic_path(output, folder=True, overwrite=overwrite, inputs=[folder], owned=is_dictionary_index) as out:
        writer = DictionaryWriter(out, "wordnet", name=output)
        for pos, _ in tqdm(_WORDNET_POS, desc="WordNet parts of speech", disable=not progress):
            index_file, data_file = folder / f"index.{pos}", folder / f"data.{pos}"
            if not index_file.is_file():
                continue
            if not data_file.is_file():
                raise DataError(data_file, None, f"no such file (WordNet's {index_file.name} needs it)")
            data = data_file.read_bytes()
            lemmas = 0
            with open(index_file, encoding="utf-8", errors="replace") as handle:
                for number, line in enumerate(handle, start=1):
                    if line.startswith(" ") or not line.strip():
                        continue  # licence header
                    fields = line.split()
                    try:
                        lemma, synsets = fields[0], int(fields[2])
                        offsets = [int(f) for f in fields[len(fields) - synsets :]]
                    except (IndexError, ValueError):
                        raise DataError(index_file, number, "malformed index line") from None
                    # lemma, pos, synset count, pointer count, sense count, tagged count, then the offsets
                    if not 1 <= synsets <= len(fields) - 6:
                        raise DataError(index_file, number, f"synset count {synsets} does not fit the line")
                    lemmas += 1
                    senses = []
                    for offset in offsets:
                        gloss = _definition(data, offset, str(data_file))
                        if gloss:
                            senses.append({"gloss": gloss})
                    writer.add(
                        lemma.replace("_", " "),
                        {"word": lemma.replace("_", " "), "pos": pos, "senses": senses},
                    )
            if not lemmas:
                raise DataError(index_file, None, "holds no lemmas (a WordNet index file lists one per line)")
        for pos, _ in _WORDNET_POS:
            exceptions = folder / f"{pos}.exc"
            if not exceptions.is_file():
                continue
            for line in exceptions.read_text(encoding="utf-8", errors="replace").splitlines():
                fields = line.split()
                if len(fields) >= 2:
                    form, base = fields[0].replace("_", " "), fields[1].replace("_", " ")
                    writer.add(form, {"word": form, "pos": pos, "senses": [{"form_of": base}]}, rank=1)
        meta = writer.close({"source": os.path.abspath(folder), "seconds": round(time.perf_counter() - started, 2)})
        check_not_emptied(output, folder, "lemmas", meta["entries"], overwrite)
    logger.debug("WordNet index %s: %d entries, %d headwords", output, meta["entries"], meta["headwords"])
    return meta
