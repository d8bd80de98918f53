"""``khabar.validation.tag_check``: which IOB2 tag sequences ``khabar validate --dataset`` refuses, judged against spaCy.

spaCy is the independent reader: a ``Doc`` given a sequence of IOB tags reads its entities from them, and refuses
(E093, ``I`` without ``B``) or rewrites (``O I-X`` and ``B-X I-Y`` become ``… B-…``) a sequence that is not well
formed. A flat column is ill formed exactly where spaCy does not read its tags as given; a nested column where one of
its levels is (a token without that level read as ``O``), or where an inner entity does not lie inside its outer one.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from khabar.annotation.tags import OUTSIDE, tag_names
from khabar.validation.tag_check import TagColumn, Tags, ill_formed

spacy = pytest.importorskip("spacy", reason="spaCy is pinned in the test extra")

LABELS = ("GPE", "ORG")
NAMES = tag_names(LABELS)
VOCAB = spacy.blank("xx").vocab


def spacy_reads_as_given(tags: list[str]) -> bool:
    """Whether spaCy takes ``tags`` as they are: it reads their entities and keeps every token's tag."""
    from spacy.tokens import Doc

    doc = Doc(VOCAB, words=["w"] * len(tags), ents=tags)
    try:
        list(doc.ents)
    except ValueError:  # E093: an I with no B before it
        return False
    return [token.ent_iob_ + (f"-{token.ent_type_}" if token.ent_type_ else "") for token in doc] == tags


def flagged(rows: list, nested: bool) -> set[int]:
    """The rows ``ill_formed`` names, of a column of tag names."""
    column = TagColumn("tags", nested, tuple(NAMES))
    kind = pa.list_(pa.list_(pa.int64())) if nested else pa.list_(pa.int64())
    ids = [[[NAMES.index(tag) for tag in token] for token in row] if nested else [NAMES.index(tag) for tag in row] for row in rows]
    return {row for row, _ in ill_formed(Tags.of(pa.array(ids, kind), column), NAMES)}


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(st.lists(st.lists(st.sampled_from(NAMES), max_size=6), max_size=5))
def test_a_flat_column_is_ill_formed_exactly_where_spacy_does_not_read_its_tags_as_given(rows):
    assert flagged(rows, nested=False) == {i for i, row in enumerate(rows) if not spacy_reads_as_given(row)}


def nested_ill_formed(tokens: list[list[str]]) -> bool:
    """A token without a tag or with ``O`` beside others; a level spaCy does not read as given; or an ``I`` inside an
    entity that begins at its token (the inner entity would begin before its outer one)."""
    if any(not tags or (OUTSIDE in tags and len(tags) > 1) for tags in tokens):
        return True
    levels = max((len(tags) for tags in tokens), default=0)
    if any(not spacy_reads_as_given([tags[level] if level < len(tags) else OUTSIDE for tags in tokens]) for level in range(levels)):
        return True
    return any(tags[level].startswith("I-") and not tags[level - 1].startswith("I-") for tags in tokens for level in range(1, len(tags)))


#: a token's tags as a builder writes them (O alone, else entities', outermost first), and a few it never writes
TOKEN_TAGS = st.one_of(st.just([OUTSIDE]), st.lists(st.sampled_from(NAMES[1:]), min_size=1, max_size=3), st.lists(st.sampled_from(NAMES), max_size=3))


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(st.lists(st.lists(TOKEN_TAGS, max_size=5), max_size=4))
def test_a_nested_column_is_ill_formed_where_a_level_is_or_an_inner_entity_begins_before_its_outer_one(rows):
    assert flagged(rows, nested=True) == {i for i, row in enumerate(rows) if nested_ill_formed(row)}


#: well-formed nested sentences a build writes: entities nested two deep, side by side, of one label after another
WELL_FORMED = [
    [["B-ORG", "B-GPE"], ["I-ORG", "I-GPE"], ["I-ORG"], ["O"]],
    [["B-ORG"], ["I-ORG", "B-GPE"], ["I-ORG", "I-GPE"], ["B-GPE"], ["B-GPE"], ["I-GPE"]],
    [["B-GPE", "B-GPE"], ["I-GPE", "I-GPE", "B-ORG"], ["I-GPE"]],
    [],
]


def test_what_a_build_writes_is_well_formed():
    assert flagged(WELL_FORMED, nested=True) == set()
    assert flagged([[tags[0] for tags in row] for row in WELL_FORMED], nested=False) == set()
