"""A frame kept in a file mapped into memory instead of in the process's own memory: the corpus during a validation.

Validation reads every corpus record's text, a batch of tasks at a time, and each batch reads only its own
documents' texts. Held as a frame the texts were the process's own memory for the whole validation, and
grew with the corpus: 102 MB of records for 3M span results. Mapped, a text is resident while it is read;
:meth:`MappedFrame.release` hands the pages back after each batch (they are read again from the page cache
when a later batch needs them). The file is unnamed (it has no name in the temporary folder, so nothing is
left there whatever ends the process) and goes when the frame does.
"""

from __future__ import annotations

import mmap
import tempfile
from typing import cast

import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc

from khabar.validation.table_spool import room


class MappedFrame:
    """``frame``'s columns written to an unnamed temporary file (Arrow IPC, uncompressed) and read back mapped:
    :attr:`frame` has the same rows and types, its buffers the file's (Arrow's string views, which polars takes
    as they are)."""

    def __init__(self, frame: pl.DataFrame, what: str) -> None:
        table = frame.to_arrow(compat_level=pl.CompatLevel.newest())
        with room(what=what):
            self._file = tempfile.TemporaryFile()
            with ipc.new_file(pa.PythonFile(self._file, mode="w"), table.schema) as writer:
                writer.write_table(table)
            self._file.flush()
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        #: the file's bytes (in the temporary folder, while the frame lives)
        self.size = len(self._map)
        self.frame = cast(pl.DataFrame, pl.from_arrow(ipc.open_file(pa.BufferReader(pa.py_buffer(self._map))).read_all()))

    def release(self) -> None:
        """Hand back the pages of the file read so far, where the system can (``MADV_DONTNEED``: Linux, macOS)."""
        if hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED)
