"""The ``datasets`` Features of the three configs, with ClassLabel names from the scheme,
and :func:`label_ids`, which turns label names into the ids those ClassLabels store.

Lists of structs are ``List({...})``, never ``Sequence(dict)`` (which comes
back as a dict of lists). A column that carries a column of the tables of
:mod:`khabar.foundation.tables`, or one of the columns a release adds there (``ReleasedColumns``), takes its
name and value type from there (:func:`carried`).

The few kinds of feature the configs use (:class:`Value`, :class:`ClassLabel`, :class:`List` and structs as
dicts) are written here with what a build asks of them, the Arrow schema and the card's YAML, in the form
``datasets`` gives them: importing ``datasets`` took 0.3 s CPU of every build, beyond the pandas pyarrow imports anyway.
The tests read the schemas back with ``datasets.Features`` and compare its own schema and YAML with these.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

import polars as pl
import pyarrow as pa

from khabar.annotation.scheme import Scheme
from khabar.annotation.tags import tag_names
from khabar.dataset.layout import ConfigName
from khabar.foundation.errors import KhabarError
from khabar.foundation.tables import AnnotationsTable, DocumentsTable, RelationsTable, ReleasedColumns, SpansTable, polars_schema, released_name

if TYPE_CHECKING:
    from khabar.foundation.pandera_polars import pa as pandera

#: the columns of the documents table each released document carries, in the released order
DOCUMENT_COLUMNS = ("text", "source", "published", "title", "url", "story")
ValueType = Literal["string", "int64", "int32", "float64", "bool"]
#: the Arrow type of each value type (``datasets.Value``'s ``dtype`` is the Arrow type's name)
ARROW_TYPES: dict[ValueType, pa.DataType] = {"string": pa.string(), "int64": pa.int64(), "int32": pa.int32(), "float64": pa.float64(), "bool": pa.bool_()}


@dataclass(frozen=True)
class Value:
    """``datasets.Value``: one value of an Arrow type."""

    dtype: ValueType


@dataclass(frozen=True)
class ClassLabel:
    """``datasets.ClassLabel``: a label stored as its position in ``names`` (an int64)."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class List:
    """``datasets.List``: a list of any length of ``feature``."""

    feature: Feature


#: a column's feature; a dict is a struct of named features
Feature: TypeAlias = "Value | ClassLabel | List | Mapping[str, Feature]"


class Features(dict[str, Feature]):
    """``datasets.Features``: the columns of a config, in order, with the Arrow schema and YAML ``datasets`` makes of them."""

    @property
    def arrow_schema(self) -> pa.Schema:
        """``datasets.Features.arrow_schema``: the columns' Arrow types, the features as JSON in the ``huggingface`` metadata."""
        metadata = {"info": {"features": {name: _as_dict(feature) for name, feature in self.items()}}}
        return pa.schema([(name, _arrow_type(feature)) for name, feature in self.items()]).with_metadata({"huggingface": json.dumps(metadata)})

    def yaml_list(self) -> list[dict]:
        """``datasets.Features._to_yaml_list``: the features as the card's ``dataset_info`` lists them."""
        return [{"name": name, **_yaml(feature)} for name, feature in self.items()]


def _arrow_type(feature: Feature) -> pa.DataType:
    if isinstance(feature, Value):
        return ARROW_TYPES[feature.dtype]
    if isinstance(feature, ClassLabel):
        return pa.int64()
    if isinstance(feature, List):
        return pa.list_(_arrow_type(feature.feature))
    return pa.struct([(name, _arrow_type(inner)) for name, inner in feature.items()])


def _as_dict(feature: Feature) -> dict:
    """``datasets``' ``to_dict`` of a feature: its fields that differ from their defaults, then its ``_type``."""
    if isinstance(feature, Value):
        return {"dtype": feature.dtype, "_type": "Value"}
    if isinstance(feature, ClassLabel):
        return {"names": list(feature.names), "_type": "ClassLabel"}
    if isinstance(feature, List):
        return {"feature": _as_dict(feature.feature), "_type": "List"}
    return {name: _as_dict(inner) for name, inner in feature.items()}


def _yaml(feature: Feature) -> dict:
    """A feature as ``datasets`` writes it in YAML: ``dtype`` (a class label's names keyed by their ids as strings),
    ``list`` or ``struct``; a list's ``dtype`` or ``struct`` is written as the list's own value."""
    if isinstance(feature, Value):
        return {"dtype": feature.dtype}
    if isinstance(feature, ClassLabel):
        return {"dtype": {"class_label": {"names": {str(i): name for i, name in enumerate(feature.names)}}}}
    if isinstance(feature, List):
        inner = _yaml(feature.feature)
        return {"list": inner[next(iter(inner))] if list(inner) in (["dtype"], ["struct"]) else inner}
    return {"struct": [{"name": name, **_yaml(inner)} for name, inner in feature.items()]}


#: polars type of a table column → the Arrow type name of its ``datasets.Value``. Named here, not
#: taken from polars' Arrow export, which gives large_string for String: the release holds string.
VALUE_TYPES: dict[pl.DataType, ValueType] = {pl.String(): "string", pl.Int64(): "int64", pl.Int32(): "int32", pl.Float64(): "float64", pl.Boolean(): "bool"}
#: The column of a per-annotator build's documents config: whose version of the document a row is.
ANNOTATOR = released_name(AnnotationsTable, "annotator")
#: The zone of text that no zone span covers: the article's body (the scheme: "unmarked text is article body").
BODY = "BODY"


