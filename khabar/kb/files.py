"""The three files of ``annotation/kb/``: what they hold, and the one reader and writer of each.

- ``entities.csv``: entity_id, type, canonical_name, aliases (``|``-separated), wikidata (empty unless verified);
- ``links.csv``: doc_id, start, end, label, entity_id (``-``: explicitly not in the base);
- ``quote_clusters.csv``: doc_id, start, end, cluster_id;
- ``ambiguous_sources.csv``: doc_id, start, end (a CONTENT whose source link has two plausible
  readings), readings (``|``-separated: the source that is linked first, then the other reading(s)).

Rows are sorted by their key, the files are UTF-8 with LF line ends (a file saved with CRLF keeps
them), and every write replaces the file atomically, so a reviewed file only changes by whole rows.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import TypeVar

import polars as pl

from khabar.foundation.errors import EXIT_UNUSABLE_INPUT, KhabarError, not_utf8
from khabar.foundation.export_files import open_regular, read_regular
from khabar.foundation.files import write_atomic
from khabar.foundation.paths import repo

#: the entry a mention is linked to when it names something that is deliberately not in the base
NOT_IN_BASE = "-"
ALIAS_SEPARATOR = "|"
ENTITY_ID = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
CLUSTER_ID = re.compile(r"qc-\d{3,}")
WIKIDATA_ID = re.compile(r"Q[1-9]\d*")


@dataclass(frozen=True, order=True, slots=True)
class Entity:
    entity_id: str
    type: str
    canonical_name: str
    aliases: str  # ALIAS_SEPARATOR-joined, as in the file
    wikidata: str

    @property
    def names(self) -> tuple[str, ...]:
        """The canonical name and every alias."""
        return (self.canonical_name, *(a for a in self.aliases.split(ALIAS_SEPARATOR) if a))


@dataclass(frozen=True, order=True, slots=True)
class Link:
    doc_id: str
    start: int
    end: int
    label: str
    entity_id: str


@dataclass(frozen=True, order=True, slots=True)
class Cluster:
    doc_id: str
    start: int
    end: int
    cluster_id: str


@dataclass(frozen=True, order=True, slots=True)
class AmbiguousSource:
    doc_id: str
    start: int
    end: int
    readings: str  # ALIAS_SEPARATOR-joined: the linked source first

    @property
    def reading_list(self) -> tuple[str, ...]:
        return tuple(r for r in self.readings.split(ALIAS_SEPARATOR) if r.strip())


Row = TypeVar("Row", Entity, Link, Cluster, AmbiguousSource)
FILES: dict[type, str] = {Entity: "entities.csv", Link: "links.csv", Cluster: "quote_clusters.csv", AmbiguousSource: "ambiguous_sources.csv"}


def header(kind: type[Row]) -> list[str]:
    return [f.name for f in fields(kind)]


def schema(kind: type[Row]) -> pl.Schema:
    """A file's columns as a frame's, from the row type's fields (``int`` → Int64, else String)."""
    return pl.Schema({f.name: pl.Int64() if f.type == "int" else pl.String() for f in fields(kind)})


#: rows parsed into Python values before they become a frame: the Python objects a read holds, whatever the
#: file's size. Read whole as row objects, the 778,544 links of a 3M-span export's base took 330 MB at their
#: peak (2.9 s CPU); read so, 100 MB (1.5 s)
CHUNK_ROWS = 50_000
INT64 = range(-(2**63), 2**63)


