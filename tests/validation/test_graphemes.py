"""Rule span_whole_graphemes and its repair: a span never cuts a letter from its marks.

What counts as "belonging to the letter before": every Unicode M* character
(harakat, shadda, tanween, superscript alef, variation selectors), ZWNJ and ZWJ,
and the emoji skin-tone modifiers. Offset 0 is always a boundary.
"""

from __future__ import annotations

import json
import unicodedata

import pytest

from khabar.annotation.normalize import normalize_text
from khabar.validation.api import validate_exports
from khabar.validation.clusters import extends_cluster, widen_to_clusters

SHADDA, DAMMATAN, SUPERSCRIPT_ALEF, VS16, ZWJ, ZWNJ = "\u0651", "\u064c", "\u0670", "\ufe0f", "\u200d", "\u200c"
TEXT = normalize_text("قال محمّدٌ إن هٰذا الأمرَ جرى في بغدادَ ❤️ أمس.")


def record(text: str) -> dict:
    from khabar.annotation.ingest import doc_id_for

    return {"doc_id": doc_id_for(text), "file": "marks.txt", "language": "ar", "published": None, "published_evidence": "undated",
            "source": "s", "story": "s", "superseded_by": None, "text": text, "title": "t", "url": None}


def export(text: str, spans: list[tuple[str, int, int]]) -> list[dict]:
    result = [
        {"from_name": "entity", "id": rid, "to_name": "text", "type": "labels",
         "value": {"start": start, "end": end, "labels": ["PERS"], "text": text[start:end]}}
        for rid, start, end in spans
    ]
    doc = record(text)
    annotation = {"completed_by": {"pseudonym": "annotator-1"}, "id": 1, "result": result, "was_cancelled": False, "ground_truth": False}
    return [{"id": 1, "data": {"doc_id": doc["doc_id"], "text": text}, "annotations": [annotation]}]


@pytest.fixture
def files(tmp_path):
    def write(text: str, spans: list[tuple[str, int, int]]):
        documents = tmp_path / "documents.jsonl"
        documents.write_text(json.dumps(record(text), ensure_ascii=False) + "\n", encoding="utf-8")
        path = tmp_path / "export.json"
        path.write_text(json.dumps(export(text, spans), ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path, documents

    return write


def failing(path, documents) -> dict[str, str]:
    result = validate_exports([path], documents)
    return {f.region_id: f.message for f in result.failures if f.check == "span_whole_graphemes"}


def test_the_text_holds_each_kind_of_mark():
    for mark in (SHADDA, DAMMATAN, SUPERSCRIPT_ALEF, VS16):
        assert mark in TEXT and unicodedata.category(mark).startswith("M")


def test_every_kind_of_cut_is_an_error_and_whole_clusters_pass(files):
    name = TEXT.index("محمّدٌ")
    this = TEXT.index("هٰذا")
    heart = TEXT.index("❤")
    path, documents = files(TEXT, [
        ("whole", name, name + 6),
        ("on-shadda", name + 3, name + 6),
        ("before-tanween", name, name + 5),
        ("before-superscript-alef", this, this + 1),
        ("before-vs16", heart, heart + 1),
        ("whole-heart", heart, heart + 2),
    ])
    found = failing(path, documents)
    assert set(found) == {"on-shadda", "before-tanween", "before-superscript-alef", "before-vs16"}
    assert "U+0651 ARABIC SHADDA" in found["on-shadda"]
    assert "U+064C ARABIC DAMMATAN" in found["before-tanween"]
    assert "U+0670 ARABIC LETTER SUPERSCRIPT ALEF" in found["before-superscript-alef"]
    assert "U+FE0F VARIATION SELECTOR-16" in found["before-vs16"]


@pytest.mark.parametrize("joiner", [ZWJ, ZWNJ])
def test_a_span_ending_before_a_joiner_cuts_the_cluster(files, joiner):
    text = normalize_text(f"زار مي{joiner}خانه أمس.")
    at = text.index(joiner)
    path, documents = files(text, [("before-joiner", 4, at), ("with-joiner", 4, at + 1)])
    assert set(failing(path, documents)) == {"before-joiner"}


def test_a_text_that_begins_with_a_mark_may_start_a_span_there(files):
    text = SHADDA + "بغداد آمنة."
    path, documents = files(text, [("at-zero", 0, 6)])
    assert failing(path, documents) == {}


def test_repair_widens_to_whole_letters_and_the_result_is_clean(files, khabar):
    name = TEXT.index("محمّدٌ")
    path, documents = files(TEXT, [("cut", name + 3, name + 5)])
    run = khabar("validate", "--repair", path, "--documents", documents)
    assert run.status == 0, run.out + run.err
    assert f"region cut: widened to whole letters with their marks: {name + 3}-{name + 5} → {name + 2}-{name + 6}" in run.err
    value = json.loads(path.read_text(encoding="utf-8"))[0]["annotations"][0]["result"][0]["value"]
    assert (value["start"], value["end"], value["text"]) == (name + 2, name + 6, "مّدٌ")


def test_the_python_and_polars_sets_agree():
    import polars as pl

    from khabar.validation.clusters import CLUSTER_EXTEND

    samples = [SHADDA, DAMMATAN, SUPERSCRIPT_ALEF, VS16, ZWJ, ZWNJ, "\U0001f3fd", "\u0300", "ب", "ـ", "\u200f", " ", "\U0001f1ee"]
    by_polars = pl.Series(samples).str.contains(f"^{CLUSTER_EXTEND}$").to_list()
    assert by_polars == [extends_cluster(c) for c in samples] == [True] * 8 + [False] * 5


def test_widening_stops_at_a_line_break():
    text = "بغداد\n" + SHADDA + "آمنة"
    assert widen_to_clusters(6, 8, text) is None
    assert widen_to_clusters(1, 3, "م" + SHADDA + "د" + DAMMATAN) == (0, 4)
