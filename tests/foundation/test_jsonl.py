"""The one JSON rendering (khabar.foundation.jsonl): dumps_document is json.dumps with indent 2, byte for byte."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from khabar.foundation import jsonl

SCALARS = st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text()
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=30)


def _reference(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


@settings(max_examples=500, deadline=None)
@given(VALUES)
def test_a_document_is_json_dumps_indented(value):
    """Any JSON value, with empty containers, exponents, NaN, lone surrogates and every Unicode character among them."""
    assert jsonl.dumps_document(value) == _reference(value)


@settings(max_examples=300, deadline=None)
@given(st.lists(VALUES, max_size=5))
def test_a_list_written_an_item_at_a_time_is_the_whole_documents_text(values):
    """What ``khabar validate --repair`` writes a task at a time is what ``json.dumps`` writes for the whole list."""
    assert "".join(jsonl.dumps_document_items(iter(values))) == _reference(values)


def test_the_values_json_and_msgspec_write_differently_are_jsons():
    value = {
        "floats": [1e16, 1e-07, 1e-05, 1.5e300, 5e-324, -0.0, 0.1, 1e22],
        "escaped": "\x00\x1f\x7f\"\\/\u2028\u0085 عربي \U0001f600",
        "empty": [{}, [], {"": []}],
        "big": 2**64 + 1,
    }
    text = jsonl.dumps_document(value)
    assert text == _reference(value)
    assert "1e-07" in text and "1e+16" in text  # Python's float repr, not msgspec's 1e-7, 1e16
    assert jsonl.dumps_document({"nan": math.nan, "inf": -math.inf}) == '{\n  "inf": -Infinity,\n  "nan": NaN\n}\n'
    assert jsonl.dumps_document(["\ud800"]) == '[\n  "\ud800"\n]\n'  # a lone surrogate: json writes it raw, msgspec cannot
    assert jsonl.dumps_document({10: 1, 9: 2}) == _reference({10: 1, 9: 2})  # int keys: sorted as ints, written as strings

