"""The three configs as arrow tables in their Features' schema, labels as ClassLabel ids.

``documents``: one row per document (or per document and annotator); ``tokens``:
one row per sentence with IOB2 tags; ``quotes``: one row per quoted CONTENT with
the spans its relations point at. Row order is fixed: documents by id, then
sentences, then quotes by position. Every span but a zone carries the zone it lies
in (:func:`with_zones`); entities carry the knowledge base's ids and CONTENTs their
quote cluster (:mod:`khabar.dataset.links`). A missing value is null, never ``''``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from operator import itemgetter
from typing import NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa

from khabar.annotation.scheme import Scheme
from khabar.annotation.tags import tag_names
from khabar.dataset.features import (
    BODY,
    column_of,
    documents_features,
    label_ids,
    quotes_features,
    tokens_features,
    zone_names,
)
from khabar.dataset.iob import ALIGNMENTS, Aligned, Alignment, AlignmentError, Span, TagLists, align, align_all, nested_tag_ids, nested_tags
from khabar.dataset.links import AMBIGUOUS_SCHEMA, CLUSTERS_SCHEMA, LINKS_SCHEMA, released_entity_ids
from khabar.dataset.segment import CodePoints, Offsets, Tokens, Words, sentences, tokenize, tokens
from khabar.foundation.errors import KhabarError
from khabar.gold.adjudicate import latest_per_annotator
from khabar.kb.normalise import ALEF, LAM

#: The order of the spans within a document, in every config.
SPAN_ORDER = ("start", "end", "layer", "label", "region_id")


def _arrow(frame: pl.DataFrame, schema: pa.Schema) -> pa.Table:
    """The columns of ``schema`` from ``frame``, as an arrow table of that schema (one chunk per column)."""
    return frame.select(schema.names).rechunk().to_arrow().cast(schema)


def _with_lists(table: pl.DataFrame, items: pl.DataFrame, keys: list[str], column: str, fields: list[str | pl.Expr]) -> pl.DataFrame:
    """``table`` with a list ``column``: per row, the ``items`` with the same ``keys``, in their order, as structs of ``fields``."""
    lists = items.group_by(keys, maintain_order=True).agg(pl.struct(*fields).alias(column))
    return table.join(lists, on=keys, how="left", maintain_order="left").with_columns(pl.col(column).fill_null([]))


def with_zones(spans: pl.DataFrame, scheme: Scheme, keys: Sequence[str] = ("doc_id",)) -> pl.DataFrame:
    """``spans`` with a ``zone`` column: the label of the zone span (same ``keys``) that holds the span's
    first character, the shortest if zones nest; :data:`BODY` when none does."""
    zones = spans.filter(pl.col("layer") == scheme.zone.name).select(*keys, zone_start="start", zone_end="end", zone="label")
    numbered = spans.with_row_index("row")
    found = (
        numbered.select("row", *keys, "start")
        .join(zones, on=list(keys))
        .filter((pl.col("zone_start") <= pl.col("start")) & (pl.col("start") < pl.col("zone_end")))
        .sort("row", pl.col("zone_end") - pl.col("zone_start"), "zone_start", "zone")
        .group_by("row", maintain_order=True)
        .agg(pl.col("zone").first())
    )
    return numbered.join(found, on="row", how="left", maintain_order="left").drop("row").with_columns(pl.col("zone").fill_null(BODY))


def with_entity_ids(spans: pl.DataFrame, links: pl.DataFrame | None, scheme: Scheme) -> pl.DataFrame:
    """``spans`` with an ``entity_id`` column: the knowledge-base entry the link of an entity span (same
    document, extent and label) names; null for other layers, unlinked spans and links to nothing."""
    ids = released_entity_ids(links if links is not None else pl.DataFrame(schema=LINKS_SCHEMA))
    return spans.join(ids.with_columns(layer=pl.lit(scheme.entity.name)), on=["doc_id", "start", "end", "label", "layer"], how="left", maintain_order="left")


def placed_spans(spans: pl.DataFrame, scheme: Scheme, links: pl.DataFrame | None = None, keys: Sequence[str] = ("doc_id",)) -> pl.DataFrame:
    """``spans`` in span order (within ``keys``) with their ``zone`` (:func:`with_zones`, as its ClassLabel id) and
    ``entity_id`` (:func:`with_entity_ids`): what the ``documents`` and ``quotes`` configs and the zone counts
    all read, made once per range of documents."""
    spans = with_entity_ids(with_zones(spans, scheme, keys), links, scheme).sort(*keys, *SPAN_ORDER, maintain_order=True)
    return spans.with_columns(label_ids(spans["zone"], zone_names(scheme)))


def with_standalone_forms(spans: pl.DataFrame, documents: pl.DataFrame, points: CodePoints | None = None) -> pl.DataFrame:
    """``spans`` with a ``normalized`` column: the word each span stands for written on its own
    (:func:`khabar.kb.normalise.standalone_form`: the B4 span ``لتحالف`` after a ل is ``التحالف``),
    the span's own text when nothing is missing from it. Offsets and ``text`` are untouched.
    ``documents`` (doc_id, text: one row per document) hold the spans' texts; ``points`` are those texts' code
    points in the order of ``documents`` (computed when not given)."""
    # the character before each span from the code points, not a Python call per span (200k spans: 0.25 s)
    points = points if points is not None else CodePoints.of(documents["text"])
    position = spans.select("doc_id").join(documents.select("doc_id").with_row_index("position"), on="doc_id", how="left", maintain_order="left")
    before = points.char_before(position["position"].fill_null(-1).to_numpy().astype(np.int64), spans["start"].to_numpy())
    text = pl.col("text")
    cut = pl.Series(before == ord(LAM)) & text.str.starts_with(LAM) & ~text.str.starts_with(LAM + LAM)
    return spans.with_columns(normalized=pl.when(cut).then(ALEF + text).otherwise(text))


def _blank_as_null(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """Empty strings of ``columns`` as null: a missing value is null everywhere."""
    return frame.with_columns(pl.col(c).cast(pl.String).replace("", None) for c in columns)


def _documents(rows: pl.DataFrame, placed: pl.DataFrame, relations: pl.DataFrame, scheme: Scheme, keys: list[str], schema: pa.Schema,
               texts: Texts, order: Sequence[str]) -> pa.Table:
    """One row per row of ``rows`` (documents, with ``keys``), ordered by their columns ``order``: a list per layer of
    the spans with the same ``keys`` (``placed``: :func:`placed_spans` over ``keys``), and a list of their relations
    (in the order given). ``texts``: the documents' texts."""
    table = _blank_as_null(rows.sort(order), ["source", "published", "title", "url", "story"])
    spans = with_standalone_forms(placed, texts.documents, texts.points)
    for layer in scheme.layers:
        choices = [c for c in scheme.region_choices if c.layer == layer.name]
        of_layer = spans.filter(pl.col("layer") == layer.name)
        of_layer = of_layer.with_columns(label_ids(of_layer["label"], layer.labels), *(label_ids(of_layer[c.name], c.choices) for c in choices))
        fields: list[str | pl.Expr] = [pl.col("region_id").alias("id"), "start", "end", "label", "text", *(c.name for c in choices)]
        fields += [] if layer == scheme.zone else ["zone"]
        fields += ["normalized", "entity_id"] if layer == scheme.entity else []
        table = _with_lists(table, of_layer, keys, column_of(layer.name), fields)
    relations = relations.with_columns(label_ids(relations["label"], scheme.relation_labels))
    fields = [pl.col("from_region").alias("from_id"), pl.col("to_region").alias("to_id"), pl.col("label")]
    return _arrow(_with_lists(table, relations, keys, "relations", fields).rename({"doc_id": "id"}), schema)


