"""Resolve a concept to ``"headword: first gloss"``, following KEAR's back-off order.

1. lowercase; prefer the concept itself when the dictionary has it, else a lemmatised form it has;
   trim punctuation at the ends;
2. take the first sense with a gloss, following ``form_of``/``alt_of`` links (and old-layout "verb form"
   glosses such as "present participle of run") to their headword;
3. otherwise back off: lemmatised forms, the words joined (``photo copy`` -> ``photocopy``), the phrase without
   its first word, step by step (``new york`` -> ``york``), then punctuation removed or turned into spaces.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..text import PUNCTUATION, normalize, phrase_lemmas
from .index import DictionaryIndex

# Only concepts up to this long are remembered: the memo lives as long as the resolver, and long texts (records
# cut them to a few thousand characters) rarely repeat, so remembering them would only grow memory with the input.
MAX_MEMO_CHARS = 256
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
        if key in self._memo:
            return self._memo[key]
        found = self._resolve(key)
        if len(key) <= MAX_MEMO_CHARS:
            self._memo[key] = found
        return found

    def _headword(self, key: str) -> str:
        if key in self.index:
            return key
        return next((form for form in phrase_lemmas(key) if form in self.index), key)

    def _resolve(self, concept: str) -> str | None:
        """Resolve a normalised concept, depth first, without recursion.

        The search is a tree: a key's steps are its own gloss, links to follow and back-offs to try, in order, and
        the first meaning found anywhere is the answer. Each key's steps are a generator on an explicit stack, so
        neither a long phrase (one back-off per word) nor a long chain of links can exhaust Python's stack.
        """
        seen: set[tuple[str, bool]] = set()  # links can form cycles; back-offs can meet the same key twice
        stack = [self._steps(concept, seen, lemma=True)]
        while stack:
            step = next(stack[-1], None)
            if step is None:  # this key's steps are exhausted without a meaning: back to its parent's next step
                stack.pop()
            elif isinstance(step, str):
                return step
            else:
                stack.append(self._steps(step[0], seen, lemma=step[1]))
        return None

    def _steps(self, key: str, seen: set[tuple[str, bool]], lemma: bool) -> Iterator[str | tuple[str, bool]]:
        """What to try for one key, in KEAR's order: yields a meaning (``str``), or a key to resolve first
        (``(key, lemma)``) whose meaning, if it has one, is the answer.

        Args:
            key: a normalised concept or headword.
            seen: the keys already tried in this resolution (shared by every step).
            lemma: look the key up through its lemmatised forms (not for link targets, which are headwords).
        """
        if not key or (key, lemma) in seen:
            return
        seen.add((key, lemma))
        if lemma:
            key = self._headword(key).strip(PUNCTUATION + " ")
            if not key:
                return
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
                    yield normalize(target), False
                if gloss:
                    yield f"{key}: {gloss}"
                    return
        # partition, not split: only the first word comes off, and long keys come once per word of a long text
        _, space, rest = key.partition(" ")
        backoffs = [form for form in phrase_lemmas(key) if form in self.index]
        if space and (joined := key.replace(" ", "")) in self.index:
            backoffs.append(joined)
        for form in backoffs:
            if form != key:
                yield form, True
        if space:
            yield rest, True
        for table in (_NO_PUNCTUATION, _PUNCTUATION_TO_SPACE):
            form = normalize(key.translate(table))
            if form != key and form in self.index:
                yield form, True
