"""The tables every stage speaks (documents, annotations, spans, relations), each declared once.

A table is declared as a pandera model: its columns, their types and what each
must hold. Everything else derives from the model: the polars schema readers
produce (:func:`polars_schema`: ``DOCUMENTS``, ``SPANS``…), the validation of
the tables :func:`khabar.validation.api.validate_exports` hands to the builder
(``Model.validate``), and the value types of the released Hugging Face features
(``khabar.dataset.features``). Offsets are Python ``str`` indices (code points)
into ``documents.text``.
"""

from __future__ import annotations

import polars as pl

from khabar.foundation.pandera_polars import pa
from khabar.foundation.records import FIELD_RULES, FILE_RULES


class DocumentsTable(pa.DataFrameModel):
    """The current corpus documents, one row each (a :class:`~khabar.annotation.ingest.DocumentRecord`
    without the fields only the corpus file keeps)."""

    doc_id: str = pa.Field(unique=True)
    text: str = pa.Field(str_length={"min_value": 1})
    source: str
    url: str | None = pa.Field(nullable=True)
    published: str | None = pa.Field(nullable=True)  # ISO date, or null when the page does not say
    title: str | None = pa.Field(nullable=True)
    story: str
    language: str

    @pa.dataframe_check(name="keeps_the_record_rules", ignore_na=False)
    def keeps_the_record_rules(cls, data: pa.PolarsData) -> pl.LazyFrame:  # noqa: ANN001
        """The rules of a corpus record (:mod:`khabar.foundation.records`) on the fields the table has: every reader
        of the records refuses a record that breaks one, naming its line (:func:`khabar.annotation.ingest.framed_blocks`)."""
        columns = data.lazyframe.collect_schema().names()
        broken = [rule.breaks.fill_null(False) for rule in FIELD_RULES + FILE_RULES if rule.field in columns]
        return data.lazyframe.select(~pl.any_horizontal(broken))

    class Config:
        strict = True


class CorpusTable(DocumentsTable):
    """Every corpus record, superseded ones too: annotations made on an old text keep valid offsets."""

    superseded_by: str | None = pa.Field(nullable=True)  # the newer document; null for current texts


class AnnotationsTable(pa.DataFrameModel):
    annotation_id: int = pa.Field(unique=True)
    task_id: int
    doc_id: str
    annotator: str | None = pa.Field(nullable=True)  # a pseudonym, never an email or a name
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
    quote_type: str | None = pa.Field(nullable=True)  # CONTENT only

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


class ReleasedColumns(pa.DataFrameModel):
    """The columns a release adds to those of the tables above, made by the build (:mod:`khabar.dataset.configs`):
    declared here with the tables' so that every released column has one declaration of its value type
    (:mod:`khabar.dataset.features`) and of whether it may hold a null (``khabar validate --dataset``). ``zone`` and
    ``entity_label`` hold a label's name, which a release stores as its ClassLabel id. A list (a document's spans, a
    sentence's tokens and tags) is no column of a table: a release never writes a null list, nor a null in one."""

    zone: str  # the zone a span lies in: BODY where no zone span covers its first character
    normalized: str  # an entity's word written on its own: its text when nothing is missing from it
    entity_id: str | None = pa.Field(nullable=True)  # the knowledge base's entry; null when unlinked or linked to nothing there
    entity_label: str | None = pa.Field(nullable=True)  # the label of the entity a source or cue names; null when it names none
    cluster_id: str | None = pa.Field(nullable=True)  # a quote's statement; null where no knowledge base describes the inputs
    source_ambiguous: bool
    sentence: pl.Int32  # a sentence's position in its document

    class Config:
        strict = True


def polars_schema(model: type[pa.DataFrameModel]) -> pl.Schema:
    """The columns of a model, in declaration order, with the polars type pandera checks them against."""
    return pl.Schema({name: column.dtype.type for name, column in model.to_schema().columns.items()})


def pick(schema: pl.Schema, *names: str) -> dict[str, pl.DataType]:
    """Some columns of a schema, in the order given (a KeyError names a column the table lacks)."""
    return {name: schema[name] for name in names}


#: The tables whose columns a release carries (:mod:`khabar.dataset.features`), with the columns it adds, and the
#: name a release gives a column where it is not the table's own: a document's ``doc_id`` and a span's ``region_id``
#: are its ``id``, a relation's regions ``from_id`` and ``to_id``.
RELEASED_NAMES: dict[type[pa.DataFrameModel], dict[str, str]] = {
    DocumentsTable: {"doc_id": "id"},
    AnnotationsTable: {},
    SpansTable: {"region_id": "id"},
    RelationsTable: {"from_region": "from_id", "to_region": "to_id"},
    ReleasedColumns: {},
}


def released_name(model: type[pa.DataFrameModel], column: str) -> str:
    """The name a release gives a column of a table."""
    return RELEASED_NAMES[model].get(column, column)


def released_nullable() -> dict[str, bool]:
    """Each name of a released column but a list (:data:`RELEASED_NAMES`), and whether a null may be there: a name
    that several tables' columns carry (``id``, ``doc_id``, ``label``) may hold a null when one of those columns may."""
    nullable: dict[str, bool] = {}
    for model in RELEASED_NAMES:
        for name, column in model.to_schema().columns.items():
            released = released_name(model, name)
            nullable[released] = nullable.get(released, False) or column.nullable
    return nullable


DOCUMENTS = polars_schema(DocumentsTable)
CORPUS = polars_schema(CorpusTable)
ANNOTATIONS = polars_schema(AnnotationsTable)
SPANS = polars_schema(SpansTable)
RELATIONS = polars_schema(RelationsTable)

#: A prediction's spans and relations: the columns of SPANS and RELATIONS, owned by a
#: prediction (and its model version) instead of an annotation.
PREDICTION_SPANS = pl.Schema(
    {"prediction_id": pl.Int64(), "task_id": pl.Int64(), "doc_id": pl.String(), "model_version": pl.String()}
    | pick(SPANS, "region_id", "layer", "label", "start", "end", "text", "quote_type")
)
PREDICTION_RELATIONS = pl.Schema(
    {"prediction_id": pl.Int64(), "doc_id": pl.String(), "model_version": pl.String()}
    | pick(RELATIONS, "from_region", "to_region", "label")
)


def empty(schema: pl.Schema) -> pl.DataFrame:
    """A table with no rows and the right columns."""
    return pl.DataFrame(schema=schema)
