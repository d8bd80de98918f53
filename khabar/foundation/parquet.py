"""A build's parquet files read a batch of rows at a time: memory holds a batch, never a file.

A build's rows hold lists of nested spans, and pyarrow decodes one batch at a time, not a row group (a 3M span
results build's ``documents``, row groups of 10,000 rows, its span columns read: 1,000 rows at once add 37 MB to
the process, 10,000 rows 190 MB). Read whole instead, ``validate --dataset`` took 2.0 GB and 46 s of CPU at 1M
span results (0.46 GB and 4.7 s a batch at a time), the CoNLL export 1.17 GB (0.12 GB), ``khabar diff`` of two 3M
builds 1.66 GB (0.43 GB).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from khabar.foundation.errors import KhabarError

if TYPE_CHECKING:
    import pyarrow as pa

#: rows of a parquet file read at once
ROWS_AT_ONCE = 1_000


def batches(path: Path, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """The record batches of a parquet file, :data:`ROWS_AT_ONCE` rows each (``columns``: only those); a file
    that cannot be read, or a damaged page met on the way, is one line naming the file (exit 2)."""
    import pyarrow.parquet as pq  # not for a command that reads no parquet

    with reading(path):
        yield from pq.ParquetFile(path).iter_batches(batch_size=ROWS_AT_ONCE, columns=columns)


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """pyarrow's errors reading the parquet file ``path`` (no such file, not parquet, cut short, a damaged page):
    one line naming the file (exit 2), not a traceback."""
    try:
        yield
    except (OSError, ValueError) as exc:
        raise KhabarError(cannot_read(exc), file=str(path)) from None


def cannot_read(exc: Exception) -> str:
    """pyarrow's error reading a parquet file as one line: its message runs over several ("Couldn't deserialize
    thrift: …" then "Deserializing page header failed."), which a report line printed as they came."""
    return f"cannot read parquet: {' '.join(str(exc).split()) or exc.__class__.__name__}"
