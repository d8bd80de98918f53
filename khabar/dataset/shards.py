"""The parquet shards of a build, written while the build runs: each config's split fed batch by batch.

A build makes its configs one range of documents at a time (:mod:`khabar.dataset.compute`), so no
config is ever whole in memory. Each split's file gets its rows as they come and writes them in row
groups of exactly :data:`ROW_GROUP_SIZE` rows, so the file has the same bytes as one
``write_table(whole, row_group_size=ROW_GROUP_SIZE)`` of the split's whole table. The card's
``num_bytes`` (the arrow bytes of the whole split, one array per column) is counted from sums over the
row groups (:class:`ArrowBytes`), with the same result as pyarrow's ``nbytes`` of the whole table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.types as types

from khabar.dataset.card import Shard
from khabar.foundation.files import os_reason

PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 9, "write_statistics": True}
ROW_GROUP_SIZE = 10_000


@dataclass
class _Counts:
    """Additive counts of one array node (and its children): what its arrow bytes follow from."""

    rows: int = 0
    nulls: int = 0
    data: int = 0  # bytes of string or binary values
    children: list[_Counts] = field(default_factory=list)

    def add(self, array: pa.Array) -> None:
        """Count a freshly combined ``array`` (offset 0, as :func:`combined` makes it)."""
        self.rows += len(array)
        self.nulls += array.null_count
        kind = array.type
        if types.is_list(kind):
            # the child values the list's offsets reach: those a concatenation copies
            first, last = array.offsets[0].as_py(), array.offsets[-1].as_py()
            self._child(0).add(array.values.slice(first, last - first))
        elif types.is_struct(kind):
            for index in range(kind.num_fields):
                self._child(index).add(array.field(index))
        elif types.is_string(kind) or types.is_binary(kind):
            self.data += _value_bytes(array)

    def _child(self, index: int) -> _Counts:
        while len(self.children) <= index:
            self.children.append(_Counts())
        return self.children[index]

    def nbytes(self, kind: pa.DataType) -> int:
        """pyarrow's ``nbytes`` of one array of ``kind`` holding every row counted: a validity bitmap only
        when there are nulls, 4 bytes of offsets per row of a string or list (pyarrow counts the
        referenced offsets, one per row), the values themselves."""
        validity = (self.rows + 7) // 8 if self.nulls else 0
        if types.is_list(kind):
            return validity + 4 * self.rows + self._child(0).nbytes(kind.value_type)
        if types.is_struct(kind):
            return validity + sum(self._child(i).nbytes(kind.field(i).type) for i in range(kind.num_fields))
        if types.is_string(kind) or types.is_binary(kind):
            return validity + 4 * self.rows + self.data
        if types.is_boolean(kind):
            return validity + (self.rows + 7) // 8
        return validity + self.rows * kind.bit_width // 8


def _value_bytes(array: pa.Array) -> int:
    """Bytes of the values of a string or binary array, from its offsets (32-bit)."""
    if not len(array):
        return 0
    offsets = pa.Array.from_buffers(pa.int32(), len(array) + 1, [None, array.buffers()[1]], offset=array.offset)
    return offsets[-1].as_py() - offsets[0].as_py()


class ArrowBytes:
    """The arrow bytes of a table fed in parts, as :func:`arrow_bytes` of the whole would give them."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.counts = [_Counts() for _ in schema]

    def add(self, table: pa.Table) -> None:
        """Count the rows of ``table`` (combined: see :func:`combined`)."""
        for counts, column in zip(self.counts, table.columns):
            counts.add(column.chunk(0) if column.num_chunks else pa.array([], column.type))

    @property
    def total(self) -> int:
        return sum(counts.nbytes(f.type) for counts, f in zip(self.counts, self.schema))


def combined(table: pa.Table) -> pa.Table:
    """Each column concatenated afresh into one array, which leaves out the validity bitmaps that
    joins and filters add to arrays without nulls."""
    return pa.table([column.combine_chunks() for column in table.columns], schema=table.schema)


def arrow_bytes(table: pa.Table) -> int:
    """The arrow bytes of ``table`` as one array per column (see :func:`combined`): they then depend on the
    rows alone. Column by column, so that only one column is ever copied."""
    return sum(column.combine_chunks().nbytes for column in table.columns)


