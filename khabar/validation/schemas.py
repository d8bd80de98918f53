"""pandera.polars schemas of the frames the rules are checked on.

The checked frames (owners, spans, relations, choices; built by
:func:`khabar.validation.checks.prepare`) are each a model of the columns the
frame must carry, plus one pandera check per rule of
:data:`khabar.validation.checks.RULES` on that frame, generated from the rule's
polars expression and named after it, so ``failure_cases`` says which rule
failed on which row. Validate them with ``lazy=True`` to collect every failure
in one run, and always on a ``DataFrame``: pandera skips data checks on a
``LazyFrame``. The checks use ``ignore_na=False`` so a null never passes by
default.

A row with a structural problem (``problem`` set) is reported by
``well_formed`` only; the other rules let it pass, so each failure has one cause.

:func:`failing_rows` (:func:`failing_rows_of`, the four frames at once) is what the
validation runs on each batch: the same columns checked by pandera (:data:`FRAME_COLUMNS`,
the models without the rules' checks), and the same rules' expressions (:func:`rule_passes`) evaluated by polars in one select.
It finds the rows pandera's failure cases name (a test holds the two to agreement on
a frame that breaks every rule) at a tenth of the cost: pandera runs each check on
its own and gathers its failure cases into a frame, 1.9 s of CPU for the 20 batches
of a million span results against 0.3 s.

pandera itself runs only on a frame that breaks its schema: :func:`conformance` decides
in one polars query whether it does (pandera's own check functions, and the types, nulls
and uniqueness as its polars backend checks them), and :func:`validate` and
:func:`failing_rows` call pandera when it says so, or when the schema asks for something it
does not decide.

The tables :func:`khabar.validation.api.validate_exports` hands to the builder
are declared, with their pandera models, in :mod:`khabar.foundation.tables`.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from khabar.foundation.pandera_polars import pa
from khabar.validation.checks import WELL_FORMED, Frame, Rule, rules_of
from khabar.validation.reader import ANNOTATION, PREDICTION


def rule_passes(rule: Rule) -> pl.Expr:
    """True on the rows that pass the rule, never null; a row with a ``problem`` passes every rule but ``well_formed``."""
    passes = rule.passes if rule.name == WELL_FORMED else rule.passes | pl.col("problem").is_not_null()
    return passes.fill_null(False)


def rule_check(rule: Rule) -> pa.Check:
    """The pandera check of one rule: a dataframe-wide check of its expression, true on the rows that pass."""
    passes = rule_passes(rule)

    def check(data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(passes)

    return pa.Check(check, name=rule.name, ignore_na=False)


class OwnerFrame(pa.DataFrameModel):
    """Annotations (not cancelled) and predictions, with their task's document."""

    row: int = pa.Field(unique=True)
    key: int = pa.Field(unique=True)
    kind: str = pa.Field(isin=[ANNOTATION, PREDICTION])
    file: str
    task_id: int
    owner_id: int | None = pa.Field(nullable=True)
    doc_known: bool
    problem: str | None = pa.Field(nullable=True)


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


class RelationFrame(pa.DataFrameModel):
    """One row per relation result, with what its two ends resolve to."""

    row: int = pa.Field(unique=True)
    key: int
    from_region: str | None = pa.Field(nullable=True)
    to_region: str | None = pa.Field(nullable=True)
    label: str | None = pa.Field(nullable=True)
    problem: str | None = pa.Field(nullable=True)


class ChoiceFrame(pa.DataFrameModel):
    """One row per per-region choice result (quote_type)."""

    row: int = pa.Field(unique=True)
    key: int
    region_id: str | None = pa.Field(nullable=True)
    choice: str | None = pa.Field(nullable=True)
    problem: str | None = pa.Field(nullable=True)


_COLUMNS: dict[Frame, type[pa.DataFrameModel]] = {
    Frame.OWNERS: OwnerFrame,
    Frame.SPANS: SpanFrame,
    Frame.RELATIONS: RelationFrame,
    Frame.CHOICES: ChoiceFrame,
}


def frame_schema(frame: Frame, *, rules: bool = True) -> pa.DataFrameSchema:
    """A frame's columns and (unless ``rules`` is false) its rules' checks; other columns (the helpers the rules read) are allowed."""
    columns = _COLUMNS[frame].to_schema()
    checks = [rule_check(r) for r in rules_of(frame)] if rules else []
    return pa.DataFrameSchema(columns.columns, checks=checks, strict=False, name=columns.name)


#: frame → its schema, in the order of :class:`~khabar.validation.checks.Frame`
FRAME_MODELS: dict[Frame, pa.DataFrameSchema] = {frame: frame_schema(frame) for frame in Frame}
#: frame → the same schema without the rules' checks: its columns, their types, nulls and uniqueness
FRAME_COLUMNS: dict[Frame, pa.DataFrameSchema] = {frame: frame_schema(frame, rules=False) for frame in Frame}


