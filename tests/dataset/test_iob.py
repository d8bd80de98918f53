"""Spans ↔ IOB2 tags: the round trip is exact, and misalignment raises."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from khabar.dataset.iob import AlignmentError, Span, decode_flat, decode_nested, nested_tags, outermost_first, outermost_tags
from khabar.dataset.segment import sentences, tokenize

LABELS = ["PERS", "ORG", "GPE", "OCC"]


def test_nested_example_like_wojood():
    text = "سفير السفارة الأميركية في بغداد قال"
    org = Span(text.index("السفارة"), text.index(" قال"), "ORG")
    gpe = Span(text.index("بغداد"), text.index(" قال"), "GPE")
    tokens = tokenize(text, {org.start, org.end, gpe.start, gpe.end})
    nested = nested_tags(tokens, [gpe, org], LABELS)
    assert nested == [["O"], ["B-ORG"], ["I-ORG"], ["I-ORG"], ["I-ORG", "B-GPE"], ["O"]]
    assert outermost_tags(nested) == ["O", "B-ORG", "I-ORG", "I-ORG", "I-ORG", "O"]
    assert decode_nested(tokens, nested) == [org, gpe]
    assert decode_flat(tokens, outermost_tags(nested)) == [org]


def test_arabic_punctuation_is_split_off():
    text = "قال،«داعش» انتهى؛ هل انتهى؟ نعم."
    words = [text[s:e] for s, e in tokenize(text)]
    assert words == ["قال", "،", "«", "داعش", "»", "انتهى", "؛", "هل", "انتهى", "؟", "نعم", "."]


def test_span_boundary_inside_a_word_cuts_the_token():
    text = "ببغداد اليوم"
    span = Span(1, 6, "GPE")  # the proclitic ب stays outside
    tokens = tokenize(text, {span.start, span.end})
    assert [text[s:e] for s, e in tokens] == ["ب", "بغداد", "اليوم"]
    assert decode_nested(tokens, nested_tags(tokens, [span])) == [span]


def test_misaligned_span_raises_instead_of_tagging_o():
    text = "ببغداد اليوم"
    with pytest.raises(AlignmentError, match="token boundaries"):
        nested_tags(tokenize(text), [Span(1, 6, "GPE")])


def test_crossing_spans_raise():
    with pytest.raises(AlignmentError, match="crosses"):
        nested_tags([(0, 1), (2, 3), (4, 5)], [Span(0, 3, "ORG"), Span(2, 5, "GPE")])


def test_bad_tag_sequences_raise():
    tokens = [(0, 1), (2, 3)]
    with pytest.raises(AlignmentError, match="continues no open"):
        decode_flat(tokens, ["O", "I-ORG"])
    with pytest.raises(AlignmentError, match="continues no open"):
        decode_flat(tokens, ["B-GPE", "I-ORG"])
    with pytest.raises(AlignmentError, match="begins here"):
        decode_nested(tokens, [["B-ORG", "B-GPE"], ["B-ORG", "I-GPE"]])


def test_sentences_never_cut_a_span():
    text = "قال د. أحمد إن الأمر انتهى. ثم غادر"
    span = Span(text.index("د."), text.index(" إن"), "PERS")  # "د. أحمد" holds a full stop
    tokens = tokenize(text, {span.start, span.end})
    groups = sentences(text, tokens, [(span.start, span.end)])
    assert [text[tokens[g[0]][0] : tokens[g[-1]][1]] for g in groups] == ["قال د. أحمد إن الأمر انتهى.", "ثم غادر"]
    assert len(sentences(text, tokens)) == 3  # without the span the abbreviation ends a sentence


def test_sentences_end_after_a_mark_or_at_a_line_break():
    text = "جاء؟ نعم\nذهب. ثم «عاد»\n\nانتهى…"
    tokens = tokenize(text)
    groups = sentences(text, tokens)
    assert [text[tokens[g[0]][0] : tokens[g[-1]][1]] for g in groups] == ["جاء؟", "نعم", "ذهب.", "ثم «عاد»", "انتهى…"]
    assert sentences("", []) == []


ALPHABET = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي٠١٢0123456789 \n،؛؟.,«»\"-"


@st.composite
def text_and_spans(draw):
    text = draw(st.text(alphabet=ALPHABET, min_size=1, max_size=80))
    candidates = draw(
        st.lists(
            st.tuples(st.integers(0, len(text)), st.integers(0, len(text)), st.sampled_from(LABELS)), max_size=12
        )
    )
    kept: list[Span] = []
    for a, b, label in candidates:
        start, end = min(a, b), max(a, b)
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        span = Span(start, end, label)
        if start == end or span in kept:
            continue
        if any(s.start < start < s.end < end or start < s.start < end < s.end for s in kept):
            continue  # would cross a kept span
        kept.append(span)
    return text, kept


@settings(max_examples=300, deadline=None)
@given(text_and_spans())
def test_round_trip_of_random_nested_spans(case):
    text, spans = case
    tokens = tokenize(text, {b for s in spans for b in (s.start, s.end)})
    decoded: list[Span] = []
    for sentence in sentences(text, tokens, [(s.start, s.end) for s in spans]):
        sent_tokens = [tokens[i] for i in sentence]
        inside = [s for s in spans if sent_tokens[0][0] <= s.start and s.end <= sent_tokens[-1][1]]
        nested = nested_tags(sent_tokens, inside, LABELS)
        decoded += decode_nested(sent_tokens, nested)
        # The outermost column alone gives back exactly the outermost spans.
        outer = [s for s in inside if not any(o != s and o.start <= s.start and s.end <= o.end and outermost_first([o, s], LABELS)[0] == o for o in inside)]
        assert sorted(decode_flat(sent_tokens, outermost_tags(nested))) == sorted(outer)
    assert sorted(decoded) == sorted(spans)
