"""The ``tokens`` config computed over all documents at once equals the per-document reference, row for row."""

from __future__ import annotations

from collections import Counter

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from khabar.annotation.scheme import load_scheme
from khabar.annotation.tags import tag_names
from khabar.dataset.configs import placed_spans, sentence_rows, token_table
from khabar.dataset.iob import Span
from khabar.dataset.segment import CodePoints, Words, sentences, tokenize, tokens, word_frame
from khabar.foundation.errors import KhabarError

#: Characters that exercise every rule: Arabic and Latin words, digits of three scripts with the number
#: separators, sentence ends, marks, line breaks, white space that `str.split` and `\s` treat differently.
ALPHABET = "ab zقال أحمد.,!?؟…۔\n\t 0123456789٠١٢٫٬،«»\u00a0\x1c\u2028ـ²Ⅻ-'\"ج"
TEXTS = st.text(alphabet=ALPHABET, max_size=60)
SCHEME = load_scheme()
ENTITY = SCHEME.entity.name
LABELS = SCHEME.entity.labels


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXTS, max_size=6))
def test_tokens_are_tokenize_and_sentences_of_each_text(texts):
    found = tokens(CodePoints.of(pl.Series(texts, dtype=pl.String)))
    expected = []
    for position, text in enumerate(texts):
        offsets = tokenize(text)
        for number, group in enumerate(sentences(text, offsets)):
            expected += [(position, text[s:e], s, e, number) for s, e in offsets[group.start : group.stop]]
    assert list(zip(found.text.tolist(), found.strings.to_pylist(), found.start.tolist(), found.end.tolist(), found.sentence.tolist())) == expected
    assert word_frame(pl.Series(texts, dtype=pl.String)).rows() == [(position, s, e) for position, _, s, e, _ in expected]



@settings(max_examples=300, deadline=None)
@given(st.lists(TEXTS, max_size=6), st.data())
def test_the_words_of_some_texts_are_their_word_frame(texts, data):
    """The tokens of all texts, made once, give each subset of them (in any order) the words word_frame gives it."""
    doc_ids = [f"d{i}" for i in range(len(texts))]
    words = Words.of(doc_ids, tokens(CodePoints.of(pl.Series(texts, dtype=pl.String))))
    order = data.draw(st.permutations(range(len(texts))))
    picked = order[: data.draw(st.integers(0, len(order)))]
    expected = word_frame(pl.Series([texts[i] for i in picked], dtype=pl.String))
    assert words.frame([doc_ids[i] for i in picked]).equals(expected)


def _reference(texts: dict[str, str], entities: dict[str, list[Span]]) -> tuple[list[dict], Counter]:
    """The rows and alignment counts of :func:`sentence_rows`, one document after another."""
    tags = tag_names(LABELS)
    rows, alignment = [], Counter()
    for doc_id in sorted(texts):
        sentence_list, aligned = sentence_rows(doc_id, texts[doc_id], entities.get(doc_id, []), LABELS)
        alignment.update((a.entity.label, a.how) for a in aligned)
        for row in sentence_list:
            nested = [[tags.index(tag) for tag in column] for column in row.nested_tags]
            rows.append({
                "doc_id": doc_id, "sentence": row.number, "start": row.offsets[0][0], "end": row.offsets[-1][1],
                "tokens": row.tokens, "token_starts": [s for s, _ in row.offsets],
                "ner_tags": [column[0] for column in nested], "nested_ner_tags": nested,
            })
    return rows, alignment


@st.composite
def documents_with_entities(draw):
    texts = {f"d{i}": draw(TEXTS) for i in range(draw(st.integers(1, 5)))}
    entities = {}
    for doc_id, text in texts.items():
        found = []
        for _ in range(draw(st.integers(0, 8))):
            start = draw(st.integers(0, max(len(text) - 1, 0)))
            found.append(Span(start, draw(st.integers(start + 1, len(text) + 1)), draw(st.sampled_from(LABELS))))
        entities[doc_id] = found
    return texts, entities


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents_with_entities())
def test_token_table_equals_sentence_rows_document_by_document(drawn):
    texts, entities = drawn
    documents = pl.DataFrame({"doc_id": list(texts), "text": list(texts.values())})
    spans = pl.DataFrame(
        [(doc_id, s.start, s.end, ENTITY, s.label, f"r{i}") for doc_id, found in entities.items() for i, s in enumerate(found)],
        schema={"doc_id": pl.String, "start": pl.Int64, "end": pl.Int64, "layer": pl.String, "label": pl.String, "region_id": pl.String},
        orient="row",
    )
    by_span_order = {d: sorted(found, key=lambda s: (s.start, s.end, s.label)) for d, found in entities.items()}
    try:
        expected = _reference(texts, by_span_order)
    except KhabarError as exc:
        with pytest.raises(KhabarError) as raised:
            token_table(documents, spans, SCHEME)
        assert str(raised.value) == str(exc)  # the same document and the same first entity named
        return
    table, alignment, _ = token_table(documents, spans, SCHEME)
    assert (table.to_pylist(), alignment) == expected
    # the spans as the build has them already placed (in span order) give the same rows
    assert token_table(documents, spans, SCHEME, placed=placed_spans(spans, SCHEME)).table.equals(table)
    assert sum(alignment.values()) == spans.height  # every entity counted, none dropped silently
