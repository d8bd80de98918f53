"""Attribution and zone rules: their scores are their measured precision on the gold; the zone rules the gold taught."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from khabar.annotation.preannotate import rule_counts, rule_score, scored_rule_results
from khabar.annotation.scheme import load_scheme
from khabar.model.corpus import Alignment, Document, document_sentences
from khabar.model.evaluate import Labelled, gold_folds
from khabar.model.train import TrainConfig
from tests.model.model_support import SOURCE

EXPORTS = sorted((SOURCE / "annotation" / "exports").glob("*.json"))
DOCUMENTS = SOURCE / "annotation" / "corpus" / "documents.jsonl"


def _regions(text: str) -> list[Labelled]:
    return [
        Labelled(r["from_name"], r["value"]["labels"][0], r["value"]["start"], r["value"]["end"])
        for r in scored_rule_results(text)
        if r["type"] == "labels"
    ]


def _gold_pages(folder: Path) -> list[tuple[Document, list[Labelled]]]:
    """The gold pages as ``khabar evaluate`` reads them (every fold's, without the Wojood sample), by doc_id."""
    return sorted((page for fold in gold_folds(EXPORTS, DOCUMENTS, TrainConfig(), (), folder) for page in fold.held_out()), key=lambda page: page[0].doc_id)


def test_rule_scores_are_the_rules_precision_measured_on_the_gold_again(tmp_path):
    exact: Counter[str] = Counter()
    predicted: Counter[str] = Counter()
    for document, gold in _gold_pages(tmp_path):
        truth = set(gold)
        for region in set(_regions(document.text)):
            predicted[region.label] += 1
            exact[region.label] += region in truth
    assert {label: (exact[label], predicted[label]) for label in predicted} == rule_counts()


def test_every_rule_region_carries_its_rule_score_and_no_entity_comes_from_rules():
    text = "قال الوزير أحمد إن «الحكومة ستواصل العمل على الإصلاح» في بغداد.\n"
    results = scored_rule_results(text)
    regions = [r for r in results if r["type"] == "labels"]
    assert regions and not any(r["from_name"] == "entity" for r in regions)
    for region in regions:
        assert region["score"] == rule_score(*rule_counts()[region["value"]["labels"][0]])
        assert 0.0 < region["score"] < 1.0


def test_rule_score_is_smoothed():
    assert rule_score(9, 9) == 0.909 and rule_score(0, 0) == 0.5


def _zones(text: str) -> list[tuple[str, str]]:
    return [(z.label, text[z.start : z.end]) for z in _regions(text) if z.layer == "zone"]


BODY = "يعتزم العراق المشاركة في مؤتمر التحالف الدولي ضد تنظيم داعش المقرر عقده في العاصمة الأميركية خلال الشهر المقبل."


def test_furniture_lines_headline_subheadline_and_repetitions():
    text = f"الحرة:\n2025-03-29@01:10:57 GMT\n\nعنوان الخبر الرئيسي هنا\nعنوان فرعي قصير\n\nتقارير\n{BODY}\n\nعنوان الخبر الرئيسي هنا\n{BODY}"
    assert _zones(text) == [
        ("META", "الحرة"),
        ("META", "2025-03-29@01:10:57 GMT"),
        ("TITLE", "عنوان الخبر الرئيسي هنا"),
        ("TITLE", "عنوان فرعي قصير"),
        ("META", "تقارير"),
        ("TITLE", "عنوان الخبر الرئيسي هنا"),
    ]


def test_caption_copies_lose_the_final_parenthesis_and_a_dateline_place_is_meta():
    caption = "الرئيس يستقبل السفيرة في بغداد (إكس)"
    text = f"عنوان الخبر\n\n{caption}\n{caption}\n\nبغداد - {BODY}"
    assert _zones(text) == [
        ("TITLE", "عنوان الخبر"),
        ("CAPTION", "الرئيس يستقبل السفيرة في بغداد (إكس"),
        ("CAPTION", "الرئيس يستقبل السفيرة في بغداد (إكس"),
        ("META", "بغداد"),
    ]


def test_a_crosshead_between_paragraphs_is_a_title():
    text = f"عنوان الخبر\n{BODY}\nالعراق يرد على تغريدة السفارة\n{BODY}"
    assert ("TITLE", "العراق يرد على تغريدة السفارة") in _zones(text)


def test_evaluate_holds_out_the_gold_read_a_range_at_a_time_in_folds_that_each_model_never_learnt_from(tmp_path, monkeypatch, small_ranges):
    """``khabar evaluate`` reads the committed gold a range of documents at a time, as the build does, into folds: in
    ranges of two documents and two folds, the pages are the gold of the tables adjudicated whole (every annotated
    page with its text, its entities in order, every span of every layer), each in the fold of its place in doc_id
    order, and each fold's model learns from exactly the other fold's sentences."""
    from khabar.gold.adjudicate import Policy, adjudicate
    from khabar.gold.load import load_inputs
    from khabar.model import evaluate as evaluate_module

    whole = load_inputs(EXPORTS, DOCUMENTS)
    gold = adjudicate(whole)
    texts = dict(whole.documents.select("doc_id", "text").iter_rows())
    annotated = sorted(d.doc_id for d in gold.decisions if d.policy is not Policy.NOT_ANNOTATED)
    spans = sorted(gold.spans.select("doc_id", "layer", "label", "start", "end").iter_rows())
    entity = load_scheme().entity.name

    adjudicated = small_ranges(2)
    monkeypatch.setattr(evaluate_module, "FOLDS", 2)
    folds = gold_folds(EXPORTS, DOCUMENTS, TrainConfig(), (), tmp_path)
    assert len(adjudicated) == len(whole.ranges(documents=2, spans=10**9)) > 2 and max(adjudicated) <= 2
    held_out = [list(fold.held_out()) for fold in folds]
    assert [[d.doc_id for d, _ in pages] for pages in held_out] == [annotated[0::2], annotated[1::2]] and len(annotated) > 2
    assert [fold.count for fold in folds] == [len(pages) for pages in held_out]

    pages = sorted((page for pages in held_out for page in pages), key=lambda page: page[0].doc_id)
    assert all(d.text == texts[d.doc_id] for d, _ in pages)
    assert [(d.doc_id, e.start, e.end, e.label) for d, _ in pages for e in d.entities] == [
        (doc_id, start, end, label) for doc_id, layer, label, start, end in gold.spans.select("doc_id", "layer", "label", "start", "end").iter_rows() if layer == entity
    ]
    assert sorted((d.doc_id, s.layer, s.label, s.start, s.end) for d, found in pages for s in found) == spans

    def sentences(pages):
        return [s for d, _ in pages for s in document_sentences(d, Alignment(), split_proclitics=True)]

    for fold, other in zip(folds, reversed(held_out)):
        assert fold.data.sentences == sentences(other) and fold.data.sources == {"gold": len(sentences(other))}
