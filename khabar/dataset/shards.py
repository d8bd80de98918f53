"""The parquet shards of a build, written while the build runs: each config's split fed batch by batch.

A build makes its configs one range of documents at a time (:mod:`khabar.dataset.compute`), so no
config is ever whole in memory. Each split's file gets its rows as they come and writes them in row
groups of exactly :data:`ROW_GROUP_SIZE` rows, so the file has the same bytes as one
``write_table(whole, row_group_size=ROW_GROUP_SIZE)`` of the split's whole table. The card's
``num_bytes`` (the arrow bytes of the whole split, one array per column) is counted from sums over the
row groups (:class:`ArrowBytes`), with the same result as pyarrow's ``nbytes`` of the whole table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.types as types

from khabar.dataset.card import Shard

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


class ShardWriter:
    """One split of one config, written to ``path`` as rows come (or only counted, when ``path`` is None).
    The file takes the schema of the rows given (the config's, as :mod:`khabar.dataset.configs` casts them)."""

    def __init__(self, split: str, path: Path | None) -> None:
        self.split, self.path = split, path
        self.rows = 0
        self.bytes: ArrowBytes | None = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._writer: pq.ParquetWriter | None = None

    def append(self, table: pa.Table) -> None:
        """Add ``table``'s rows (in the config's schema) after those given before."""
        if not table.num_rows:
            return
        self._pending.append(table)
        self._pending_rows += table.num_rows
        while self._pending_rows >= ROW_GROUP_SIZE:
            self._flush(ROW_GROUP_SIZE)

    def close(self) -> Shard:
        """Write what is left; the shard as written (no file for a split without rows: datasets cannot
        read an empty row group, and the card leaves the split out)."""
        if self._pending_rows:
            self._flush(self._pending_rows)
        if self._writer is not None:
            self._writer.close()
        size = self.path.stat().st_size if self.path is not None and self.rows else 0
        return Shard(self.split, self.rows, self.bytes.total if self.bytes is not None else 0, size)

    def _flush(self, rows: int) -> None:
        pending = pa.concat_tables(self._pending)
        group = combined(pending.slice(0, rows))
        rest = pending.slice(rows)
        self._pending, self._pending_rows = ([rest] if rest.num_rows else []), rest.num_rows
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
