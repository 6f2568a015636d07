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


@lru_cache(maxsize=200_000)
def word_lemmas(word: str) -> tuple[str, ...]:
    """Dictionary lemmas of one lowercase word, nouns first, excluding the word itself."""
    found = getAllLemmas(word)
    out: list[str] = []
    for pos in _POS_ORDER:
        for lemma in found.get(pos, ()):
            lemma = lemma.lower()
            if lemma != word and lemma not in out:
                out.append(lemma)
    return tuple(out)


def phrase_lemmas(phrase: str) -> list[str]:
    """Variants of a phrase with its last word, then its first word, lemmatised (``"dirty dishes"`` ->
    ``"dirty dish"``; ``"running shoes"`` -> ``"running shoe"``, ``"run shoes"``)."""
    words = phrase.split(" ")
    variants: list[str] = []
    positions = [len(words) - 1] if len(words) == 1 else [len(words) - 1, 0]
    for position in positions:
        for lemma in word_lemmas(words[position]):
            variant = " ".join([*words[:position], lemma, *words[position + 1 :]])
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