def document_table(documents: pl.DataFrame, spans: pl.DataFrame, relations: pl.DataFrame, scheme: Scheme,
                   links: pl.DataFrame | None = None, texts: Texts | None = None, placed: pl.DataFrame | None = None,
                   order: Sequence[str] = ("doc_id",)) -> pa.Table:
    """The ``documents`` config: every document with its gold spans per layer and its gold relations
    (``texts``: those of ``documents``; ``placed``: :func:`placed_spans` of ``spans``; each made when not given),
    in the order of the columns ``order`` of ``documents`` (by id unless told)."""
    relations = relations.sort("doc_id", "from_region", "to_region", "label", maintain_order=True)
    texts = texts if texts is not None else Texts.of(documents)
    placed = placed if placed is not None else placed_spans(spans, scheme, links)
    return _documents(documents, placed, relations, scheme, ["doc_id"], documents_features(scheme).arrow_schema, texts, order)


def annotator_document_table(documents: pl.DataFrame, annotations: pl.DataFrame, spans: pl.DataFrame, relations: pl.DataFrame,
                             scheme: Scheme, links: pl.DataFrame | None = None, texts: Texts | None = None) -> pa.Table:
    """The ``documents`` config with a row per document and annotator: the annotator's latest annotation
    of it, its relations in the order they were drawn (``texts``: those of ``documents``, made when not given)."""
    latest = latest_per_annotator(annotations).select("annotation_id", "doc_id", "annotator")
    annotator_of = latest.select("annotation_id", "annotator")
    keys = ["doc_id", "annotator"]
    return _documents(
        documents.join(latest.drop("annotation_id"), on="doc_id"),
        placed_spans(spans.join(annotator_of, on="annotation_id"), scheme, links, keys),
        relations.join(annotator_of, on="annotation_id", maintain_order="left"),
        scheme,
        keys,
        documents_features(scheme, per_annotator=True).arrow_schema,
        texts if texts is not None else Texts.of(documents),
        keys,
    )


