"""entity_proclitic's word test: the first word after a proclitic stands alone elsewhere in the document."""

from __future__ import annotations

import unicodedata

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from khabar.validation.checks import MIN_WORD, _separate_words

#: letters (one of them the proclitic و), a mark, white space, punctuation and a digit: each kind of edge a word has
ALPHABET = "بغداو\u064e ،1-"
LETTERS = "بغداو\u064e"


def words(text: str) -> set[str]:
    """The runs of letters and marks of ``text``: the words the rule means."""
    runs = "".join(c if unicodedata.category(c)[0] in "LM" else " " for c in text)
    return set(runs.split())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(ALPHABET, max_size=14), st.text(LETTERS, min_size=1, max_size=5), st.text(ALPHABET, max_size=14)), min_size=1, max_size=6))
def test_a_first_word_is_found_alone_exactly_when_it_is_a_word_of_the_document(cases):
    # each candidate's own occurrence follows its proclitic و, as an entity's rest does
    # the corpus's texts, a candidate naming its document by its row there
    texts = pl.Series("text", [before + "و" + word + after for before, word, after in cases])
    candidates = pl.DataFrame({
        "doc_row": range(len(cases)), "first_word": [word for _, word, _ in cases],
        "with_article": [False] * len(cases), "annotated": [False] * len(cases),
    }, schema_overrides={"doc_row": pl.UInt32})
    found = set(_separate_words(candidates, texts).select("doc_row", "first_word").iter_rows())
    expected = {
        (row, word) for row, (text, (_, word, _)) in enumerate(zip(texts, cases, strict=True))
        if len(word) >= MIN_WORD and word in words(text)
    }
    assert found == expected


def test_a_word_at_either_end_or_repeated_without_a_space():
    texts = {"start": "بغد وبغد", "end": "وبغد بغد", "twice": "وبغد بغدبغد", "inside": "وبغد ابغدا", "mark": "وبغد بغد\u064e"}
    corpus = pl.Series("text", list(texts.values()))
    candidates = pl.DataFrame({"doc_row": range(len(texts))}, schema={"doc_row": pl.UInt32}).with_columns(
        first_word=pl.lit("بغد"), with_article=pl.lit(False), annotated=pl.lit(False)
    )
    found = _separate_words(candidates, corpus)["doc_row"]
    assert sorted(list(texts)[row] for row in found) == ["end", "start"]