def zone_names(scheme: Scheme) -> list[str]:
    """The names of the ``zone`` ClassLabel every span carries: BODY, then the zone layer's labels."""
    return [BODY, *scheme.zone.labels]


def column_of(layer: str) -> str:
    """The documents column that holds a layer's spans (entity → entities)."""
    return layer[:-1] + "ies" if layer.endswith("y") else layer + "s"


def value_of(dtype: pl.DataType) -> Value:
    """The ``datasets.Value`` of a table column's polars type."""
    try:
        return Value(VALUE_TYPES[dtype])
    except KeyError:
        raise KhabarError(f"no released value type for the polars type {dtype}") from None


def carried(model: type[pandera.DataFrameModel], *columns: str) -> dict[str, Feature]:
    """Columns of a table as a release carries them: under their released names, with their value types."""
    schema = polars_schema(model)
    return {released_name(model, column): value_of(schema[column]) for column in columns}


def _span(labels: tuple[str, ...], **extra: Feature) -> dict[str, Feature]:
    return {**carried(SpansTable, "region_id", "start", "end"), "label": ClassLabel(tuple(labels)), **carried(SpansTable, "text"), **extra}


def documents_features(scheme: Scheme, *, per_annotator: bool = False) -> Features:
    """Spans of every layer but the zones carry the ``zone`` they lie in; entities carry their
    ``normalized`` form (the word written on its own: ``لتحالف`` → ``التحالف`` under rule B4; the
    ``text`` itself otherwise, never null) and the knowledge base's ``entity_id`` (null when
    unlinked or linked to nothing in the base)."""
    columns = carried(DocumentsTable, "doc_id")
    if per_annotator:
        columns |= carried(AnnotationsTable, "annotator")
    columns |= carried(DocumentsTable, *DOCUMENT_COLUMNS)
    zone = ClassLabel(tuple(zone_names(scheme)))
    for layer in scheme.layers:
        extra: dict[str, Feature] = {c.name: ClassLabel(tuple(c.choices)) for c in scheme.region_choices if c.layer == layer.name}
        if layer != scheme.zone:
            extra["zone"] = zone
        if layer == scheme.entity:
            extra |= carried(ReleasedColumns, "normalized", "entity_id")
        columns[column_of(layer.name)] = List(_span(layer.labels, **extra))
    columns["relations"] = List(carried(RelationsTable, "from_region", "to_region") | {"label": ClassLabel(tuple(scheme.relation_labels))})
    return Features(columns)


def tokens_features(scheme: Scheme) -> Features:
    tags = ClassLabel(tuple(tag_names(scheme.entity.labels)))
    return Features(
        {
            **carried(SpansTable, "doc_id"),
            **carried(ReleasedColumns, "sentence"),
            **carried(SpansTable, "start", "end"),
            "tokens": List(Value("string")),
            "token_starts": List(Value("int64")),
            "ner_tags": List(tags),
            "nested_ner_tags": List(List(tags)),
        }
    )


def quotes_features(scheme: Scheme) -> Features:
    """One row per quoted CONTENT (its zone, its statement's ``cluster_id``, ``source_ambiguous``: true
    when a reviewer found two plausible readings of its source link, ``annotation/kb/ambiguous_sources.csv``); a list per relation
    (sources, cues) of the spans it points at, each with its zone and the entity it names:
    ``entity_label``/``entity_id`` are those of the entity with exactly the span's extent, else of
    the longest entity that starts where the span starts (an Arabic noun phrase puts its head
    first), else null (see :func:`khabar.dataset.configs.head_entities`)."""
    zone = ClassLabel(tuple(zone_names(scheme)))
    part: dict[str, Feature] = {
        **carried(SpansTable, "region_id", "start", "end", "text"),
        "zone": zone,
        "entity_label": ClassLabel(tuple(scheme.entity.labels)),
        **carried(ReleasedColumns, "entity_id"),
    }
    columns = carried(SpansTable, "region_id", "doc_id", "start", "end", "text")
    columns |= {c.name: ClassLabel(tuple(c.choices)) for c in scheme.region_choices}
    columns |= {"zone": zone, **carried(ReleasedColumns, "cluster_id", "source_ambiguous")}
    columns |= {column_of(rule.label): List(part) for rule in scheme.relations}
    return Features(columns)


def all_features(scheme: Scheme, *, per_annotator: bool = False) -> dict[ConfigName, Features]:
    """Config name → Features, the default config first."""
    return {
        "documents": documents_features(scheme, per_annotator=per_annotator),
        "tokens": tokens_features(scheme),
        "quotes": quotes_features(scheme),
    }


def label_ids(labels: pl.Series, names: Sequence[str]) -> pl.Series:
    """The ClassLabel ids of label names (their positions in ``names``); null stays null."""
    # an enum's codes are the positions: half the CPU of replace_strict; unknown names become null, and are counted
    ids = labels.cast(pl.Enum(names), strict=False).to_physical().cast(pl.Int64)
    if ids.null_count() != labels.null_count():
        unknown = labels.filter(ids.is_null() & labels.is_not_null())
        raise KhabarError(f"label {unknown[0]!r} is not one of {', '.join(names)}")
    return ids