class _Waiting:
    """Rows set aside until their row group is full, in ``folder``: a file (Arrow IPC, uncompressed) per column,
    so that taking them back holds the columns made so far and one column as read, never the rows twice."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.rows = 0
        self.schema: pa.Schema | None = None  # the rows', once some are set aside
        self._files: list[pa.ipc.RecordBatchStreamWriter] = []

    def add(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        try:
            if not self._files:
                self.folder.mkdir()
                self.schema = table.schema
                self._files = [pa.ipc.new_stream(self._path(i), pa.schema([f])) for i, f in enumerate(table.schema)]
            for file, one, column in zip(self._files, table.schema, table.columns):
                file.write_table(pa.table([column], schema=pa.schema([one])))
        except OSError as exc:  # a full temporary folder is not the output's: the error says which folder filled
            raise OSError(exc.errno, f"{os_reason(exc)} (setting rows aside in {self.folder})") from None
        self.rows += table.num_rows

    def taken_back(self, sizes: Sequence[int], then: pa.Table | None = None) -> list[pa.Table]:
        """The rows set aside, then those of ``then``, in tables of ``sizes`` rows (all of them), each column
        of each table one array made afresh (as :func:`combined` makes it); the files are gone."""
        schema = then.schema if then is not None else cast(pa.Schema, self.schema)
        starts = [sum(sizes[:i]) for i in range(len(sizes))]
        tables: list[list[pa.Array]] = [[] for _ in sizes]
        for i, kind in enumerate(schema.types):
            whole = pa.chunked_array([*self._chunks(i), *(then.column(i).chunks if then is not None else [])], kind)
            for table, start, size in zip(tables, starts, sizes):
                table.append(whole.slice(start, size).combine_chunks())
        if self._files:
            self.folder.rmdir()
        self._files, self.rows = [], 0
        return [pa.table(columns, schema=schema) for columns in tables]

    def _chunks(self, column: int) -> list[pa.Array]:
        """The column's rows set aside (none when nothing is); its file is gone."""
        if not self._files:
            return []
        self._files[column].close()
        with pa.OSFile(str(self._path(column))) as source:
            chunks = pa.ipc.open_stream(source).read_all().column(0).chunks
        self._path(column).unlink()
        return chunks

    def _path(self, column: int) -> Path:
        return self.folder / f"{column}.arrow"


class ShardWriter:
    """One split of one config, written to ``path`` as rows come (or only counted, when ``path`` is None).
    The file takes the schema of the rows given (the config's, as :mod:`khabar.dataset.configs` casts them).

    The rows that do not fill a row group yet wait on disk, in the folder ``waiting`` (:class:`_Waiting`).
    Held in memory, every split's waiting rows of every config stayed there until their group was full (a
    validation or test split of fewer than :data:`ROW_GROUP_SIZE` documents until the build's end), 26 to
    177 MB over the ranges of 3M news span results, and the build's memory grew with the corpus: ``khabar
    build`` validating the export itself (``/usr/bin/time``) 1M 761 → 637 MB, 3M 1,014 → 847 MB, the same
    bytes, for 0.27 s more CPU at 1M (setting aside and taking back, less the concatenation the writes
    needed anyway).
    """

    def __init__(self, split: str, path: Path | None, waiting: Path) -> None:
        self.split, self.path = split, path
        self.rows = 0
        self.bytes: ArrowBytes | None = None
        self._waiting = _Waiting(waiting)
        self._writer: pq.ParquetWriter | None = None

    def append(self, table: pa.Table) -> None:
        """Add ``table``'s rows (in the config's schema) after those given before."""
        if not table.num_rows:
            return
        groups, rest = divmod(self._waiting.rows + table.num_rows, ROW_GROUP_SIZE)
        if not groups:
            self._waiting.add(table)
            return
        *full, left = self._waiting.taken_back([ROW_GROUP_SIZE] * groups + [rest], then=table)
        for group in full:
            self._write(group)
        self._waiting.add(left)

    def close(self) -> Shard:
        """Write what is left; the shard as written (no file for a split without rows: datasets cannot
        read an empty row group, and the card leaves the split out)."""
        if self._waiting.rows:
            self._write(*self._waiting.taken_back([self._waiting.rows]))
        if self._writer is not None:
            self._writer.close()
        size = self.path.stat().st_size if self.path is not None and self.rows else 0
        return Shard(self.split, self.rows, self.bytes.total if self.bytes is not None else 0, size)

    def _write(self, group: pa.Table) -> None:
        self.rows += group.num_rows
        if self.bytes is None:
            self.bytes = ArrowBytes(group.schema)
        self.bytes.add(group)
        if self.path is not None:
            write_row_group(self._open(group.schema, self.path), group)

    def _open(self, schema: pa.Schema, path: Path) -> pq.ParquetWriter:
        if self._writer is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(path, schema, **PARQUET_OPTIONS)
        return self._writer


def write_row_group(writer: pq.ParquetWriter, group: pa.Table) -> None:
    """One row group of a shard (its own function so a test can interrupt a build mid-write)."""
    writer.write_table(group)
