"""The tables of one validation, appended a batch at a time to parquet files in a temporary folder.

Validation checks an export a batch of tasks at a time; the rows each batch keeps go
to disk at once (one row group per batch), so memory holds one batch whatever the
export's size. ``khabar validate`` keeps the files for the build as they are
(:func:`khabar.validation.store.save_files`); a build that validates its exports itself
reads them in place, a range of documents at a time; whoever needs the tables in memory
(``khabar link``, the knowledge base's checks) loads them once. Written with lz4 and
no statistics, like the store's files: the tables are read whole, never filtered.
The validation's failures are set aside in the same folder (:mod:`khabar.validation.failures`),
which is removed when the last holder of it (the spool, the failures) is garbage-collected or the process ends.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from khabar.foundation.errors import KhabarError
from khabar.foundation.files import os_reason, temporary_folder
from khabar.validation.reader import Tables

TABLE_NAMES = tuple(f.name for f in fields(Tables))
#: the columns written dictionary-encoded: few values, repeated (pyarrow's default encodes every column, and for the
#: region ids, texts and times, unique or nearly, building each dictionary only to give it up took a fifth of the writes)
DICTIONARY_COLUMNS = ("doc_id", "layer", "label", "quote_type", "model_version", "annotator")
#: corpus records written to the spool at a time (a row group each)
CORPUS_SLICE = 1_000


@contextmanager
def room(folder: str | None = None, what: str = "the checked tables") -> Iterator[None]:
    """A write of the spool (or of ``what`` else a command sets aside there) that fails (a full or unwritable
    temporary folder) as a one-line error naming the folder: pyarrow's writers and a file's write report the
    system's error as an ``OSError`` with no file name, which went up as a traceback."""
    try:
        yield
    except OSError as exc:
        reason = os_reason(exc)
        place = folder or tempfile.gettempdir()
        raise KhabarError(f"cannot set {what} aside: {reason}; make room there or point TMPDIR at another folder", file=place) from None


class TableSpool:
    def __init__(self, documents: pl.DataFrame, release: Callable[[], None] = lambda: None) -> None:
        """``documents``: the corpus, written first, :data:`CORPUS_SLICE` records at a time; ``release`` is called
        after each (a corpus mapped from a file hands back the pages of the texts written)."""
        with room():
            #: removed when the last holder lets go of it: the spool, or the build that reads the files in place
            self.folder = temporary_folder("tables")
        self.paths = {name: Path(self.folder.name) / f"{name}.parquet" for name in TABLE_NAMES}
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._documents = documents
        with room(self.folder.name), pq.ParquetWriter(self.paths["documents"], documents.head(0).to_arrow().schema, compression="lz4", write_statistics=False) as corpus:
            for start in range(0, documents.height, CORPUS_SLICE):
                corpus.write_table(documents.slice(start, CORPUS_SLICE).to_arrow())
                release()

    def append(self, tables: Tables) -> None:
        """Add one batch's rows (its ``documents`` are the corpus, written once)."""
        with room(self.folder.name):
            for name in TABLE_NAMES:
                if name == "documents":
                    continue
                arrow = getattr(tables, name).to_arrow()
                writer = self._writers.get(name)
                if writer is None:
                    writer = self._writers[name] = pq.ParquetWriter(
                        self.paths[name], arrow.schema, compression="lz4", write_statistics=False,
                        use_dictionary=[column for column in arrow.schema.names if column in DICTIONARY_COLUMNS],
                    )
                writer.write_table(arrow)

    def close(self) -> None:
        """Finish every file (a spool given no batch still needs one, possibly empty, from :meth:`append`)."""
        with room(self.folder.name):
            for writer in self._writers.values():
                writer.close()
        self._writers.clear()

    def load(self) -> Tables:
        return Tables(**{
            name: self._documents if name == "documents" else pl.read_parquet(self.paths[name]) for name in TABLE_NAMES
        })
