from __future__ import annotations

from retrieval.text import bm25_tokens, normalize, phrase_lemmas, word_lemmas


def test_normalize() -> None:
    assert normalize("  Revolving_Door \t") == "revolving door"


def test_lemmas_need_no_download() -> None:
    assert word_lemmas("animals") == ("animal",)
    assert "go" in word_lemmas("went")
    assert word_lemmas("cat") == ()
    assert phrase_lemmas("dirty dishes") == ["dirty dish"]
    assert phrase_lemmas("running shoes") == ["running shoe", "run shoes"]


def test_bm25_tokens_drop_function_words() -> None:
    assert bm25_tokens("Where would you put the milk?") == ["put", "milk"]
    assert bm25_tokens("Where would you put the milk?", remove_stopwords=False)[:2] == ["where", "would"]


def test_phrase_lemmas_of_a_long_phrase_change_only_its_ends() -> None:
    phrase = " ".join(["dishes"] * 5_000)
    variants = phrase_lemmas(phrase)
    assert variants == [" ".join(["dishes"] * 4_999 + ["dish"]), " ".join(["dish"] + ["dishes"] * 4_999)]
    assert phrase_lemmas("dishes ") == ["dish "]  # an empty last word: only the first is lemmatised


def test_long_words_are_lemmatised_but_not_remembered() -> None:
    from retrieval.text import MAX_CACHED_WORD_CHARS, _cached_lemmas

    before = _cached_lemmas.cache_info().currsize
    word = "x" * (MAX_CACHED_WORD_CHARS + 1) + "es"
    assert word_lemmas(word) == word_lemmas(word)
    assert _cached_lemmas.cache_info().currsize == before
