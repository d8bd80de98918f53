"""The tables ``khabar validate`` kept, read by a build one range of documents at a time.

The store's parquet files hold their rows in the export's task order, so a range of documents is spread
over every row group. Once the build knows its ranges (:meth:`StoredInputs.ranges`), each table is
read once, a row group at a time, and its rows are written to one Arrow file per range; a range is then one
read of its own files. Only the documents (without their texts) and the annotations are read whole.
The files are linked into a private folder before they are checked
(:func:`khabar.validation.store.link_files`), so a ``khabar validate`` that saves meanwhile changes
nothing the build reads. A build that validates its exports itself reads the files its validation
spooled the same way, in place (:meth:`StoredInputs.of_spool`).
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from khabar.foundation import range_files
from khabar.foundation.errors import KhabarError
from khabar.foundation.files import HeldFolder, remove_left_behind, temporary_parent
from khabar.foundation.memory import hand_back_freed_memory
from khabar.foundation.tables import ANNOTATIONS, DOCUMENTS, RELATIONS, SPANS
from khabar.gold.inputs import BUILDER_PREDICTION_SPANS, BuildInputs, InputCounts, document_ranges, spans_per_document, within
from khabar.validation import store
from khabar.validation.table_spool import TableSpool

#: The tables read a range at a time, with the columns a build reads of each.
RANGED = {
    "documents": DOCUMENTS.names(),
    "spans": SPANS.names(),
    "relations": RELATIONS.names(),
    "predictions_spans": BUILDER_PREDICTION_SPANS.names(),
}
#: Rows of a kept table read at once while it is cut into ranges.
READ_ROWS = 65_536
#: The name of a build's private folder of linked and cut tables starts so, then the build's pid.
READING = ".khabar-build-"


#: A folder of :data:`READING` is removed with its inputs when a build ends, but a killed build's stays, holding
#: links to tables the store may since have replaced: the next build removes it.
_READING_NAME = re.compile(rf"{re.escape(READING)}(\d+)-.+")


@dataclass(frozen=True)
class StoredInputs:
    documents: pl.DataFrame  # every DOCUMENTS column but ``text``
    annotations: pl.DataFrame
    files: Mapping[str, Path]
    folder: HeldFolder  # holds the linked files and the ranges' files for as long as these inputs live
    export_hashes: tuple[tuple[str, str], ...]
    documents_sha256: str
    #: (first, last) → the range's file of each table in :data:`RANGED` (none for a table without its rows)
    parts: dict[tuple[str, str], dict[str, Path]] = field(default_factory=dict)
    #: the sizes the ranges in ``parts`` were cut for (none, or one)
    cut_for: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def open(cls, key: str, *, export_hashes: tuple[tuple[str, str], ...], documents_sha256: str) -> StoredInputs | None:
        """The kept tables of ``key``, or None when the store does not hold them (as :func:`store.load`)."""
        # beside the store, so that its files can be linked rather than copied; named after this process
        parent = store.store_dir().parent if store.store_dir().exists() else temporary_parent()
        remove_left_behind(parent, _READING_NAME)
        try:
            folder = HeldFolder(f"{READING}{os.getpid()}-", parent)
        except OSError:
            return None  # no room for the links (a full disk): validate again, as for any store it cannot use
        files = store.link_files(key, Path(folder.name))
        if files is None:
            folder.cleanup()
            return None
        try:
            return cls._reading(files, folder, export_hashes, documents_sha256)
        except (OSError, pl.exceptions.PolarsError):
            folder.cleanup()
            return None  # unreadable: validate again

    @classmethod
    def of_spool(cls, spool: TableSpool, *, export_hashes: tuple[tuple[str, str], ...], documents_sha256: str) -> StoredInputs:
        """The tables a validation in this process spooled (a build validating its exports itself), read in
        place as the kept ones are: its ranges are cut into the spool's folder, which lives as long as these inputs.
        The files are the ones ``khabar validate`` would keep, so the build is the same, byte for byte. Read
        whole instead (until round 27), they took the command's peak to 919 MB at 1M news and 1,801 MB at 3M.

        What the validation made and freed is handed back first (its cycles and the C heap's free pages), since its
        spool is read right after it: 3M news, resident once validation is done 719-744 → 414-435 MB, the build's
        peak 941-1,017 → 901-981 MB; with a knowledge base covering a committed 3M export, the base's checks
        started on validation's leftovers (``khabar validate`` 925 MB before Arrow left mimalloc, 769 MB now)."""
        gc.collect()
        hand_back_freed_memory()
        try:
            return cls._reading(spool.paths, spool.folder, export_hashes, documents_sha256)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise KhabarError(f"cannot read back the tables validation wrote: {exc}", file=spool.folder.name) from None

    @classmethod
    def _reading(
        cls, files: Mapping[str, Path], folder: HeldFolder, export_hashes: tuple[tuple[str, str], ...], documents_sha256: str,
    ) -> StoredInputs:
        """Inputs on ``files`` (a kept table's file by name), with the documents (but their texts) and the annotations read."""
        documents = pl.read_parquet(files["documents"], columns=[name for name in DOCUMENTS.names() if name != "text"])
        annotations = pl.read_parquet(files["annotations"], columns=ANNOTATIONS.names())
        return cls(documents, annotations, files, folder, export_hashes, documents_sha256)

    def texts(self) -> pl.DataFrame:
        return pl.read_parquet(self.files["documents"], columns=["doc_id", "text"])

    def counts(self) -> InputCounts:
        def rows(name: str) -> int:
            return int(pl.scan_parquet(self.files[name]).select(pl.len()).collect().item())

        versions = pl.scan_parquet(self.files["predictions_spans"]).select(pl.col("model_version").drop_nulls().unique()).collect()
        return InputCounts(rows("spans"), rows("relations"), rows("predictions_spans"), tuple(sorted(versions["model_version"].to_list())))

    def ranges(self, *, documents: int, spans: int) -> list[tuple[str, str]]:
        """The build's ranges (:func:`~khabar.gold.inputs.document_ranges`), each table cut into them; cut once for
        the same sizes (the knowledge base's checks and the build read the same ranges)."""
        if self.cut_for == [(documents, spans)]:
            return list(self.parts)
        counted = pl.scan_parquet(self.files["spans"]).group_by("doc_id").len().collect()
        ranges = document_ranges(spans_per_document(self.documents, counted), documents=documents, spans=spans)
        ordered, numbers, index = sorted(self.documents["doc_id"].to_list()), [], 0
        for doc_id in ordered:  # every document lies in a range, and both are in doc_id order
            while doc_id > ranges[index][1]:
                index += 1
            numbers.append(index)
        range_of = range_files.RangeOf.of(ordered, numbers)
        self.cut_for.clear()
        self.parts.clear()
        self.parts.update({r: {} for r in ranges})
        try:
            for name, columns in RANGED.items():
                self._cut(name, columns, range_of, ranges)
        except OSError as exc:  # a full disk: one line, and the folder goes with these inputs
            raise KhabarError(f"cannot cut the kept tables into ranges of documents: {exc.strerror or exc}", file=str(self.folder.name)) from None
        self.cut_for.append((documents, spans))
        return ranges

    def _cut(self, name: str, columns: list[str], range_of: range_files.RangeOf, ranges: list[tuple[str, str]]) -> None:
        """Write the rows of the kept table ``name`` to one file per range."""
        batches = pq.ParquetFile(self.files[name]).iter_batches(batch_size=READ_ROWS, columns=list(columns))
        for index, path in range_files.cut(batches, "doc_id", range_of, lambda index: Path(self.folder.name) / f"{name}-{index}.arrow").items():
            self.parts[ranges[index]][name] = path

    def between(self, first: str, last: str) -> BuildInputs:
        """The range (first, last) of :meth:`ranges`."""
        files = self.parts[first, last]

        def read(name: str) -> pl.DataFrame:
            if name in files:
                return range_files.read(files[name])
            return pl.DataFrame(schema=pl.read_parquet_schema(self.files[name])).select(RANGED[name])  # no row in this range

        return BuildInputs(
            documents=read("documents"),
            annotations=self.annotations.filter(within(first, last)),
            spans=read("spans"),
            relations=read("relations"),
            predictions_spans=read("predictions_spans"),
            export_hashes=self.export_hashes,
            documents_sha256=self.documents_sha256,
        )
