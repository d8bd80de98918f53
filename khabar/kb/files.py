"""The three files of ``annotation/kb/``: what they hold, and the one reader and writer of each.

- ``entities.csv``: entity_id, type, canonical_name, aliases (``|``-separated), wikidata (empty unless verified);
- ``links.csv``: doc_id, start, end, label, entity_id (``-``: explicitly not in the base);
- ``quote_clusters.csv``: doc_id, start, end, cluster_id;
- ``ambiguous_sources.csv``: doc_id, start, end (a CONTENT whose source link has two plausible
  readings), readings (``|``-separated: the source that is linked first, then the other reading(s)).

Rows are sorted by their key, the files are UTF-8 with LF line ends (a file saved with CRLF or CR, or with a byte
order mark, keeps them), and every write replaces the file atomically, so a reviewed file only changes by whole
rows: only over the bytes the command read (a reviewer's edit saved meanwhile is kept and the write refused), and
never with a cell a spreadsheet would run as a formula (``=cmd|…``: every value of the files a command writes is an
id, an offset or a label, none of which starts so).
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

from khabar.foundation.csv_files import FORMULA, read_csv, runs_as_formula, whole_number
from khabar.foundation.errors import KhabarError, quoted
from khabar.foundation.files import write_atomic
from khabar.foundation.paths import repo, what_is

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


@dataclass(frozen=True)
class Original:
    """What a file of the base held when a command read it, for the write that replaces it (:func:`write`): its
    sha256 (None: there was no file), whether it starts with a byte order mark, how its lines end."""

    path: Path
    sha256: str | None
    bom: bool = False
    line_end: str = "\n"


def folder_of_base(folder: Path | None = None) -> Path | None:
    """The base's folder (``folder``, else the repository's ``annotation/kb/``); None when there is none. What stands
    there and is not a folder (a file, a dangling symlink) is refused: read as no base, it was neither checked nor
    built from, and validate and build said nothing."""
    folder = folder or repo().kb_dir
    if folder.is_dir():
        return folder
    if (found := what_is(folder)) is not None:
        raise KhabarError(f"{found}, not a folder: the knowledge base is a folder of CSV files", file=str(folder))
    return None


def read_frame(kind: type[Row], folder: Path | None = None) -> pl.DataFrame:
    """The rows of one file as a frame (:func:`schema`), in the file's order; a missing file has none. A
    malformed row stops with its file and line. The one reader of the base's files."""
    return read_to_replace(kind, folder)[0]


def read_to_replace(kind: type[Row], folder: Path | None = None) -> tuple[pl.DataFrame, Original]:
    """:func:`read_frame`, and what the file held (:class:`Original`), for a command that writes it again."""
    folder = folder or repo().kb_dir
    path = folder / FILES[kind]
    columns = schema(kind)
    if folder_of_base(folder) is None or (not path.exists() and not path.is_symlink()):  # a dangling link or a loop is refused, not read as no rows
        return pl.DataFrame(schema=columns), Original(path, None)
    read = read_csv(path, header(kind))
    frames: list[pl.DataFrame] = [pl.DataFrame(schema=columns)]
    chunk = _Chunk(columns)
    for line, values in read.rows():
        try:
            chunk.add(values)
        except ValueError as exc:
            raise KhabarError(str(exc), file=read.at(line)) from None
        if chunk.rows == CHUNK_ROWS:
            frames.append(chunk.frame())
            chunk = _Chunk(columns)
    # the chunks as they are: a copy would double the frame
    return pl.concat([*frames, chunk.frame()], rechunk=False), Original(path, read.sha256, read.bom, read.line_end)


class _Chunk:
    """Rows of a file as Python values, a list per column, until they become a frame."""

    def __init__(self, columns: pl.Schema) -> None:
        self.schema = columns
        self.values: list[list[str | int]] = [[] for _ in columns]
        self.whole = [isinstance(dtype, pl.Int64) for dtype in columns.dtypes()]
        self.rows = 0

    def add(self, row: list[str]) -> None:
        """One row's fields (as many as the columns); a whole-number field that is not one raises ValueError naming it."""
        typed = [whole_number(name, value) if whole else value for name, whole, value in zip(self.schema.names(), self.whole, row)]
        for column, value in zip(self.values, typed):
            column.append(value)
        self.rows += 1

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(dict(zip(self.schema.names(), self.values)), schema=self.schema)