def read_frame(kind: type[Row], folder: Path | None = None) -> pl.DataFrame:
    """The rows of one file as a frame (:func:`schema`), in the file's order; a missing file has none. A
    malformed row stops with its file and line. The one reader of the base's files."""
    path = (folder or repo().kb_dir) / FILES[kind]
    columns = schema(kind)
    if not path.exists() and not path.is_symlink():  # a dangling link or a loop is refused, not read as no rows
        return pl.DataFrame(schema=columns)
    data = read_regular(path)
    try:
        data.decode("utf-8")  # checked whole, so that an error names its byte's offset in the file
    except UnicodeDecodeError as exc:
        raise KhabarError(not_utf8(exc), file=str(path)) from None
    # decoded as the rows are read: a StringIO of the decoded text held four bytes a character (96 MB for the
    # links of a 3M-span export)
    reader = csv.reader(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=""))
    head = next(reader, None)
    if head != header(kind):
        raise KhabarError(f"header is {head}, expected {header(kind)}", file=str(path), exit_status=EXIT_UNUSABLE_INPUT)
    frames: list[pl.DataFrame] = [pl.DataFrame(schema=columns)]
    chunk = _Chunk(columns)
    for number, values in enumerate(reader, start=2):
        if len(values) != len(head):
            raise KhabarError(f"line {number} has {len(values)} fields, expected {len(head)}", file=str(path), exit_status=EXIT_UNUSABLE_INPUT)
        try:
            chunk.add(values)
        except ValueError as exc:
            raise KhabarError(f"line {number}: {exc}", file=str(path), exit_status=EXIT_UNUSABLE_INPUT) from None
        if chunk.rows == CHUNK_ROWS:
            frames.append(chunk.frame())
            chunk = _Chunk(columns)
    return pl.concat([*frames, chunk.frame()], rechunk=False)  # the chunks as they are: a copy would double the frame


class _Chunk:
    """Rows of a file as Python values, a list per column, until they become a frame."""

    def __init__(self, columns: pl.Schema) -> None:
        self.schema = columns
        self.values: list[list[str | int]] = [[] for _ in columns]
        self.whole = [isinstance(dtype, pl.Int64) for dtype in columns.dtypes()]
        self.rows = 0

    def add(self, row: list[str]) -> None:
        """One row's fields (as many as the columns); a whole-number field that is not one raises ValueError."""
        typed = [_whole_number(value) if whole else value for whole, value in zip(self.whole, row)]
        for column, value in zip(self.values, typed):
            column.append(value)
        self.rows += 1

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(dict(zip(self.schema.names(), self.values)), schema=self.schema)


def _whole_number(value: str) -> int:
    number = int(value)
    if number not in INT64:
        raise ValueError(f"{value} is out of range for an offset")
    return number


def read(kind: type[Row], folder: Path | None = None) -> list[Row]:
    """The rows of one file as row objects (:func:`read_frame`): for the commands that review the base."""
    return [kind(*row) for row in read_frame(kind, folder).iter_rows()]


def frame_of(kind: type[Row], rows: Iterable[Row]) -> pl.DataFrame:
    """Row objects as the frame :func:`read_frame` gives for a file of them."""
    return pl.DataFrame([astuple(row) for row in rows], schema=schema(kind), orient="row")


def render(kind: type[Row], rows: Iterable[Row] | pl.DataFrame, line_end: str = "\n") -> Iterator[str]:
    """A file's text, a chunk of rows at a time: the header, then the rows sorted (field by field, as the row
    type orders them)."""
    frame = rows if isinstance(rows, pl.DataFrame) else frame_of(kind, rows)
    yield _csv_text([header(kind)], line_end)
    for chunk in frame.sort(header(kind)).iter_slices(CHUNK_ROWS):
        yield _csv_text(chunk.iter_rows(), line_end)


def _csv_text(rows: Iterable[Sequence[object]], line_end: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator=line_end).writerows(rows)
    return out.getvalue()


def write(kind: type[Row], rows: Iterable[Row] | pl.DataFrame, folder: Path | None = None) -> Path:
    """Write one file, sorted, atomically, a chunk of rows at a time, with the line ends of the file it replaces;
    the folder is made if needed."""
    folder = folder or repo().kb_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILES[kind]
    write_atomic(path, render(kind, rows, _line_end(path)))
    return path


def _line_end(path: Path) -> str:
    """CRLF when the file's header line ends so (saved by an editor that writes them), else LF: rows added to such
    a file leave the rows already there byte for byte, as a datasheet keeps its line ends (a new file: LF)."""
    if not path.exists() and not path.is_symlink():
        return "\n"
    with open_regular(path) as handle:
        return "\r\n" if handle.readline().endswith(b"\r\n") else "\n"