class Texts(NamedTuple):
    """The texts of a range of documents, made once for the configs that read them: (doc_id, text) ordered by the
    columns ``order`` of the documents (by id unless told), and their code points. The ``tokens`` config has its
    rows in this order."""

    documents: pl.DataFrame
    points: CodePoints

    @classmethod
    def of(cls, documents: pl.DataFrame, order: Sequence[str] = ("doc_id",)) -> Texts:
        ordered = documents.sort(order, maintain_order=True).select("doc_id", "text")
        return cls(ordered, CodePoints.of(ordered["text"]))


class Sentence(NamedTuple):
    """One row of the ``tokens`` config, tags by name."""

    doc_id: str
    number: int  # the sentence's position in its document (``index`` would shadow tuple.index)
    offsets: list[Offsets]
    tokens: list[str]
    nested_tags: list[list[str]]


def sentence_rows(doc_id: str, text: str, entities: Sequence[Span], labels: Sequence[str]) -> tuple[list[Sentence], list[Aligned]]:
    """The ``tokens`` rows of one document, and how each entity came onto its tokens.

    Tokens and sentences come from the text alone; each entity is then mapped onto them (:func:`align`).
    """
    tokens = tokenize(text)
    groups = sentences(text, tokens)
    sentence_of = [index for index, group in enumerate(groups) for _ in group]
    try:
        aligned = align(tokens, sentence_of, entities, labels)
    except AlignmentError as exc:
        raise KhabarError(f"cannot tag the entities: {exc.message}", document=doc_id) from None
    inside: list[list[Span]] = [[] for _ in groups]
    for placed in aligned:
        if placed.span is not None:
            inside[sentence_of[bisect_left(tokens, placed.span.start, key=itemgetter(0))]].append(placed.span)
    rows = []
    for index, group in enumerate(groups):
        offsets = tokens[group.start : group.stop]
        try:
            nested = nested_tags(offsets, inside[index], labels)
        except AlignmentError as exc:
            raise KhabarError(f"cannot tag the entities of sentence {index}: {exc.message}", document=doc_id) from None
        rows.append(Sentence(doc_id, index, offsets, [text[s:e] for s, e in offsets], nested))
    return rows, aligned


