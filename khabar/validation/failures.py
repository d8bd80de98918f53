"""The failures of a validation: a frame, not one Python object each.

A batch's failures become a frame as soon as the batch is checked (:func:`batch_frame`); the
frames of every batch are sorted once into the report's order (:func:`in_report_order`) and
read back as :class:`Failure` objects a thousand at a time (:class:`Failures`), as the report
writes them. Kept as Python objects until the report was written, they took about 1.2 KB each
(``tracemalloc``: the object, its strings, its sort key) and were the part of validate's memory
that grew with the export: 3M news span results, 108,647 failures (all warnings), anonymous memory
after the last batch 611 → 556 MB, the same report byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal, overload

import polars as pl

#: what a failure is about: an export's annotation or prediction (drafts are not checked), or a knowledge-base file
FailureKind = Literal["annotation", "prediction", "knowledge_base"]


@dataclass(frozen=True)
class Failure:
    """One rule failing on one row, with everything a person needs to find and fix it."""

    check: str
    severity: str
    message: str
    hint: str
    file: str | None
    task_id: int | None
    doc_id: str | None
    kind: FailureKind
    annotation_id: int | None  # the prediction's id for predictions
    annotator: str | None  # pseudonym; model_version for predictions
    region_id: str | None
    label: str | None
    start: int | None
    end: int | None
    found: str | None
    expected: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))  # its fields are all flat values: no need for asdict's deep copy


#: a failure's fields as a frame's columns, in the dataclass's order (so that a row is ``Failure(*row)``):
#: the whole numbers ``Int64``, every other field a string
COLUMNS = pl.Schema({f.name: pl.Int64 if str(f.type).startswith("int") else pl.String for f in fields(Failure)})
#: where a failure came from, besides its fields: its rule's place in the report among the failures of
#: the same row, its frame's place, its batch and its row there (ties between the fields keep this order)
ORIGIN = pl.Schema({"check_order": pl.Int64, "frame_order": pl.Int64, "batch": pl.Int64, "row": pl.Int64})
#: the report's order: by file, document, task, annotation and start (absent: "" or 0), the rule, the region,
#: then the origin
REPORT_ORDER = [
    pl.col("file").fill_null(""), pl.col("doc_id").fill_null(""), pl.col("task_id").fill_null(0), pl.col("annotation_id").fill_null(0),
    pl.col("start").fill_null(0), pl.col("check_order"), pl.col("region_id").fill_null(""), pl.col("frame_order"), pl.col("batch"), pl.col("row"),
]
#: failures made Python objects at a time (the JSON report writes them a thousand at a time too)
CHUNK = 1_000


def batch_frame(failures: Sequence[Failure], origins: Sequence[tuple[int, int, int]], batch: int) -> pl.DataFrame:
    """One batch's failures with their origins (check order, frame order, row), as a frame to sort with the others."""
    columns: dict[str, list[Any]] = {name: [getattr(f, name) for f in failures] for name in COLUMNS}
    check_order, frame_order, row = zip(*origins) if origins else ((), (), ())
    columns |= {"check_order": list(check_order), "frame_order": list(frame_order), "batch": [batch] * len(failures), "row": list(row)}
    return pl.DataFrame(columns, schema=COLUMNS | ORIGIN)


def in_report_order(batches: Sequence[pl.DataFrame]) -> Failures:
    """The failures of every batch (:func:`batch_frame`), in the report's order."""
    if not batches:
        return Failures()
    return Failures(pl.concat(batches).sort(REPORT_ORDER, maintain_order=True).select(list(COLUMNS)))


class Failures(Sequence[Failure]):
    """Failures in the report's order: a frame (:data:`COLUMNS`) of a validation's, then any ``added`` after it
    (the knowledge base's). A failure is a Python object only while it is read."""

    def __init__(self, frame: pl.DataFrame | None = None, added: Sequence[Failure] = ()) -> None:
        self.frame = frame if frame is not None else pl.DataFrame(schema=COLUMNS)
        self.added = list(added)

    def __len__(self) -> int:
        return self.frame.height + len(self.added)

    @overload
    def __getitem__(self, index: int) -> Failure: ...

    @overload
    def __getitem__(self, index: slice) -> list[Failure]: ...

    def __getitem__(self, index: int | slice) -> Failure | list[Failure]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            return self._between(start, stop) if step == 1 else [self[i] for i in range(start, stop, step)]
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError(index)
        return self._between(position, position + 1)[0]

    def __iter__(self) -> Iterator[Failure]:
        for start in range(0, len(self), CHUNK):
            yield from self._between(start, start + CHUNK)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (Failures, list, tuple)) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # equal to a list of the same failures, so unhashable as a list is

    def __add__(self, other: Sequence[Failure]) -> Failures:
        return Failures(self.frame, [*self.added, *other])

    def __repr__(self) -> str:
        return f"Failures({list(self)!r})"

    def of_severity(self, severity: str) -> int:
        """How many failures have ``severity``."""
        return self.frame.filter(pl.col("severity") == severity).height + sum(1 for f in self.added if f.severity == severity)

    def _between(self, start: int, stop: int) -> list[Failure]:
        """The failures from ``start`` up to ``stop`` (both within ``len(self)``; none when ``stop`` comes first)."""
        if stop <= start:
            return []
        height = self.frame.height
        framed = [Failure(*row) for row in self.frame.slice(start, min(stop, height) - start).iter_rows()] if start < height else []
        return framed + self.added[max(0, start - height) : max(0, stop - height)]
