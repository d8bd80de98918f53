"""``schemas.conformance``: the one polars query that lets pandera run only on a frame that breaks its schema.

It must never pass a frame pandera refuses: each frame the validation checks and each table it keeps,
taken from a real validation, is broken one declared property at a time (a null where none is allowed,
a repeated unique value, a value a check refuses, a wrong type, a column too many or missing), and the
query and pandera must then agree that it is broken; unbroken, both pass it.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
import pytest
from pandera.errors import SchemaErrors

from khabar.annotation.scheme import load_scheme
from khabar.foundation.pandera_polars import pa
from khabar.foundation.paths import repo
from khabar.foundation.tables import AnnotationsTable, RelationsTable, SpansTable
from khabar.validation.api import validate_exports
from khabar.validation.checks import Frame, prepare
from khabar.validation.reader import read_raw
from khabar.validation.schemas import FRAME_COLUMNS, conformance, validate
from tests.validation.validation_exports import annotation, task, valid_result, write_export

Break = Callable[[pl.DataFrame], pl.DataFrame]


def _frames(tmp_path) -> dict[str, tuple[pa.DataFrameSchema, pl.DataFrame]]:
    # two annotations of a task and a second task: every frame and table has rows to repeat and to differ
    path = write_export(tmp_path, [
        task([annotation(valid_result()), annotation(valid_result(), annotation_id=12, pseudonym="annotator-2")]),
        task([annotation(valid_result(), annotation_id=13)], task_id=2),
    ])
    frames = prepare(read_raw([path], repo().documents_file), load_scheme())
    tables = validate_exports([path], repo().documents_file).tables
    found = {f"frame {frame}": (FRAME_COLUMNS[frame], frames.get(frame)) for frame in Frame}
    for model, table in ((AnnotationsTable, tables.annotations), (SpansTable, tables.spans), (RelationsTable, tables.relations)):
        found[model.__name__] = (model.to_schema(), table)
    return found


def _passes_pandera(schema: pa.DataFrameSchema, data: pl.DataFrame) -> bool:
    try:
        schema.validate(data, lazy=True)
    except SchemaErrors:
        return False
    return True


def _conforms(schema: pa.DataFrameSchema, data: pl.DataFrame) -> bool | None:
    query = conformance(schema, data)
    return None if query is None else all(query.collect().row(0))


def _breakages(schema: pa.DataFrameSchema, data: pl.DataFrame) -> dict[str, Break]:
    """One way to break each property the schema declares, on a frame of at least two rows."""
    found: dict[str, Break] = {}
    for name, column in schema.columns.items():
        if name not in data.columns:
            continue
        if not column.nullable:
            found[f"null in {name}"] = lambda d, n=name: d.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(None).otherwise(pl.col(n)).alias(n))
        if column.unique:
            found[f"repeated {name}"] = lambda d, n=name: d.with_columns(pl.col(n).first())
        found[f"{name} of another type"] = lambda d, n=name: d.with_columns(pl.col(n).cast(pl.String) if d.schema[n] != pl.String else pl.col(n).str.len_bytes())
        if column.required:
            found[f"no {name}"] = lambda d, n=name: d.drop(n)
        for check in column.checks:
            bad = {"isin": pl.lit(True), "greater_than_or_equal_to": pl.lit(-1), "greater_than": pl.lit(0), "str_length": pl.lit("")}[check.name]
            found[f"{check.name} on {name}"] = lambda d, n=name, b=bad: d.with_columns(b.cast(d.schema[n]).alias(n))
    if schema.unique:
        found[f"repeated {schema.unique}"] = lambda d: d.with_columns(pl.col(c).first() for c in schema.unique)
    for check in schema.checks:
        found[check.name] = lambda d: d.with_columns(start=pl.col("end"))  # the one frame check: start before end
    if schema.strict:
        found["a column too many"] = lambda d: d.with_columns(extra=pl.lit(1))
    return found


def test_every_frame_and_table_passes_both_unbroken_and_fails_both_broken_each_way(tmp_path):
    tried = 0
    for what, (schema, data) in _frames(tmp_path).items():
        assert data.height >= 2, what
        assert _conforms(schema, data) is True, what
        assert _passes_pandera(schema, data), what
        for how, breaks in _breakages(schema, data).items():
            broken = breaks(data)
            assert not _passes_pandera(schema, broken), f"{what}: {how}"
            assert _conforms(schema, broken) in (False, None), f"{what}: {how}"  # None: pandera decides
            with pytest.raises(SchemaErrors):
                validate(schema, broken)
            tried += 1
    assert tried > 60


def test_a_schema_asking_what_the_query_does_not_decide_leaves_it_to_pandera():
    data = pl.DataFrame({"a": [1, 2]})
    assert _conforms(pa.DataFrameSchema({"a": pa.Column(int)}), data) is True
    assert conformance(pa.DataFrameSchema({"a": pa.Column(int)}, coerce=True), data) is None
    assert conformance(pa.DataFrameSchema({"a": pa.Column(int, pa.Check(lambda x: x > 0, element_wise=True))}), data) is None
    assert conformance(pa.DataFrameSchema({"a": pa.Column(int)}, strict=True), data.with_columns(b=pl.lit(1))) is None
    # a null is a NaN too in a float column that takes none, as pandera has it
    floats = pl.DataFrame({"a": [1.0, float("nan")]})
    assert _conforms(pa.DataFrameSchema({"a": pa.Column(float)}), floats) is False
    assert not _passes_pandera(pa.DataFrameSchema({"a": pa.Column(float)}), floats)