def _cut(offsets: np.ndarray, values: pa.Array) -> pa.ListArray:
    """``values`` cut into consecutive lists at ``offsets``."""
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)


class TokenTable(NamedTuple):
    """The ``tokens`` config, per (label, how) the entities mapped onto its tokens that way, and the tokens' positions."""

    table: pa.Table
    alignment: Counter[tuple[str, Alignment]]
    words: Words


def token_table(documents: pl.DataFrame, spans: pl.DataFrame, scheme: Scheme, texts: Texts | None = None,
                placed: pl.DataFrame | None = None) -> TokenTable:
    """The ``tokens`` config: every sentence of every document, with the IOB2 tags of its gold entities
    (``texts``: those of ``documents``; ``placed``: :func:`placed_spans` of ``spans``, whose order saves a sort).

    :func:`sentence_rows` of every document, computed over all of them at once (tokens and tags by numpy
    over the texts' code points). At 1M span results (13k documents, 2.9M tokens) 0.7 s CPU, where calling
    :func:`sentence_rows` document by document takes 6.6 s before its rows are even made into columns.
    """
    labels = scheme.entity.labels
    texts = texts if texts is not None else Texts.of(documents)
    docs = texts.documents
    found = tokens(texts.points)
    of_entities = pl.col("layer") == scheme.entity.name
    ordered = placed.filter(of_entities) if placed is not None else spans.filter(of_entities).sort("doc_id", *SPAN_ORDER, maintain_order=True)
    entities = (
        ordered.select("doc_id", "start", "end", "label")
        .join(docs.select("doc_id", text=pl.int_range(pl.len(), dtype=pl.UInt32)), on="doc_id", maintain_order="left")
        .select("text", "start", "end", "label")
    )
    doc_ids = docs["doc_id"].to_list()
    try:
        aligned = align_all(found, entities, doc_ids, labels)
    except AlignmentError as exc:
        raise KhabarError(f"cannot tag the entities: {exc.message}", document=exc.document) from None
    counted = pl.DataFrame({"label": entities["label"], "how": aligned.how}).group_by("label", "how").len()
    alignment = Counter({(label, ALIGNMENTS[how]): n for label, how, n in counted.iter_rows()})
    begin = label_ids("B-" + entities["label"].filter(pl.Series(aligned.kept)), tag_names(labels)).to_numpy()
    tags = nested_tag_ids(len(found.text), aligned.first, aligned.last, aligned.depth, begin)
    return TokenTable(_sentence_table(found, docs["doc_id"], tags, tokens_features(scheme).arrow_schema), alignment, Words.of(doc_ids, found))


def _sentence_table(found: Tokens, doc_ids: pl.Series, tags: TagLists, schema: pa.Schema) -> pa.Table:
    """One row per sentence of the tokens; each list column is one flat array of every row's items, cut by sentence."""
    text, sentence = found.text, found.sentence
    firsts = np.flatnonzero(np.concatenate([[True], (text[1:] != text[:-1]) | (sentence[1:] != sentence[:-1])])) if len(text) else np.zeros(0, np.int64)
    cuts = np.append(firsts, len(text))
    per_token = pa.ListArray.from_arrays(pa.array(tags.offsets, pa.int32()), pa.array(tags.ids, pa.int64()))
    columns = {
        "doc_id": doc_ids.to_arrow().take(pa.array(text[firsts])),
        "sentence": sentence[firsts],
        "start": found.start[firsts],
        "end": found.end[cuts[1:] - 1],
        "tokens": _cut(cuts, found.strings),
        "token_starts": _cut(cuts, pa.array(found.start)),
        "ner_tags": _cut(cuts, pa.array(tags.ids[tags.offsets[:-1]], pa.int64())),
        "nested_ner_tags": _cut(cuts, per_token),
    }
    return pa.table(columns).cast(schema)


