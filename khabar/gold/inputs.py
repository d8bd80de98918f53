"""The validated tables of the exports as the gold's input: documents, annotations, spans, relations
and the pre-annotator's spans, with the hashes of what they were read from.

Both the knowledge base (its checks and proposals) and the builder adjudicate from these; the loader
that validates exports into them is :mod:`khabar.gold.load`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import NamedTuple, Protocol

import polars as pl

from khabar.annotation.ingest import load_records
from khabar.annotation.normalize import refuse_unnormalised
from khabar.annotation.scheme import load_scheme
from khabar.foundation.tables import ANNOTATIONS, DOCUMENTS, PREDICTION_SPANS, RELATIONS, SPANS, empty, pick


class Tables(Protocol):
    """What :func:`from_tables` reads: validation's ``Tables``, or tables built in a test (``predictions_spans`` optional)."""

    @property
    def documents(self) -> pl.DataFrame: ...
    @property
    def annotations(self) -> pl.DataFrame: ...
    @property
    def spans(self) -> pl.DataFrame: ...
    @property
    def relations(self) -> pl.DataFrame: ...


#: The most documents and span results in one range: a build adjudicates, measures and makes its configs
#: one range of whole documents at a time, so that no table of spans is ever whole in memory. A range of
#: news holds about 1,300 documents, a team's range (20-40 annotators on every document) about a hundred.
#: Peak RSS of ``khabar build`` at 3M span results: 0.97 GB with 150,000 spans a range, 0.91 GB with
#: 100,000 (the CPU within noise); at 1M with 40 annotators per task, 2.09 GB in one range → 0.62 GB.
RANGE_DOCUMENTS = 2_000
RANGE_SPANS = 100_000


def document_ranges(spans_per_document: Mapping[str, int], *, documents: int, spans: int) -> list[tuple[str, str]]:
    """(first, last) doc_id of each range, in doc_id order: a range ends before it would pass ``documents``
    documents or ``spans`` span results (a single document over ``spans`` is a range of its own)."""
    ranges: list[tuple[str, str]] = []
    current: list[str] = []
    total = 0
    for doc_id in sorted(spans_per_document):
        weight = spans_per_document[doc_id]
        if current and (len(current) == documents or total + weight > spans):
            ranges.append((current[0], current[-1]))
            current, total = [], 0
        current.append(doc_id)
        total += weight
    if current:
        ranges.append((current[0], current[-1]))
    return ranges


def spans_per_document(documents: pl.DataFrame, counted: pl.DataFrame) -> dict[str, int]:
    """Every document's number of span results, zero for none (``counted``: the spans' ``group_by("doc_id").len()``)."""
    return dict.fromkeys(documents["doc_id"].to_list(), 0) | dict(counted.iter_rows())


def within(first: str, last: str) -> pl.Expr:
    """The rows of the documents whose doc_id is from ``first`` to ``last``, both included."""
    return pl.col("doc_id").is_between(pl.lit(first), pl.lit(last))


class InputCounts(NamedTuple):
    """What the datasheet and the report say of the inputs as a whole."""

    spans: int
    relations: int
    predicted_spans: int
    model_versions: tuple[str, ...]  # of the pre-annotator's spans, sorted


