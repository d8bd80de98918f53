"""The ``normalized`` column of the entities, computed for every span at once, is :func:`standalone_form` of each span."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from khabar.dataset.configs import with_standalone_forms
from khabar.kb.normalise import standalone_form

#: ل and its article, other Arabic letters, a space and a line break: every case of rule B4.
TEXTS = st.text(alphabet="للاعراقب \n", max_size=20)


@st.composite
def spans_of_texts(draw):
    texts = {f"d{i}": draw(TEXTS) for i in range(draw(st.integers(1, 4)))}
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        doc_id = draw(st.sampled_from([*texts, "not-a-document"]))
        text = texts.get(doc_id, "")
        start = draw(st.integers(0, len(text)))
        rows.append((doc_id, start, text[start : draw(st.integers(start, len(text)))] or draw(TEXTS)))
    return texts, rows


@settings(max_examples=300, deadline=None)
@given(spans_of_texts())
def test_with_standalone_forms_is_standalone_form_of_each_span(case):
    texts, rows = case
    documents = pl.DataFrame({"doc_id": list(texts), "text": list(texts.values())})
    spans = pl.DataFrame(rows, schema={"doc_id": pl.String, "start": pl.Int64, "text": pl.String}, orient="row")
    got = with_standalone_forms(spans, documents)
    assert got.drop("normalized").equals(spans)  # offsets and texts untouched
    assert got["normalized"].to_list() == [standalone_form(text, texts.get(doc_id, "")[max(start - 1, 0) : start]) for doc_id, start, text in rows]
