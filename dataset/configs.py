"""The rows of the three configs (DESIGN.md §5), as plain dicts with label names.

``documents``: one row per document (or per document and annotator); ``tokens``:
one row per sentence with IOB2 tags; ``quotes``: one row per quoted CONTENT with
the spans its relations point at. Row order is fixed: documents by id, then
sentences, then quotes by position.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from annotation.errors import KhabarError
from annotation.scheme import Scheme
from dataset.features import NER_LAYER, column_of
from dataset.iob import AlignmentError, Span, nested_tags, outermost_tags
from dataset.segment import sentences, tokenize

DOCUMENT_FIELDS = ("text", "source", "published", "title", "url", "story")


def _spans_by_doc(spans: pl.DataFrame) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for row in spans.sort(["doc_id", "start", "end", "layer", "label", "region_id"]).iter_rows(named=True):
        grouped.setdefault(row["doc_id"], []).append(row)
    return grouped


def _relations_by_doc(relations: pl.DataFrame) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for row in relations.sort(["doc_id", "from_region", "to_region", "label"]).iter_rows(named=True):
        grouped.setdefault(row["doc_id"], []).append(row)
    return grouped


def document_row(document: dict, spans: list[dict], relations: list[dict], scheme: Scheme) -> dict:
    row = {"id": document["doc_id"]} | {name: document[name] for name in DOCUMENT_FIELDS}
    for layer in scheme.layers:
        choices = [c.name for c in scheme.region_choices if c.layer == layer.name]
        row[column_of(layer.name)] = [
            {"id": s["region_id"], "start": s["start"], "end": s["end"], "label": s["label"], "text": s["text"]}
            | {name: s[name] for name in choices}
            for s in spans
            if s["layer"] == layer.name
        ]
    row["relations"] = [{"from_id": r["from_region"], "to_id": r["to_region"], "label": r["label"]} for r in relations]
    return row


def document_rows(documents: pl.DataFrame, spans: pl.DataFrame, relations: pl.DataFrame, scheme: Scheme) -> list[dict]:
    spans_of, relations_of = _spans_by_doc(spans), _relations_by_doc(relations)
    return [
        document_row(doc, spans_of.get(doc["doc_id"], []), relations_of.get(doc["doc_id"], []), scheme)
        for doc in documents.sort("doc_id").iter_rows(named=True)
    ]


def sentence_rows(doc_id: str, text: str, entities: list[Span], labels: tuple[str, ...]) -> Iterator[dict]:
    """The ``tokens`` rows of one document."""
    tokens = tokenize(text, {b for s in entities for b in (s.start, s.end)})
    for index, group in enumerate(sentences(text, tokens, [(s.start, s.end) for s in entities])):
        offsets = [tokens[i] for i in group]
        start, end = offsets[0][0], offsets[-1][1]
        inside = [s for s in entities if start <= s.start and s.end <= end]
        try:
            nested = nested_tags(offsets, inside, labels)
        except AlignmentError as exc:
            raise KhabarError(f"cannot tag the entities of sentence {index}: {exc.message}", task=f"document {doc_id}") from None
        yield {
            "doc_id": doc_id,
            "sentence": index,
            "start": start,
            "end": end,
            "tokens": [text[s:e] for s, e in offsets],
            "token_starts": [s for s, _ in offsets],
            "ner_tags": outermost_tags(nested),
            "nested_ner_tags": nested,
        }


def token_rows(documents: pl.DataFrame, spans: pl.DataFrame, scheme: Scheme) -> list[dict]:
    spans_of = _spans_by_doc(spans.filter(pl.col("layer") == NER_LAYER))
    rows: list[dict] = []
    for doc in documents.sort("doc_id").iter_rows(named=True):
        entities = [Span(s["start"], s["end"], s["label"]) for s in spans_of.get(doc["doc_id"], [])]
        rows += sentence_rows(doc["doc_id"], doc["text"], entities, scheme.labels(NER_LAYER))
    return rows


def _entity_under(part: dict, entities: list[dict]) -> str | None:
    """The entity type of the same extent, else of the longest entity inside ``part``."""
    inside = [e for e in entities if part["start"] <= e["start"] and e["end"] <= part["end"]]
    exact = [e for e in inside if (e["start"], e["end"]) == (part["start"], part["end"])]
    best = exact or sorted(inside, key=lambda e: (e["start"] - e["end"], e["start"]))
    return best[0]["label"] if best else None


def quote_rows(spans: pl.DataFrame, relations: pl.DataFrame, scheme: Scheme) -> list[dict]:
    choices = scheme.region_choices[0]
    spans_of, relations_of = _spans_by_doc(spans), _relations_by_doc(relations)
    rows = []
    for doc_id in sorted(spans_of):
        doc_spans = spans_of[doc_id]
        by_region = {s["region_id"]: s for s in doc_spans}
        entities = [s for s in doc_spans if s["layer"] == NER_LAYER]
        for content in (s for s in doc_spans if s["layer"] == choices.layer and s["label"] == choices.label):
            row = {name: content[key] for name, key in (("id", "region_id"), ("doc_id", "doc_id"), ("start", "start"), ("end", "end"), ("text", "text"))}
            row[choices.name] = content[choices.name]
            for rule in scheme.relations:
                targets = [
                    by_region[r["to_region"]]
                    for r in relations_of.get(doc_id, [])
                    if r["from_region"] == content["region_id"] and r["label"] == rule.label and r["to_region"] in by_region
                ]
                row[column_of(rule.label)] = [
                    {"id": t["region_id"], "start": t["start"], "end": t["end"], "text": t["text"], "entity_label": _entity_under(t, entities)}
                    for t in sorted(targets, key=lambda t: (t["start"], t["end"], t["region_id"]))
                ]
            rows.append(row)
    return rows