class FrameTexts(Mapping[str, str]):
    """The ``text`` of each ``doc_id`` of a frame, as a mapping that makes a Python string of a text only
    when it is asked for (the plan asks for a slice at a time: :func:`near_duplicate_pairs`)."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self._texts = frame["text"]
        self._rows = {doc_id: row for row, doc_id in enumerate(frame["doc_id"].to_list())}

    def __getitem__(self, doc_id: str) -> str:
        return str(self._texts[self._rows[doc_id]])

    def gather(self, doc_ids: Sequence[str]) -> pl.Series:
        """The texts of ``doc_ids``, in that order (1M span results, 12,966 texts: 0.086 → 0.054 s CPU)."""
        return self._texts.gather([self._rows[d] for d in doc_ids])

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


class Inputs(Protocol):
    """What a build reads: the documents (their texts only when asked) and annotations whole, everything
    else one range of documents at a time (:class:`BuildInputs` in memory, or the tables validate kept,
    read a range at a time: :class:`khabar.gold.stored_inputs.StoredInputs`)."""

    @property
    def documents(self) -> pl.DataFrame: ...  # the DOCUMENTS columns, ``text`` perhaps left out
    def texts(self) -> pl.DataFrame: ...  # doc_id, text of every document
    @property
    def annotations(self) -> pl.DataFrame: ...
    @property
    def export_hashes(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def documents_sha256(self) -> str: ...
    def counts(self) -> InputCounts: ...
    def ranges(self, *, documents: int, spans: int) -> list[tuple[str, str]]: ...  # then read by between()
    def between(self, first: str, last: str) -> BuildInputs: ...


#: The string columns adjudication and agreement group, join and sort on: the spans' layer, label and quote type,
#: every table's doc_id (:attr:`BuildInputs.enums`).
KEYED = ("doc_id", "layer", "label", "quote_type")

#: The columns of ``predictions_spans`` the builder uses (the pre-annotator's spans).
BUILDER_PREDICTION_SPANS = pl.Schema(pick(PREDICTION_SPANS, "doc_id", "model_version", "layer", "label", "start", "end"))


@dataclass(frozen=True)
class BuildInputs:
    documents: pl.DataFrame
    annotations: pl.DataFrame
    spans: pl.DataFrame
    relations: pl.DataFrame
    predictions_spans: pl.DataFrame
    #: file name → sha256 of every export read
    export_hashes: tuple[tuple[str, str], ...] = ()
    documents_sha256: str = ""

    def texts(self) -> pl.DataFrame:
        return self.documents.select("doc_id", "text")

    @cached_property
    def enums(self) -> dict[str, pl.Enum]:
        """Each column of :data:`KEYED` → an enum of its values in these inputs (and the scheme's layers), sorted. A
        group_by, join or sort on a column cast to it (:meth:`keyed`) hashes and compares small integers instead of
        strings, in the strings' order, and its values come out as the same strings (1M span results: made once for
        adjudication and agreement, their CPU 3.13 → 2.90 s, each coding the spans before)."""
        doc_ids = pl.concat([table["doc_id"].unique() for table in (self.documents, self.annotations, self.spans, self.relations) if "doc_id" in table.columns])
        values = {name: self.spans[name].unique() for name in KEYED if name != "doc_id"}
        values["layer"] = pl.concat([values["layer"], pl.Series(load_scheme().layer_names, dtype=pl.String)])
        return {name: pl.Enum(column.unique().drop_nulls().sort()) for name, column in {"doc_id": doc_ids, **values}.items()}

    def keyed(self, table: pl.DataFrame, names: tuple[str, ...] = KEYED) -> pl.DataFrame:
        """``table`` (these inputs', or rows taken from them) with its columns of ``names`` cast to :attr:`enums`."""
        return table.with_columns(pl.col(name).cast(self.enums[name]) for name in names if name in table.columns)

    @cached_property
    def keyed_spans(self) -> pl.DataFrame:
        """The spans, :meth:`keyed`."""
        return self.keyed(self.spans)

    def counts(self) -> InputCounts:
        versions = tuple(sorted(set(self.predictions_spans["model_version"].drop_nulls().to_list())))
        return InputCounts(self.spans.height, self.relations.height, self.predictions_spans.height, versions)

    def ranges(self, *, documents: int, spans: int) -> list[tuple[str, str]]:
        """The ranges of at most ``documents`` documents and ``spans`` span results (:func:`document_ranges`)."""
        return document_ranges(spans_per_document(self.documents, self.spans.group_by("doc_id").len()), documents=documents, spans=spans)

    def between(self, first: str, last: str) -> BuildInputs:
        """The rows of the documents whose doc_id is from ``first`` to ``last`` (both included): a range of whole documents."""
        rows = within(first, last)
        return replace(
            self,
            documents=self.documents.filter(rows),
            annotations=self.annotations.filter(rows),
            spans=self.spans.filter(rows),
            relations=self.relations.filter(rows),
            predictions_spans=self.predictions_spans.filter(rows),
        )


def documents_table(documents_file: Path) -> pl.DataFrame:
    """The current (not superseded) corpus records as a DOCUMENTS table."""
    rows = [
        {name: getattr(record, name) for name in DOCUMENTS.names()}
        for record in load_records(documents_file)
        if record.superseded_by is None
    ]
    refuse_unnormalised(((row["doc_id"], row["text"]) for row in rows), documents_file)
    return pl.DataFrame(rows, schema=DOCUMENTS)


def from_tables(tables: Tables, *, export_hashes: tuple[tuple[str, str], ...] = (), documents_sha256: str = "") -> BuildInputs:
    """Adopt a ``Tables``-shaped object (validation's, or one built in a test)."""
    predictions = getattr(tables, "predictions_spans", None)
    predictions = empty(BUILDER_PREDICTION_SPANS) if predictions is None or predictions.height == 0 else predictions.select(BUILDER_PREDICTION_SPANS.names())
    return BuildInputs(
        documents=tables.documents.select(DOCUMENTS.names()),
        annotations=tables.annotations.select(ANNOTATIONS.names()),
        spans=tables.spans.select(SPANS.names()),
        relations=tables.relations.select(RELATIONS.names()),
        predictions_spans=predictions,
        export_hashes=export_hashes,
        documents_sha256=documents_sha256,
    )