def head_entities(parts: pl.DataFrame, spans: pl.DataFrame, scheme: Scheme) -> pl.DataFrame:
    """``parts`` (doc_id, start, end) with the ``entity_label`` and ``entity_id`` of the entity each names:
    the entity with exactly the part's extent; else the longest entity that starts where the part
    starts, since an Arabic noun phrase puts its head first (``مسؤولون عراقيون كبار``); else null, so
    ``فرع «داعش» في أفغانستان`` names no entity rather than the GPE inside it. Entities of equal
    extent: the first by label name, then region id."""
    entities = spans.filter(pl.col("layer") == scheme.entity.name).select("doc_id", "start", "end", "label", "region_id", "entity_id")
    numbered = parts.with_row_index("part")
    head = (
        numbered.select("part", "doc_id", "start", "end")
        .join(entities, on=["doc_id", "start"], suffix="_entity")
        .filter(pl.col("end_entity") <= pl.col("end"))
        .sort("part", pl.col("end_entity") != pl.col("end"), -pl.col("end_entity"), "label", "region_id")
        .group_by("part", maintain_order=True)
        .agg(entity_label=pl.col("label").first(), entity_id=pl.col("entity_id").first())
    )
    return numbered.join(head, on="part", how="left", maintain_order="left").drop("part")


def quote_table(spans: pl.DataFrame, relations: pl.DataFrame, scheme: Scheme, links: pl.DataFrame | None = None,
                clusters: pl.DataFrame | None = None, ambiguous: pl.DataFrame | None = None, placed: pl.DataFrame | None = None) -> pa.Table:
    """The ``quotes`` config: every CONTENT with its choice, zone and cluster, whether its source link is
    ambiguous (``ambiguous``: doc_id, start, end of the flagged CONTENTs) and, per relation rule, the spans it points
    at (``placed``: :func:`placed_spans` of ``spans``, made when not given)."""
    choices = scheme.attribution.quote_type
    spans = placed if placed is not None else placed_spans(spans, scheme, links)
    clusters = (clusters if clusters is not None else pl.DataFrame(schema=CLUSTERS_SCHEMA)).unique(["doc_id", "start", "end"], keep="first", maintain_order=True)
    contents = spans.filter((pl.col("layer") == choices.layer) & (pl.col("label") == choices.label))
    contents = contents.join(clusters, on=["doc_id", "start", "end"], how="left", maintain_order="left")
    flagged = (ambiguous if ambiguous is not None else pl.DataFrame(schema=AMBIGUOUS_SCHEMA)).unique().with_columns(source_ambiguous=pl.lit(True))
    contents = contents.join(flagged, on=["doc_id", "start", "end"], how="left", maintain_order="left").with_columns(pl.col("source_ambiguous").fill_null(False))
    table = contents.with_columns(label_ids(contents[choices.name], choices.choices))
    # a majority vote can lend one region id to two spans of a document: the id then names the last (kept per
    # relation after the join, not by a unique over every span: 1M span results, 0.11 → 0.03 s)
    regions = spans.select("doc_id", "region_id", "start", "end", "text", "zone").with_row_index("row")
    targets = relations.with_row_index("relation").join(regions, left_on=["doc_id", "to_region"], right_on=["doc_id", "region_id"])
    targets = targets.sort("row").unique("relation", keep="last").drop("relation", "row")
    targets = head_entities(targets, spans, scheme).sort("doc_id", "from_region", "start", "end", "to_region")
    targets = targets.with_columns(label_ids(targets["entity_label"], scheme.entity.labels)).rename({"from_region": "region_id"})
    fields: list[str | pl.Expr] = [pl.col("to_region").alias("id"), "start", "end", "text", "zone", "entity_label", "entity_id"]
    for rule in scheme.relations:
        table = _with_lists(table, targets.filter(pl.col("label") == rule.label), ["doc_id", "region_id"], column_of(rule.label), fields)
    return _arrow(table.rename({"region_id": "id"}), quotes_features(scheme).arrow_schema)
