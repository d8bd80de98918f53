"""The adjudication policy on hand-made annotations: majority spans and relations, ground truth, one annotator."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from khabar.foundation.tables import ANNOTATIONS, RELATIONS, SPANS, empty
from khabar.gold.adjudicate import adjudicate
from khabar.gold.inputs import KEYED, BuildInputs, from_tables
from tests.dataset import khabar_fixtures as fx

SOURCE = "وزارة الخارجية العراقية"
CONTENT = "نائب رئيس الوزراء"


def test_majority_keeps_what_most_drew_with_the_lowest_annotation_ids_regions():
    documents = fx.tables("v1").documents
    b = fx.Builder(documents)
    d = fx.ALARAB
    for aid, annotator, quote_type, place in ((7, "annotator-a", "direct", "GPE"), (5, "annotator-b", "direct", "LOC"), (9, "annotator-c", "indirect", "LOC")):
        b.annotation(aid, d, annotator)
        b.span(aid, d, f"s{aid}", "attribution", "SOURCE", SOURCE)
        b.span(aid, d, f"c{aid}", "attribution", "CONTENT", CONTENT, quote_type=quote_type)
        b.span(aid, d, f"g{aid}", "entity", place, "بغداد")
        b.relation(aid, d, f"c{aid}", f"s{aid}", "source")
    b.relation(7, d, "c7", "s7", "cue")  # drawn once
    b.relation(5, d, "g5", "s5", "source")
    b.relation(9, d, "g9", "s9", "source")
    gold = adjudicate(from_tables(b.tables(documents)))

    spans = gold.spans.filter(pl.col("doc_id") == d)
    # SOURCE by all three, direct CONTENT by 7 and 5, LOC by 5 and 9; annotation 5 lends its regions
    assert sorted(spans.select("label", "region_id", "quote_type").rows()) == [
        ("CONTENT", "c5", "direct"), ("LOC", "g5", None), ("SOURCE", "s5", None)
    ]
    relations = gold.relations.filter(pl.col("doc_id") == d)
    # the indirect CONTENT's relation (annotation 9) has no majority, nor has the cue
    assert sorted(relations.select("from_region", "to_region", "label").rows()) == [("c5", "s5", "source"), ("g5", "s5", "source")]
    decision = {x.doc_id: x for x in gold.decisions}[d]
    assert (decision.policy, decision.annotation_ids, decision.annotators, decision.review) == (
        "majority", (5, 7, 9), ("annotator-b", "annotator-a", "annotator-c"), True
    )
    assert decision.note == "kept 3 spans and 2 relations agreed by at least 2 of 3 annotators"


def test_latest_ground_truth_wins_and_one_annotators_latest_is_theirs():
    documents = fx.tables("v1").documents
    b = fx.Builder(documents)
    for aid, doc_id, annotator, ground_truth, updated_at in (
        (11, fx.RT, "annotator-a", True, "2026-02-02T00:00:00Z"),
        (12, fx.RT, "annotator-b", True, "2026-02-01T00:00:00Z"),
        (13, fx.RT, "annotator-c", False, "2026-02-03T00:00:00Z"),
        (14, fx.ALHURRA, "annotator-a", False, "2026-02-02T00:00:00Z"),
        (15, fx.ALHURRA, "annotator-a", False, "2026-02-01T00:00:00Z"),
    ):
        b.annotation(aid, doc_id, annotator, ground_truth=ground_truth)
        b.annotations[-1]["updated_at"] = updated_at
        b.span(aid, doc_id, f"b{aid}", "entity", "GPE", "بغداد")
    gold = adjudicate(from_tables(b.tables(documents)))

    decisions = {x.doc_id: x for x in gold.decisions}
    rt, alhurra = decisions[fx.RT], decisions[fx.ALHURRA]
    assert (rt.policy, rt.annotation_ids, rt.review, rt.note) == ("ground_truth", (11,), True, "2 annotations are marked ground_truth; the latest wins")
    assert (alhurra.policy, alhurra.annotation_ids, alhurra.review, alhurra.note) == ("single", (14,), False, "latest of one annotator's annotations")
    assert decisions[fx.ASHARQ].policy == "not_annotated"
    assert sorted(gold.spans["region_id"]) == ["b11", "b14"]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["d1", "d10", "d2", "ب", "أ"]), st.sampled_from(["entity", "attribution"]),
                          st.sampled_from(["PERS", "ORG", "CONTENT", "cue"]), st.integers(0, 9), st.sampled_from([None, "direct", "indirect"])), max_size=30))
def test_keyed_columns_group_and_sort_as_their_strings_and_come_back_unchanged(rows):
    spans = pl.DataFrame(
        [{"annotation_id": i, "doc_id": d, "region_id": f"r{i}", "layer": layer, "label": label, "start": start, "end": start + 1, "text": "x", "quote_type": qt}
         for i, (d, layer, label, start, qt) in enumerate(rows)],
        schema=SPANS,
    )
    documents = pl.DataFrame({"doc_id": sorted({d for d, *_ in rows})}, schema={"doc_id": pl.String})
    inputs = BuildInputs(documents, empty(ANNOTATIONS), spans, empty(RELATIONS), pl.DataFrame())
    keyed = inputs.keyed_spans
    assert all(isinstance(keyed[name].dtype, pl.Enum) for name in KEYED)
    assert keyed.with_columns(pl.col(name).cast(pl.String) for name in KEYED).equals(spans)
    order = ["doc_id", "layer", "label", "quote_type", "start"]
    assert keyed.sort(order, nulls_last=True)["annotation_id"].to_list() == spans.sort(order, nulls_last=True)["annotation_id"].to_list()
    grouped = keyed.group_by("doc_id", "layer", "label", "quote_type").len().with_columns(pl.col(name).cast(pl.String) for name in KEYED)
    assert grouped.sort(order[:4], nulls_last=True).equals(spans.group_by(order[:4]).len().sort(order[:4], nulls_last=True))
