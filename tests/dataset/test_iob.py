"""Spans ↔ IOB2 tags: the round trip is exact, and misalignment raises."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from khabar.dataset.iob import ALIGNMENTS, AlignmentError, Span, align, align_all, decode_flat, decode_nested, nested_tags, outermost_first, outermost_tags
from khabar.dataset.segment import CodePoints, sentences, tokenize, tokens

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


def sentence_of(groups: list[range]) -> list[int]:
    return [index for index, group in enumerate(groups) for _ in group]


def test_sentences_ignore_spans_and_an_entity_over_a_break_is_left_out():
    text = "قال د. أحمد إن الأمر انتهى. ثم غادر إلى bit.ly هنا"
    tokens = tokenize(text)
    groups = sentences(text, tokens)
    # a full stop after a single letter (an abbreviation) or before a Latin small letter ends no sentence
    assert [text[tokens[g[0]][0] : tokens[g[-1]][1]] for g in groups] == ["قال د. أحمد إن الأمر انتهى.", "ثم غادر إلى bit.ly هنا"]
    across = Span(text.index("الأمر"), text.index(" غادر"), "EVENT")
    [placed] = align(tokens, sentence_of(groups), [across], LABELS)
    assert (placed.span, placed.how) == (None, "across_sentences")


def test_a_proclitic_is_not_cut_off_and_the_whole_token_is_tagged():
    text = "حاجة لتحالف ومنهم ببغداد"
    coalition = Span(text.index("تحالف"), text.index(" ومنهم"), "ORG")  # the guidelines keep ل outside
    baghdad = Span(text.index("بغداد"), len(text), "GPE")
    tokens = tokenize(text)
    assert [text[s:e] for s, e in tokens] == ["حاجة", "لتحالف", "ومنهم", "ببغداد"]
    groups = sentences(text, tokens)
    placed = align(tokens, sentence_of(groups), [coalition, baghdad], LABELS)
    assert [(p.span, p.how) for p in placed] == [
        (Span(text.index("لتحالف"), coalition.end, "ORG"), "widened"),
        (Span(text.index("ببغداد"), len(text), "GPE"), "widened"),
    ]
    assert nested_tags(tokens, [p.span for p in placed], LABELS) == [["O"], ["B-ORG"], ["O"], ["B-GPE"]]


def test_a_number_is_one_token_and_its_point_ends_no_sentence():
    text = "بـ3.8 مليار دولار. و1,000 جندي"
    tokens = tokenize(text)
    assert [text[s:e] for s, e in tokens] == ["بـ3.8", "مليار", "دولار", ".", "و1,000", "جندي"]
    assert len(sentences(text, tokens)) == 2


def test_widened_spans_that_coincide_or_cross_are_left_out_and_said_so():
    text = "أبوظبي الحديثة"
    tokens = tokenize(text)
    groups = sentences(text, tokens)
    first, second = Span(0, 3, "GPE"), Span(3, 6, "GPE")  # two entities in one token
    holding = Span(4, 14, "ORG")  # from inside the first token to the end: holds the widened GPE
    placed = align(tokens, sentence_of(groups), [first, second], LABELS)
    assert [p.how for p in placed] == ["widened", "merged"]
    placed = align(tokens, sentence_of(groups), [first, holding], LABELS)
    assert [(p.span, p.how) for p in placed] == [(Span(0, 6, "GPE"), "widened"), (Span(0, 14, "ORG"), "widened")]
    text = "الف بابا جيم"
    tokens = tokenize(text)
    groups = sentences(text, tokens)
    # side by side in the text, but both inside the token بابا: widened, they would cross there
    placed = align(tokens, sentence_of(groups), [Span(0, 6, "GPE"), Span(6, 12, "ORG")], LABELS)
    assert [(p.span, p.how) for p in placed] == [(Span(0, 8, "GPE"), "widened"), (None, "crossing")]


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
def test_round_trip_of_random_nested_spans_on_tokens_cut_at_their_boundaries(case):
    text, spans = case
    tokens = tokenize(text, {b for s in spans for b in (s.start, s.end)})
    if not tokens:
        return
    nested = nested_tags(tokens, spans, LABELS)
    assert sorted(decode_nested(tokens, nested)) == sorted(spans)
    # The outermost column alone gives back exactly the outermost spans.
    outer = [s for s in spans if not any(o != s and o.start <= s.start and s.end <= o.end and outermost_first([o, s], LABELS)[0] == o for o in spans)]
    assert sorted(decode_flat(tokens, outermost_tags(nested))) == sorted(outer)


@settings(max_examples=300, deadline=None)
@given(text_and_spans())
def test_random_spans_map_onto_the_texts_own_tokens(case):
    text, spans = case
    tokens = tokenize(text)
    assert tokens == tokenize(text)  # nothing but the text decides the tokens
    groups = sentences(text, tokens)
    spans = [s for s in spans if any(a < s.end and s.start < b for a, b in tokens)]  # validation lets no span over white space alone through
    placed = align(tokens, sentence_of(groups), spans, LABELS)
    assert [p.entity for p in placed] == spans and all(p.how in ALIGNMENTS for p in placed)
    kept = []
    for p in placed:
        if p.how in ("exact", "widened"):
            # the smallest run of whole tokens that holds the entity
            assert p.span.start <= p.entity.start < p.span.end and p.span.start < p.entity.end <= p.span.end
            assert (p.how == "exact") == (p.span == p.entity)
            assert (p.span.start, p.span.end) in {(a, b) for a, _ in tokens for _, b in tokens}
            kept.append(p.span)
        else:
            assert p.span is None
    decoded = []
    for group in groups:
        sent_tokens = [tokens[i] for i in group]
        inside = [s for s in kept if sent_tokens[0][0] <= s.start and s.end <= sent_tokens[-1][1]]
        decoded += decode_nested(sent_tokens, nested_tags(sent_tokens, inside, LABELS))
    assert sorted(decoded) == sorted(set(kept))


@st.composite
def nested_entities(draw):
    """Texts of words and the entities over them: mostly spans that nest (each inside the one before, or after
    it), starting or ending inside words now and then, repeated, and sometimes crossing."""
    texts, entities = [], []
    for _ in range(draw(st.integers(1, 4))):
        words = draw(st.lists(st.sampled_from(["ال", "ب", "عراق", "قال", "في", "و", "."]), min_size=1, max_size=25))
        text = " ".join(words)
        found = []
        for _ in range(draw(st.integers(0, 12))):
            start = draw(st.integers(0, len(text) - 1))
            if found and draw(st.booleans()):  # inside the last span
                last = found[-1]
                start = draw(st.integers(last.start, last.end - 1))
                end = draw(st.integers(start + 1, last.end))
            else:
                end = draw(st.integers(start + 1, len(text)))
            found.append(Span(start, end, draw(st.sampled_from(LABELS))))
        texts.append(text)
        entities.append(found)
    return texts, entities


@settings(max_examples=500, deadline=None)
@given(nested_entities())
def test_align_all_is_align_of_each_text(case):
    """Aligning every text at once (numpy, and the stack only for the texts where spans cross) equals :func:`align` text by text."""
    texts, entities = case
    found = tokens(CodePoints.of(pl.Series(texts, dtype=pl.String)))
    expected, spans = [], []
    for number, (text, of_text) in enumerate(zip(texts, entities)):
        offsets = tokenize(text)
        of_text = [s for s in of_text if any(a < s.end and s.start < b for a, b in offsets)]
        expected += align(offsets, sentence_of(sentences(text, offsets)), of_text, LABELS)
        spans += [(number, *s) for s in of_text]
    frame = pl.DataFrame(spans, schema={"text": pl.UInt32, "start": pl.Int64, "end": pl.Int64, "label": pl.String}, orient="row")
    aligned = align_all(found, frame, [f"d{i}" for i in range(len(texts))], LABELS)
    assert [ALIGNMENTS[how] for how in aligned.how] == [a.how for a in expected]
    kept = [a.span for a in expected if a.span is not None]
    assert [(int(found.start[f]), int(found.end[e])) for f, e in zip(aligned.first, aligned.last)] == [(s.start, s.end) for s in kept]
    # the depth is the number of kept spans of the text that hold the span and come before it in outermost order
    text_of = [t for t, a in zip(frame["text"].to_list(), expected) if a.span is not None]
    for span, text, depth in zip(kept, text_of, aligned.depth.tolist()):
        ordered = outermost_first([k for k, t in zip(kept, text_of) if t == text], LABELS)
        holders = [k for k in ordered[: ordered.index(span)] if k.start <= span.start and span.end <= k.end]
        assert depth == len(holders)
