"""The failures of a validation: set aside on disk a batch at a time, read back a thousand at a time.

A batch's failures become a frame as soon as the batch is checked (:func:`batch_frame`), are sorted into
the report's order and written to the validation's temporary folder as one run (:class:`FailureRuns`);
at the end the runs are merged into one file in the report's order, a record batch of :data:`CHUNK`
failures at a time, and read back as :class:`Failure` objects a chunk at a time (:class:`Failures`). So
memory holds one batch's failures and a chunk of each run, whatever their number. Kept as one frame
(round 28), sorted at the end, they were the part of validate's memory that grew with them: an export
whose every span fails (1M span results against a corpus whose texts all differ: 1,382,593 failures)
took 1.87 GB (the JSON report) and 3.73 GB (the text report, which sorted them as Python objects).
Before that, one Python object each (about 1.2 KB: the object, its strings, its sort key) to the
report's end.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, cast, overload

import polars as pl
import pyarrow as pa

from khabar.validation.table_spool import room

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
#: the report's order: by file, document, task, annotation and start, the rule, the region, then the origin;
#: each column with what an absent value sorts as (the origin is never absent)
ORDER: tuple[tuple[str, str | int], ...] = (
    ("file", ""), ("doc_id", ""), ("task_id", 0), ("annotation_id", 0), ("start", 0),
    ("check_order", 0), ("region_id", ""), ("frame_order", 0), ("batch", 0), ("row", 0),
)
REPORT_ORDER = [pl.col(name).fill_null(absent) for name, absent in ORDER]
#: failures in a record batch of a run and of the merged file, made Python objects and written to a report at a
#: time: enough that the fixed cost of a chunk is nothing, few enough that the text of one is small
CHUNK = 1_000
#: failures gathered from the batches before they are sorted and set aside as one run. Held as the batches'
#: frames they take about 1 KB each in memory (315 bytes as polars counts them), and a run of 100,000 was the peak
#: of validating 3M span results of news (108,647 failures, all in the first run): 458 → 347 MB with runs of
#: 25,000, 341 → 334 MB at 1M (36,296 failures, now two runs to merge); an export whose every span fails: 55 runs
#: a million failures
RUN_FAILURES = 25_000


def batch_frame(failures: Sequence[Failure], origins: Sequence[tuple[int, int, int]], batch: int) -> pl.DataFrame:
    """One batch's failures with their origins (check order, frame order, row), as a frame to sort with the others."""
    columns: dict[str, list[Any]] = {name: [getattr(f, name) for f in failures] for name in COLUMNS}
    check_order, frame_order, row = zip(*origins) if origins else ((), (), ())
    columns |= {"check_order": list(check_order), "frame_order": list(frame_order), "batch": [batch] * len(failures), "row": list(row)}
    return pl.DataFrame(columns, schema=COLUMNS | ORIGIN)


def _write(path: Path, frame: pl.DataFrame) -> None:
    """``frame`` as an Arrow IPC file of record batches of :data:`CHUNK` rows, uncompressed: read back a batch at a time."""
    table = frame.to_arrow()
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=CHUNK)


def _read(path: Path, first: int, stop: int) -> pl.DataFrame:
    """Record batches ``first`` up to ``stop`` of a file :func:`_write` wrote, read (not mapped: resident memory
    would keep every page read) with the file open only meanwhile (a merge of hundreds of runs holds none open)."""
    with pa.OSFile(str(path)) as source:
        reader = pa.ipc.open_file(source)
        table = pa.Table.from_batches([reader.get_batch(i) for i in range(first, min(stop, reader.num_record_batches))], reader.schema)
    return cast(pl.DataFrame, pl.from_arrow(table))