def _check_passes(check: pa.Check, data: pl.LazyFrame, key: str) -> pl.LazyFrame | None:
    """One row, one column: whether every row passes a pandera check, as pandera's polars backend decides it
    (its own check function; a null passes when the check ignores nulls); None for a check this cannot run."""
    if check.element_wise or check.groupby is not None or check._check_fn is None:
        return None
    function = check._check_fn
    name = check.name
    if name is not None and pa.Check.is_builtin_check(name) and getattr(function, "__name__", None) == name:
        # a builtin check made before pandera registered its polars version keeps a dispatcher without it
        function = pa.Check.get_builtin_check_fn(name)
    try:
        out = function(pa.PolarsData(data, key), **check._check_kwargs)
    except KeyError:  # a builtin check with no polars version: pandera says what it makes of it
        return None
    if not isinstance(out, pl.LazyFrame):
        return None
    ok = pl.all_horizontal(pl.all())
    ok = (ok | ok.is_null()) if check.ignore_na else ok.fill_null(False)
    return out.select(ok.all().alias(f"check {check.name} on {key}"))


def conformance(schema: pa.DataFrameSchema, data: pl.DataFrame) -> pl.LazyFrame | None:
    """One row of booleans, all true when ``data`` passes ``schema``; None when the schema asks for something
    this does not decide (pandera must then run).

    pandera runs each property of each column as its own polars query (a null count, a
    duplicate search, each check) and gathers its failure cases: for the checked frames and
    the kept tables of the 20 batches of a million span results, 0.8 s of CPU, mostly
    handing the little queries to polars' threads. Here they are one query, the checks
    evaluated by pandera's own check functions; the column types, names and nulls as pandera's
    polars backend checks them (a NaN is a null in a column that takes none).
    """
    if (
        schema.dtype is not None or schema.coerce or schema.parsers or schema.ordered or schema.drop_invalid_rows
        or schema.add_missing_columns or schema.unique_column_names or schema.strict not in (True, False)
    ):
        return None
    if schema.strict and not set(data.columns) <= set(schema.columns):
        return None
    # ``data.schema`` builds a new mapping of every column at each call: asked per column, for the four checked frames
    # (60 columns the spans') it took 1.5 ms a batch, against 0.2 (0.03 s of CPU at 1M span results)
    types = data.schema
    lazy = data.lazy()
    tests: list[pl.Expr] = []
    checks: list[pl.LazyFrame] = []
    for name, column in schema.columns.items():
        if column.regex or column.coerce or column.parsers or column.dtype is None or column.drop_invalid_rows:
            return None
        if name not in types:
            if column.required:
                return None
            continue
        if types[name] != column.dtype.type:
            return None
        values = pl.col(name)
        if not column.nullable:
            present = values.is_not_null() & values.is_not_nan() if types[name].is_float() else values.is_not_null()
            tests.append(present.all().alias(f"{name} has no null"))
        if column.unique:
            tests.append(values.is_unique().all().alias(f"{name} is unique"))
        for check in column.checks:
            passes = _check_passes(check, lazy, name)
            if passes is None:
                return None
            checks.append(passes)
    if schema.unique:
        tests.append(pl.struct(schema.unique).is_unique().all().alias(f"{schema.unique} are unique"))
    for check in schema.checks:
        passes = _check_passes(check, lazy, "*")
        if passes is None:
            return None
        checks.append(passes)
    return pl.concat([lazy.select(tests or [pl.lit(True).alias("no test")]), *checks], how="horizontal")


def _conforms(result: pl.DataFrame) -> bool:
    return all(result.row(0))


def validate(schema: pa.DataFrameSchema | type[pa.DataFrameModel], data: pl.DataFrame) -> None:
    """``schema.validate(data, lazy=True)``: raises pandera's :class:`~pandera.errors.SchemaErrors` when ``data``
    breaks the schema, after one polars query (:func:`conformance`) said it may; pandera runs only then."""
    if isinstance(schema, type):
        schema = schema.to_schema()
    query = conformance(schema, data)
    if query is None or not _conforms(query.collect(engine="in-memory")):
        schema.validate(data, lazy=True)


def failing_rows(frame: Frame, data: pl.DataFrame) -> dict[str, list[int]]:
    """Rule name → the positions of the rows of ``data`` that fail it, ascending (a rule no row fails is absent).

    What ``FRAME_MODELS[frame].validate(data, lazy=True)`` reports, as its failure cases'
    ``check`` and ``index``; a column that breaks the frame's schema raises pandera's
    :class:`~pandera.errors.SchemaErrors`, as there.
    """
    return failing_rows_of({frame: data})[frame]


def failing_rows_of(frames: Mapping[Frame, pl.DataFrame]) -> dict[Frame, dict[str, list[int]]]:
    """:func:`failing_rows` of several frames, in one call into polars (the columns' conformance and the rules of
    each): each call hands its work to polars' threads, and a call per rule and frame took 0.2 s at 1M span results."""
    queries: list[pl.LazyFrame] = []
    for frame, data in frames.items():
        query = conformance(FRAME_COLUMNS[frame], data)
        if query is None:
            FRAME_COLUMNS[frame].validate(data, lazy=True)
            query = pl.LazyFrame({"pandera passed": [True]})
        queries += [query, data.lazy().select(rule_passes(r).not_().arg_true().implode().alias(r.name) for r in rules_of(frame))]
    results = iter(pl.collect_all(queries, engine="in-memory"))  # its default engine (streaming) took a third more
    found: dict[Frame, dict[str, list[int]]] = {}
    for frame, data in frames.items():
        conformed, failing = next(results), next(results)
        if not _conforms(conformed):
            FRAME_COLUMNS[frame].validate(data, lazy=True)
        found[frame] = {name: rows for name, rows in failing.row(0, named=True).items() if rows}
    return found
