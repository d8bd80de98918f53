"""Agreement measures against known values, and the adjudication policy."""

from __future__ import annotations

import polars as pl
import pytest

import khabar_fixtures as fx
from annotation.tables import ANNOTATIONS, SPANS
from dataset.adjudicate import adjudicate
from dataset.agreement import agreement, krippendorff_alpha_nominal, prediction_quality
from dataset.inputs import from_tables


def test_alpha_matches_krippendorffs_textbook_example():
    """Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", nominal data with missing values: α = 0.743."""
    coders = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    units = [list(unit) for unit in zip(*coders)]
    assert krippendorff_alpha_nominal(units) == pytest.approx(0.743, abs=0.0005)


def test_alpha_is_one_for_perfect_agreement_and_undefined_without_variation():
    assert krippendorff_alpha_nominal([["a", "a"], ["b", "b"], ["a", "a"]]) == 1.0
    assert krippendorff_alpha_nominal([["a", "a"], ["a", "a"]]) is None


def test_span_f1_exact_and_overlap_on_the_two_annotators():
    inputs = from_tables(fx.tables("v1"))
    result = agreement(inputs, ("entity", "attribution", "zone"))
    # Asharq has two independent annotations; on RT one of the two is the ground truth, which is no independent pass
    assert (result.documents, result.pairs) == (1, 1)
    f1 = {(f.layer, f.label, f.match): f for f in result.f1}
    # Asharq: annotator 1 has ORG داعش twice (title, quote), annotator 2 has the title one and "(داعش)":
    # exact matches 1, overlap matches 2.
    assert (f1["entity", "ORG", "exact"].matched, f1["entity", "ORG", "overlap"].matched) == (1, 2)
    assert f1["entity", "ORG", "exact"].f1 == pytest.approx(2 * 1 / (2 + 2))
    assert f1["zone", "TITLE", "exact"].f1 == 1.0
    alpha = dict(result.alpha)
    assert alpha["attribution"] == 1.0
    assert 0 < alpha["entity"] < 1


def test_prediction_quality_counts_exact_matches_on_documents_with_both():
    inputs = from_tables(fx.tables("v1"))
    gold = adjudicate(inputs)
    entity = prediction_quality(inputs.predictions_spans, gold.spans, [fx.ASHARQ, fx.RT, fx.ALHURRA], ("entity",))[0]
    # the Asharq gold (majority) has GPE واشنطن, GPE بغداد, PERS ألينا رومانوفسكي, ORG داعش (title), OCC
    assert (entity.predicted, entity.gold, entity.correct) == (4, 5, 3)
    assert (entity.precision, entity.recall) == (0.75, 0.6)


def test_adjudication_policy():
    inputs = from_tables(fx.tables("v1"))
    gold = adjudicate(inputs)
    decisions = {d.doc_id: d for d in gold.decisions}
    assert decisions[fx.RT].policy == "ground_truth" and decisions[fx.RT].annotation_ids == (3,)
    assert decisions[fx.ALHURRA].policy == "single"
    assert decisions[fx.ALARAB].policy == "not_annotated"
    assert decisions[fx.ASHARQ].policy == "majority" and decisions[fx.ASHARQ].review
    asharq = gold.spans.filter(pl.col("doc_id") == fx.ASHARQ)
    labels = sorted(asharq["label"].to_list())
    # the disputed العراق (GPE vs LOC), the NORP and both forms of the second داعش are dropped
    assert labels == sorted(["TITLE", "GPE", "ORG", "CUE", "SOURCE", "CONTENT", "OCC", "GPE", "PERS"])
    assert set(asharq["region_id"]) <= {s for s in inputs.spans.filter(pl.col("annotation_id") == 1)["region_id"]}
    relations = gold.relations.filter(pl.col("doc_id") == fx.ASHARQ)
    assert sorted(relations["label"]) == ["cue", "source"] and set(relations["from_region"]) == {"q1"}
    rt = gold.spans.filter(pl.col("doc_id") == fx.RT)
    assert rt.height == 3 and "LOC" not in rt["label"].to_list()


def test_majority_of_three_keeps_what_two_agree_on():
    documents = fx.tables("v1").documents
    annotations = pl.DataFrame(
        [
            {"annotation_id": i, "task_id": 1, "doc_id": fx.ALARAB, "annotator": f"annotator-{i}", "created_at": "", "updated_at": "",
             "lead_time": 1.0, "was_cancelled": False, "ground_truth": False}
            for i in (1, 2, 3)
        ],
        schema=ANNOTATIONS,
    )
    text = dict(documents.select("doc_id", "text").iter_rows())[fx.ALARAB]
    start, end = fx.find(text, "بغداد")
    spans = pl.DataFrame(
        [
            {"annotation_id": i, "doc_id": fx.ALARAB, "region_id": f"r{i}", "layer": "entity", "label": label, "start": start, "end": end,
             "text": "بغداد", "quote_type": None}
            for i, label in ((1, "GPE"), (2, "GPE"), (3, "LOC"))
        ],
        schema=SPANS,
    )
    tables = fx.tables("v1")
    inputs = from_tables(
        fx.Tables(documents, annotations, spans, tables.relations.clear(), tables.predictions_spans.clear(), tables.predictions_relations)
    )
    gold = adjudicate(inputs)
    kept = gold.spans.filter(pl.col("doc_id") == fx.ALARAB)
    assert kept.select("label", "region_id").rows() == [("GPE", "r1")]
