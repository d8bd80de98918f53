"""The tables of ``khabar.foundation.tables``: what the readers produce is what the models declare."""

from __future__ import annotations

from dataclasses import fields

import pandera.polars as pa
import polars as pl
import pytest
from pandera.errors import SchemaError, SchemaErrors

from khabar.annotation.ingest import DocumentRecord
from khabar.dataset.features import value_of
from khabar.foundation.errors import KhabarError
from khabar.foundation.paths import repo
from khabar.foundation.tables import (
    CORPUS,
    DOCUMENTS,
    SPANS,
    AnnotationsTable,
    CorpusTable,
    DocumentsTable,
    RelationsTable,
    SpansTable,
)
from khabar.gold.inputs import documents_table
from khabar.validation.api import validate_exports
from khabar.validation.reader import read_documents
from tests.validation.validation_exports import valid_export, write_export


def test_corpus_records_are_read_as_the_declared_tables():
    corpus = read_documents(repo().documents_file)
    assert corpus.schema == CORPUS
    CorpusTable.validate(corpus, lazy=True)
    current = documents_table(repo().documents_file)
    assert current.schema == DOCUMENTS
    DocumentsTable.validate(current, lazy=True)
    assert current.height == corpus.filter(pl.col("superseded_by").is_null()).height > 0


def test_every_column_of_the_corpus_table_is_a_field_of_the_record():
    record = {f.name: str(f.type) for f in fields(DocumentRecord)}
    for name, column in CorpusTable.to_schema().columns.items():
        assert name in record, f"the corpus table's {name} is not a field of DocumentRecord"
        if "None" in record[name]:
            assert column.nullable, f"DocumentRecord.{name} may be None but the table refuses a null"


def test_validated_tables_have_the_declared_schemas(tmp_path):
    tables = validate_exports([write_export(tmp_path, valid_export())]).tables
    for frame, model in ((tables.annotations, AnnotationsTable), (tables.spans, SpansTable), (tables.relations, RelationsTable)):
        assert frame.height > 0
        assert dict(frame.schema) == {name: column.dtype.type for name, column in model.to_schema().columns.items()}
        model.validate(frame)


@pytest.mark.parametrize("model", [DocumentsTable, SpansTable])
def test_a_column_of_the_wrong_type_is_refused(model: type[pa.DataFrameModel]):
    columns = model.to_schema().columns
    wrong = pl.DataFrame({name: pl.Series(name, [], dtype=pl.Float32) for name in columns})
    with pytest.raises((SchemaError, SchemaErrors)):
        model.validate(wrong)


def test_a_span_ending_before_it_starts_is_refused():
    row = {"annotation_id": 1, "doc_id": "d", "region_id": "r", "layer": "entity", "label": "GPE", "start": 5, "end": 3, "text": "x", "quote_type": None}
    with pytest.raises(SchemaError, match="start_before_end"):
        SpansTable.validate(pl.DataFrame([row], schema=SPANS))


def test_a_column_type_without_a_released_value_type_is_named():
    with pytest.raises(KhabarError, match="Float32"):
        value_of(pl.Float32())
