"""pandera.polars models: one per checked frame and one per output table.

The checked frames (owners, spans, relations, choices; built by
:func:`khabar.validation.checks.prepare`) carry one pandera check per rule of
:mod:`khabar.validation.checks`, named after the rule, so ``failure_cases`` says which
rule failed on which row. Validate them with ``lazy=True`` to collect every
failure in one run, and always on a ``DataFrame``: pandera skips data checks on
a ``LazyFrame``. Custom checks use ``ignore_na=False`` so a null never passes
by default.

A row with a structural problem (``problem`` set) is reported by
``well_formed`` only; the other rules let it pass, so each failure has one cause.

The table models (documents, annotations, spans, relations) are the contract
of the tables :func:`khabar.validation.api.validate_exports` hands to the builder.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from khabar.validation.checks import rule


def _passes(frame: str, name: str, data: pa.PolarsData) -> pl.LazyFrame:
    expr = rule(frame, name).passes()
    if name != "well_formed":
        expr = expr | pl.col("problem").is_not_null()
    return data.lazyframe.select(expr.fill_null(False))


def _check(frame: str, name: str):  # noqa: ANN202 - pandera's decorator types are loose
    def check(cls, data: pa.PolarsData) -> pl.LazyFrame:  # noqa: ANN001
        return _passes(frame, name, data)

    check.__name__ = f"check_{name}"
    return pa.dataframe_check(check, name=name, ignore_na=False)


class OwnerFrame(pa.DataFrameModel):
    """Annotations (not cancelled) and predictions, with their task's document."""

    row: int = pa.Field(unique=True)
    key: int = pa.Field(unique=True)
    kind: str = pa.Field(isin=["annotation", "prediction"])
    file: str
    task_id: int
    owner_id: int | None = pa.Field(nullable=True)
    doc_known: bool
    problem: str | None = pa.Field(nullable=True)

    well_formed = _check("owners", "well_formed")
    unique_ids = _check("owners", "unique_ids")
    annotation_document_known = _check("owners", "annotation_document_known")

    class Config:
        strict = False


class SpanFrame(pa.DataFrameModel):
    """One row per span result, joined with its owner and its document's text."""

    row: int = pa.Field(unique=True)
    key: int
    region_id: str | None = pa.Field(nullable=True)
    layer: str | None = pa.Field(nullable=True)
    label: str | None = pa.Field(nullable=True)
    start: int | None = pa.Field(nullable=True)
    end: int | None = pa.Field(nullable=True)
    text: str | None = pa.Field(nullable=True)
    doc_found: bool
    problem: str | None = pa.Field(nullable=True)

    well_formed = _check("spans", "well_formed")
    unique_ids = _check("spans", "unique_ids")
    span_document_exists = _check("spans", "span_document_exists")
    offsets_in_range = _check("spans", "offsets_in_range")
    span_text_matches = _check("spans", "span_text_matches")
    span_whole_graphemes = _check("spans", "span_whole_graphemes")
    label_in_layer = _check("spans", "label_in_layer")
    quote_type_on_content = _check("spans", "quote_type_on_content")
    entity_no_crossing = _check("spans", "entity_no_crossing")
    zone_no_overlap = _check("spans", "zone_no_overlap")
    no_duplicate_region = _check("spans", "no_duplicate_region")
    span_boundary_clean = _check("spans", "span_boundary_clean")
    entity_proclitic = _check("spans", "entity_proclitic")
    content_has_source = _check("spans", "content_has_source")
    cue_linked = _check("spans", "cue_linked")
    consistent_label = _check("spans", "consistent_label")

    class Config:
        strict = False


class RelationFrame(pa.DataFrameModel):
    """One row per relation result, with what its two ends resolve to."""

    row: int = pa.Field(unique=True)
    key: int
    from_region: str | None = pa.Field(nullable=True)
    to_region: str | None = pa.Field(nullable=True)
    label: str | None = pa.Field(nullable=True)
    problem: str | None = pa.Field(nullable=True)

    well_formed = _check("relations", "well_formed")
    relation_ends = _check("relations", "relation_ends")
    no_duplicate_region = _check("relations", "no_duplicate_region")

    class Config:
        strict = False


class ChoiceFrame(pa.DataFrameModel):
    """One row per per-region choice result (quote_type)."""

    row: int = pa.Field(unique=True)
    key: int
    region_id: str | None = pa.Field(nullable=True)
    choice: str | None = pa.Field(nullable=True)
    problem: str | None = pa.Field(nullable=True)

    well_formed = _check("choices", "well_formed")
    quote_type_on_content = _check("choices", "quote_type_on_content")

    class Config:
        strict = False


FRAME_MODELS: dict[str, type[pa.DataFrameModel]] = {
    "owners": OwnerFrame,
    "spans": SpanFrame,
    "relations": RelationFrame,
    "choices": ChoiceFrame,
}


class DocumentsTable(pa.DataFrameModel):
    doc_id: str = pa.Field(unique=True)
    text: str = pa.Field(str_length={"min_value": 1})
    source: str
    url: str | None = pa.Field(nullable=True)
    published: str | None = pa.Field(nullable=True)
    title: str | None = pa.Field(nullable=True)
    story: str
    language: str
    superseded_by: str | None = pa.Field(nullable=True)

    class Config:
        strict = True


class AnnotationsTable(pa.DataFrameModel):
    annotation_id: int = pa.Field(unique=True)
    task_id: int
    doc_id: str
    annotator: str | None = pa.Field(nullable=True)
    created_at: str | None = pa.Field(nullable=True)
    updated_at: str | None = pa.Field(nullable=True)
    lead_time: float | None = pa.Field(nullable=True)
    was_cancelled: bool = pa.Field(isin=[False])
    ground_truth: bool

    class Config:
        strict = True


class SpansTable(pa.DataFrameModel):
    annotation_id: int
    doc_id: str
    region_id: str
    layer: str
    label: str
    start: int = pa.Field(ge=0)
    end: int = pa.Field(gt=0)
    text: str = pa.Field(str_length={"min_value": 1})
    quote_type: str | None = pa.Field(nullable=True)

    @pa.dataframe_check(name="start_before_end", ignore_na=False)
    def start_before_end(cls, data: pa.PolarsData) -> pl.LazyFrame:  # noqa: ANN001
        return data.lazyframe.select(pl.col("start") < pl.col("end"))

    class Config:
        strict = True
        unique = ["annotation_id", "region_id"]


class RelationsTable(pa.DataFrameModel):
    annotation_id: int
    doc_id: str
    from_region: str
    to_region: str
    label: str

    class Config:
        strict = True
        unique = ["annotation_id", "from_region", "to_region", "label"]
