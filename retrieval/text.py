"""Text normalisation, lemmas and tokens shared by every knowledge source.

Lemmas come from ``lemminflect``, which ships its tables: nothing is downloaded at run time.
"""

from __future__ import annotations

import re
import string
from functools import lru_cache

from lemminflect import getAllLemmas

_SPACES = re.compile(r"\s+")
_WORDS = re.compile(r"[a-z0-9]+")
PUNCTUATION = string.punctuation

# English function words: never a concept on their own, and noise in BM25 queries.
STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can cannot could did do does doing down during each either else ever every
    few for from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just may me might more most much must my myself neither no nor not now of
    off often on once only or other our ours ourselves out over own quite rather same shall she
    should so some such than that the their theirs them themselves then there these they this those
    through thus to too under until up upon us very was we were what whatever when where whether
    which while who whom whose why will with within without would yet you your yours yourself
    yourselves
    """.split()
)

# Order in which lemma candidates are tried: choices and concepts are mostly nouns, then verbs.
_POS_ORDER = ("NOUN", "VERB", "ADJ", "ADV", "PROPN")


def normalize(text: str) -> str:
    """Lowercase, underscores to spaces, runs of white space to one space, trimmed."""
    return _SPACES.sub(" ", text.replace("_", " ")).strip().lower()


# Words longer than this are lemmatised without being remembered: no English word is this long, and the cache
# holds at most 200,000 words, which must not add up to gigabytes when the input is a run of letters.
MAX_CACHED_WORD_CHARS = 64


def word_lemmas(word: str) -> tuple[str, ...]:
    """Dictionary lemmas of one lowercase word, nouns first, excluding the word itself.

    Args:
        word: one lowercase word.
    """
    return _cached_lemmas(word) if len(word) <= MAX_CACHED_WORD_CHARS else _lemmas(word)


def _lemmas(word: str) -> tuple[str, ...]:
    found = getAllLemmas(word)
    out: list[str] = []
    for pos in _POS_ORDER:
        for lemma in found.get(pos, ()):
            lemma = lemma.lower()
            if lemma != word and lemma not in out:
                out.append(lemma)
    return tuple(out)


_cached_lemmas = lru_cache(maxsize=200_000)(_lemmas)


def phrase_lemmas(phrase: str) -> list[str]:
    """Variants of a phrase with its last word, then its first word, lemmatised (``"dirty dishes"`` ->
    ``"dirty dish"``; ``"running shoes"`` -> ``"running shoe"``, ``"run shoes"``).

    Only the first and last words are split off (not every word), so the cost is one pass over the phrase however
    many words it has: back-offs call this once per word dropped.

    Args:
        phrase: a normalised phrase (words separated by single spaces).
    """
    first, space, rest = phrase.partition(" ")
    body, _, last = phrase.rpartition(" ")
    candidates = [f"{body} {lemma}" if space else lemma for lemma in word_lemmas(last)]
    if space:
        candidates += [f"{lemma} {rest}" for lemma in word_lemmas(first)]
    variants: list[str] = []
    for variant in candidates:
        if variant != phrase and variant not in variants:
            variants.append(variant)
    return variants


def words(text: str) -> list[str]:
    """Lowercase alphanumeric words of a text."""
    return _WORDS.findall(text.lower())


def bm25_tokens(text: str, remove_stopwords: bool = True) -> list[str]:
    """Tokens for BM25: lowercase words, without stopwords unless asked to keep them."""
    tokens = words(text)
    if remove_stopwords:
        tokens = [t for t in tokens if t not in STOPWORDS]
    return tokens