def _in_report_order(runs: Sequence[Path]) -> Iterator[pl.DataFrame]:
    """The rows of every run (each sorted by :data:`REPORT_ORDER`) in the report's order, :data:`CHUNK` at a time.

    Python merges the rows' keys (what :data:`REPORT_ORDER` sorts by, then where the row is: its run, record
    batch and row there), and polars gathers each chunk's rows from the record batches they are in. Once a
    later record batch of a run is read, every row of the earlier ones has been merged: they are dropped
    after the chunk, so memory holds about two record batches of each run. Measured at 400,000 failures in
    4 runs: whole rows merged as Python tuples and made a frame again 7.3 µs a failure, their keys 4.4 µs;
    polars' ``merge_sorted`` on one string key that sorts as the columns do, keeping the rows read and not
    yet taken in one frame, 3.3 µs, but that frame copied at each record batch read took 10 s of system CPU
    at 1.4 million failures.
    """
    loaded: dict[tuple[int, int], pl.DataFrame] = {}

    def keys(run: int) -> Iterator[tuple[Any, ...]]:
        for batch, frame in enumerate(_chunks(runs[run])):
            loaded[run, batch] = frame
            place = {"_run": pl.lit(run), "_batch": pl.lit(batch), "_row": pl.int_range(pl.len())}
            yield from frame.select(*REPORT_ORDER, **place).iter_rows()

    merged = heapq.merge(*(keys(run) for run in range(len(runs))))
    while places := [key[-3:] for key in itertools.islice(merged, CHUNK)]:
        sources = list(dict.fromkeys((run, batch) for run, batch, _ in places))
        starts = dict(zip(sources, itertools.accumulate((loaded[source].height for source in sources), initial=0)))
        rows = [starts[run, batch] + row for run, batch, row in places]
        yield pl.concat([loaded[source] for source in sources])[rows]
        latest = {run: batch for run, batch in sorted(loaded)}
        for run, batch in [source for source in loaded if source[1] < latest[source[0]]]:
            del loaded[run, batch]


class FailureRuns:
    """A validation's failures, set aside in ``folder``: the batches' failures gathered until they are
    :data:`RUN_FAILURES`, then sorted in the report's order and written as one run.

    ``holder`` is what keeps the folder (its :class:`~khabar.foundation.files.HeldFolder`): the failures :meth:`merged` gives keep it
    while they are read. Writes that fail (a full temporary folder) are the spool's one-line error.
    """

    def __init__(self, folder: Path, holder: object = None) -> None:
        self.folder = folder
        self._holder = holder
        self._gathered: list[pl.DataFrame] = []
        self._runs: list[Path] = []
        self._severities: Counter[str] = Counter()

    def add(self, frame: pl.DataFrame) -> None:
        """One batch's failures (:func:`batch_frame`)."""
        self._gathered.append(frame)
        self._severities.update(dict(frame.group_by("severity").len().iter_rows()))
        if sum(frame.height for frame in self._gathered) >= RUN_FAILURES:
            self._set_aside()

    def _set_aside(self) -> None:
        """The gathered failures as a run, sorted in the report's order."""
        frame = pl.concat(self._gathered) if self._gathered else pl.DataFrame()
        self._gathered = []
        if frame.is_empty():
            return
        path = self.folder / f"failures-{len(self._runs):06d}.arrow"
        with room(str(self.folder)):
            _write(path, frame.sort(REPORT_ORDER, maintain_order=True))
        self._runs.append(path)

    def merged(self) -> Failures:
        """Every batch's failures in the report's order, in one file of record batches of :data:`CHUNK` (the runs
        removed). Each run sorted by polars, then merged by Python: a test holds the two orders to be one. One
        run is that file already (1M span results of news, 36,296 failures: no failure merged)."""
        self._set_aside()
        if not self._runs:
            return Failures()
        path = self.folder / "failures.arrow"
        if len(self._runs) == 1:
            self._runs.pop().rename(path)
            rows, files = _file_stretches(chunk["file"] for chunk in _chunks(path))
        else:
            with room(str(self.folder)):
                rows, files = _file_stretches(_written(_in_report_order(self._runs), path))
            for run in self._runs:
                run.unlink()
        return Failures(_Stored(path, rows, self._severities, files, self._holder))


def _chunks(path: Path) -> Iterator[pl.DataFrame]:
    """A file's record batches in turn, as :func:`_write` and :func:`_written` write them."""
    for batch in itertools.count():
        frame = _read(path, batch, batch + 1)
        if frame.is_empty():
            return
        yield frame


