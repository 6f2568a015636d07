"""Resolve a concept to ``"headword: first gloss"``, following KEAR's back-off order.

1. lowercase; prefer the concept itself when the dictionary has it, else a lemmatised form it has;
   trim punctuation at the ends;
2. take the first sense with a gloss, following ``form_of``/``alt_of`` links (and old-layout "verb form"
   glosses such as "present participle of run") to their headword;
3. otherwise back off: lemmatised forms, the words joined (``photo copy`` -> ``photocopy``), the phrase without
   its first word, step by step (``new york`` -> ``york``), then punctuation removed or turned into spaces.
"""

from __future__ import annotations

from ..text import PUNCTUATION, normalize, phrase_lemmas
from .index import DictionaryIndex

_NO_PUNCTUATION = str.maketrans("", "", PUNCTUATION)
_PUNCTUATION_TO_SPACE = str.maketrans(PUNCTUATION, " " * len(PUNCTUATION))


class MeaningResolver:
    """Finds the meaning of concepts in one dictionary index, remembering what it found.

    Args:
        index: an opened dictionary index.
        max_link_words: follow links only to headwords of at most this many words.
    """

    def __init__(self, index: DictionaryIndex, max_link_words: int = 4) -> None:
        self.index = index
        self.max_link_words = max_link_words
        self._memo: dict[str, str | None] = {}

    def meaning(self, concept: str | None) -> str | None:
        """``"headword: gloss"`` for a concept, or ``None`` when nothing resolves."""
        if not concept:
            return None
        key = normalize(concept)
        if key not in self._memo:
            self._memo[key] = self._resolve(key, set(), lemma=True)
        return self._memo[key]

    def _headword(self, key: str) -> str:
        if key in self.index:
            return key
        return next((form for form in phrase_lemmas(key) if form in self.index), key)

    def _resolve(self, key: str, seen: set[tuple[str, bool]], lemma: bool) -> str | None:
        if not key or (key, lemma) in seen:  # links can form cycles
            return None
        seen.add((key, lemma))
        if lemma:
            key = self._headword(key).strip(PUNCTUATION + " ")
            if not key:
                return None
        for entry in self.index.entries(key):
            for sense in entry["senses"]:
                link = sense.get("form_of") or sense.get("alt_of")
                gloss = sense.get("gloss")
                target = None
                if link is not None:
                    if normalize(link) == key:
                        continue
                    if len(link.split()) <= self.max_link_words:
                        target = link
                elif entry.get("verb_form") and gloss and len(parts := gloss.split(" of ")) == 2:
                    target = parts[1]
                if target is not None:
                    found = self._resolve(normalize(target), seen, lemma=False)
                    if found:
                        return found
                if gloss:
                    return f"{key}: {gloss}"
        words = key.split(" ")
        backoffs = [form for form in phrase_lemmas(key) if form in self.index]
        if len(words) > 1 and (joined := "".join(words)) in self.index:
            backoffs.append(joined)
        for form in backoffs:
            if form != key and (found := self._resolve(form, seen, lemma=True)):
                return found
        if len(words) > 1 and (found := self._resolve(" ".join(words[1:]), seen, lemma=True)):
            return found
        for table in (_NO_PUNCTUATION, _PUNCTUATION_TO_SPACE):
            form = normalize(key.translate(table))
            if form != key and form in self.index and (found := self._resolve(form, seen, lemma=True)):
                return found
        return None
