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