def _written(chunks: Iterator[pl.DataFrame], path: Path) -> Iterator[pl.Series]:
    """Each chunk written to ``path`` as a record batch as it comes (so that batch i holds rows from i·CHUNK), its files given on."""
    with pa.OSFile(str(path), "wb") as sink:
        writer: pa.ipc.RecordBatchFileWriter | None = None
        for chunk in chunks:
            arrow = chunk.to_arrow().combine_chunks()
            writer = writer or pa.ipc.new_file(sink, arrow.schema)
            writer.write_table(arrow)
            yield chunk["file"]
        if writer is not None:
            writer.close()


def _file_stretches(files: Iterable[pl.Series]) -> tuple[int, tuple[tuple[int, int], ...]]:
    """How many failures there are, and each file's (first row, end), from the file of every failure in the report's
    order (a file's failures are together there), a chunk at a time."""
    firsts: list[int] = []
    file: str | None = None
    count = 0
    for chunk in files:
        for name in chunk.fill_null("").to_list():
            if name != file:
                file = name
                firsts.append(count)
            count += 1
    return count, tuple(zip(firsts, [*firsts[1:], count]))


@dataclass(frozen=True)
class _Stored:
    """The merged file of a validation's failures (:meth:`FailureRuns.merged`)."""

    path: Path
    rows: int
    severities: Mapping[str, int]
    files: tuple[tuple[int, int], ...]  # each file's failures (first row, end), in the report's order
    holder: object  # keeps the folder while the failures are read

    def read(self, start: int, stop: int) -> list[Failure]:
        """Failures ``start`` up to ``stop`` (both within ``rows``)."""
        frame = _read(self.path, start // CHUNK, (stop - 1) // CHUNK + 1).select(list(COLUMNS))
        return [Failure(*row) for row in frame.slice(start % CHUNK, stop - start).iter_rows()]


class Failures(Sequence[Failure]):
    """Failures in the report's order: a validation's (:meth:`FailureRuns.merged`), then any ``added`` after it
    (the knowledge base's). A failure is a Python object only while it is read."""

    def __init__(self, stored: _Stored | None = None, added: Sequence[Failure] = ()) -> None:
        self._stored = stored
        self.added = list(added)

    @property
    def _framed(self) -> int:
        return self._stored.rows if self._stored else 0

    def __len__(self) -> int:
        return self._framed + len(self.added)

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
        return self._stretch(0, len(self))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (Failures, list, tuple)) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # equal to a list of the same failures, so unhashable as a list is

    def __add__(self, other: Sequence[Failure]) -> Failures:
        return Failures(self._stored, [*self.added, *other])

    def __repr__(self) -> str:
        return f"Failures({list(self)!r})"

    def of_severity(self, severity: str) -> int:
        """How many failures have ``severity``."""
        framed = self._stored.severities.get(severity, 0) if self._stored else 0
        return framed + sum(1 for f in self.added if f.severity == severity)

    def first(self, severity: str, count: int) -> list[Failure]:
        """The first ``count`` failures of ``severity``, read no further than they are."""
        return list(itertools.islice((f for f in self if f.severity == severity), count))

    def by_document(self) -> Iterator[Failure]:
        """The failures sorted by document (an absent one as ""), in the report's order within a document: the
        text report's order, which groups them by document across files.

        A file's failures are one stretch of the report, already in its documents' order, so the stretches and
        the added failures (sorted) are merged; among a document's, an earlier stretch's come first, as a stable
        sort of the whole report would have them.
        """
        stretches = [self._stretch(first, end) for first, end in (self._stored.files if self._stored else ())]
        return heapq.merge(*stretches, sorted(self.added, key=_document), key=_document)

    def _stretch(self, start: int, stop: int) -> Iterator[Failure]:
        for first in range(start, stop, CHUNK):
            yield from self._between(first, min(first + CHUNK, stop))

    def _between(self, start: int, stop: int) -> list[Failure]:
        """The failures from ``start`` up to ``stop`` (both within ``len(self)``; none when ``stop`` comes first)."""
        if stop <= start:
            return []
        framed = self._framed
        read = self._stored.read(start, min(stop, framed)) if self._stored and start < framed else []
        return read + self.added[max(0, start - framed) : max(0, stop - framed)]


def _document(failure: Failure) -> str:
    return failure.doc_id or ""
