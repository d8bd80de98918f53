"""Tables-shaped fixtures over the real corpus: what validation hands the builder.

Spans are placed by finding phrases in the real documents, so every offset is
true to the text. ``tables("v1")`` holds a document labeled by two annotators
(majority), one with a ground-truth annotation beside another, one with a single
annotation, stored pre-annotations, and two documents nobody labeled;
``tables("v2")`` adds a document and changes spans, for ``khabar diff``.
"""

from __future__ import annotations

import polars as pl

from khabar.foundation.paths import repo
from khabar.foundation.tables import ANNOTATIONS, RELATIONS, SPANS
from khabar.gold.inputs import BUILDER_PREDICTION_SPANS, documents_table
from khabar.validation.reader import Tables

ASHARQ, RT, ALHURRA, ALARAB, SHAFAQ = "81ec20757aeac4d6", "c59ea302dcd9b174", "bdd1f7aa27f45812", "e652f16ef741cb5b", "c6d8bd2b5d138340"


def find(text: str, phrase: str, after: str = "", nth: int = 0) -> tuple[int, int]:
    """Offsets of the ``nth`` occurrence of ``phrase`` after the first occurrence of ``after``."""
    start = text.index(after) if after else 0
    for _ in range(nth + 1):
        start = text.index(phrase, start)
        found = start
        start += 1
    return found, found + len(phrase)


class Builder:
    def __init__(self, documents: pl.DataFrame) -> None:
        self.texts = dict(documents.select("doc_id", "text").iter_rows())
        self.annotations: list[dict] = []
        self.spans: list[dict] = []
        self.relations: list[dict] = []
        self.predictions: list[dict] = []

    def annotation(self, aid: int, doc_id: str, annotator: str, *, ground_truth: bool = False) -> None:
        self.annotations.append(
            {"annotation_id": aid, "task_id": 100 + aid, "doc_id": doc_id, "annotator": annotator,
             "created_at": f"2026-01-0{aid}T10:00:00Z", "updated_at": f"2026-01-0{aid}T11:00:00Z",
             "lead_time": 30.0 * aid, "was_cancelled": False, "ground_truth": ground_truth}
        )

    def span(self, aid: int, doc_id: str, region: str, layer: str, label: str, phrase: str, *, after: str = "", nth: int = 0, quote_type: str | None = None) -> None:
        start, end = find(self.texts[doc_id], phrase, after, nth)
        self.spans.append({"annotation_id": aid, "doc_id": doc_id, "region_id": region, "layer": layer, "label": label,
                           "start": start, "end": end, "text": phrase, "quote_type": quote_type})

    def relation(self, aid: int, doc_id: str, from_region: str, to_region: str, label: str) -> None:
        self.relations.append({"annotation_id": aid, "doc_id": doc_id, "from_region": from_region, "to_region": to_region, "label": label})

    def prediction(self, doc_id: str, layer: str, label: str, phrase: str, *, after: str = "", nth: int = 0) -> None:
        start, end = find(self.texts[doc_id], phrase, after, nth)
        self.predictions.append({"doc_id": doc_id, "model_version": "gazetteer-1", "layer": layer, "label": label, "start": start, "end": end})

    def tables(self, documents: pl.DataFrame) -> Tables:
        return Tables(
            documents=documents,
            annotations=pl.DataFrame(self.annotations, schema=ANNOTATIONS),
            spans=pl.DataFrame(self.spans, schema=SPANS),
            relations=pl.DataFrame(self.relations, schema=RELATIONS),
            predictions_spans=pl.DataFrame(self.predictions, schema=BUILDER_PREDICTION_SPANS),
            predictions_relations=pl.DataFrame(schema={"doc_id": pl.String}),
        )


QUOTE = "تنظيم (داعش) لا يزال يشكل تهديدا في العراق"
SPEAKER = "السفيرة الأميركية في بغداد ألينا رومانوفسكي"
SAID = "قالت السفيرة"


def asharq_version(b: Builder, aid: int, annotator: str, *, variant: int) -> None:
    d = ASHARQ
    title = "سفيرة واشنطن: التحالف ضد «داعش» لم ينتهِ عمله بالعراق"
    b.annotation(aid, d, annotator)
    b.span(aid, d, f"t{aid}", "zone", "TITLE", title)
    b.span(aid, d, f"w{aid}", "entity", "GPE", "واشنطن")
    b.span(aid, d, f"d{aid}", "entity", "ORG", "داعش")
    b.span(aid, d, f"i{aid}", "entity", "GPE" if variant == 1 else "LOC", "العراق")
    b.span(aid, d, f"cue{aid}", "attribution", "CUE", "قالت", after=SAID)
    b.span(aid, d, f"src{aid}", "attribution", "SOURCE", SPEAKER, after=SAID)
    b.span(aid, d, f"q{aid}", "attribution", "CONTENT", QUOTE, after=SAID, quote_type="direct")
    b.span(aid, d, f"occ{aid}", "entity", "OCC", "السفيرة الأميركية في بغداد", after=SAID)
    b.span(aid, d, f"bg{aid}", "entity", "GPE", "بغداد", after=SAID)
    b.span(aid, d, f"per{aid}", "entity", "PERS", "ألينا رومانوفسكي", after=SAID)
    if variant == 1:
        b.span(aid, d, f"norp{aid}", "entity", "NORP", "الأميركية", after=SAID)
        b.span(aid, d, f"isis{aid}", "entity", "ORG", "داعش", after=SAID)
    else:
        b.span(aid, d, f"isis{aid}", "entity", "ORG", "(داعش)", after=SAID)  # overlaps annotator 1's span
    b.relation(aid, d, f"q{aid}", f"src{aid}", "source")
    b.relation(aid, d, f"q{aid}", f"cue{aid}", "cue")


def tables(version: str = "v1") -> Tables:
    documents = documents_table(repo().documents_file)
    if version == "v1":
        documents = documents.filter(pl.col("doc_id") != SHAFAQ)
    b = Builder(documents)
    asharq_version(b, 1, "annotator-1", variant=1)
    asharq_version(b, 2, "annotator-2", variant=2)
    b.prediction(ASHARQ, "entity", "GPE", "واشنطن")
    b.prediction(ASHARQ, "entity", "GPE", "بغداد", after=SAID)
    b.prediction(ASHARQ, "entity", "PERS", "ألينا رومانوفسكي", after=SAID)
    b.prediction(ASHARQ, "entity", "ORG", "التحالف")
    # RT: a ground-truth annotation beside an ordinary one
    b.annotation(3, RT, "annotator-1", ground_truth=True)
    b.span(3, RT, "rt-b", "entity", "GPE", "بغداد")
    b.span(3, RT, "rt-d", "entity", "ORG", "داعش")
    b.span(3, RT, "rt-w", "entity", "GPE", "واشنطن")
    b.annotation(4, RT, "annotator-2")
    b.span(4, RT, "rt2-b", "entity", "LOC", "بغداد")
    # Alhurra: a single annotation
    b.annotation(5, ALHURRA, "annotator-2")
    b.span(5, ALHURRA, "ah-b", "entity", "GPE", "بغداد")
    b.span(5, ALHURRA, "ah-t", "entity", "ORG" if version == "v1" else "NORP", "التحالف")
    if version == "v1":
        b.span(5, ALHURRA, "ah-i", "entity", "GPE", "العراق")
    else:
        b.annotation(6, ALARAB, "annotator-1")
        b.span(6, ALARAB, "aa-b", "entity", "GPE", "بغداد")
    return b.tables(documents)