def read(kind: type[Row], folder: Path | None = None) -> list[Row]:
    """The rows of one file as row objects (:func:`read_frame`): for the commands that review the base."""
    return rows_of(kind, read_frame(kind, folder))


def rows_of(kind: type[Row], frame: pl.DataFrame) -> list[Row]:
    """The rows of a frame :func:`read_frame` gave as row objects."""
    return [kind(*row) for row in frame.iter_rows()]


def frame_of(kind: type[Row], rows: Iterable[Row]) -> pl.DataFrame:
    """Row objects as the frame :func:`read_frame` gives for a file of them."""
    return pl.DataFrame([astuple(row) for row in rows], schema=schema(kind), orient="row")


def render(kind: type[Row], rows: Iterable[Row] | pl.DataFrame, line_end: str = "\n", *, bom: bool = False, path: Path | None = None) -> Iterator[str]:
    """A file's text, a chunk of rows at a time: the header, then the rows sorted (field by field, as the row type
    orders them). A cell a spreadsheet would run as a formula (:data:`~khabar.foundation.csv_files.FORMULA`) is
    refused before its chunk is given, naming the file (``path``) and the row: no id, offset or label starts so, and
    a reviewer opens these files in one."""
    frame = rows if isinstance(rows, pl.DataFrame) else frame_of(kind, rows)
    yield ("\ufeff" if bom else "") + _csv_text([header(kind)], line_end)
    texts = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    for chunk in frame.sort(header(kind)).iter_slices(CHUNK_ROWS):
        for row in chunk.filter(pl.any_horizontal([pl.col(name).str.contains(FORMULA) for name in texts])).head(1).iter_rows():
            cell = next(value for value in row if isinstance(value, str) and runs_as_formula(value))
            raise KhabarError(
                f"not written: the row {quoted(','.join(map(str, row)))} holds {quoted(cell)}, which a spreadsheet opening the file "
                "runs as a formula; correct it where it comes from (`khabar validate` names a malformed id)", file=str(path or FILES[kind]),
            )
        yield _csv_text(chunk, line_end)


def _csv_text(rows: pl.DataFrame | list[list[str]], line_end: str) -> str:
    """Rows (a chunk of a frame, or the header) as csv writes them, each ended by ``line_end``. csv quotes a value
    that holds a character of its line terminator, and no other line break: written ending "\n", a value's "\r" was
    left bare, and read back as the end of a line (ending "\r", a "\n"). So rows are written ending "\r\n", which
    quotes both, and their ends made ``line_end``: all at once when each "\r\n" is a row's end, else a row at a time."""

    def each() -> Iterable[Sequence[object]]:  # a frame's rows made as they are written, not held as Python values
        return rows.iter_rows() if isinstance(rows, pl.DataFrame) else rows

    text = _crlf_text(each())
    if line_end == "\r\n":
        return text
    if text.count("\r\n") == len(rows):
        return text.replace("\r\n", line_end)
    return "".join(_crlf_text([row]).removesuffix("\r\n") + line_end for row in each())


def _crlf_text(rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def write(kind: type[Row], rows: Iterable[Row] | pl.DataFrame, original: Original) -> Path:
    """Replace the file ``original`` tells of (:func:`read_to_replace`) by ``rows``, sorted, atomically, a chunk of
    rows at a time, with its byte order mark and line ends, so that the rows already there stay byte for byte (a new
    file: LF); refused, and nothing written, when the file is no longer what was read (a reviewer's edit saved
    meanwhile, or a file made where there was none) or a cell would run as a formula (:func:`render`)."""
    write_atomic(original.path, render(kind, rows, original.line_end, bom=original.bom, path=original.path), over=original.sha256)
    return original.path
