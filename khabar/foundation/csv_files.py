"""The one reader of the CSV files people edit by hand: the corpus's metadata (``pages.csv``, ``sources.csv``), the
knowledge base (``annotation/kb/``) and the adjudicator's reasons (``*.adjudication.csv``).

A file is read as every input is (a regular UTF-8 file, else one line naming it:
:func:`khabar.foundation.export_files.read_regular`), then as CSV whose first line is the header its reader expects.
What a spreadsheet or an editor saves is read as it means it: a byte order mark before the header (Excel's "CSV
UTF-8"), CRLF or CR line ends, a value quoted over several lines, a blank line (no row). Anything else is one line
naming the file and the line, ``path:line``, and what is wrong there (exit 2): a byte that is not UTF-8, a NUL byte,
a header that is not the expected one (a column missing, unknown, named twice or out of its place), a row of more or
fewer values than the header has, and what is not CSV (a quote left open, a character after a closing quote, a value
past csv's limit of 131,072 characters, which a quote left open makes of the rest of the file). The line is the
file's, as an editor numbers it: a value quoted over several lines counts each of them (counted by rows, the error
after one named a line above the one at fault).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from khabar.foundation.errors import KhabarError, not_utf8, quoted
from khabar.foundation.export_files import read_regular
from khabar.foundation.files import sha256_bytes

if TYPE_CHECKING:
    import _csv

#: where csv, reading with ``newline=""``, ends a line: what a line number counts
LINE_BREAK = re.compile(rb"\r\n|\r|\n")
#: the largest whole number a file may write (a polars Int64)
LARGEST = 2**63 - 1
#: What a spreadsheet runs as a formula when a cell starts with it (OWASP's "CSV injection": ``=cmd|' /C calc'!A0``,
#: ``@SUM(…)``, ``+…``, ``-…``, and the same after a tab or a carriage return), as a pattern both Python's ``re`` and
#: polars read. A lone ``-`` is text to every one.
FORMULA = r"^(?:[=+@\t\r]|-[\s\S])"


@dataclass(frozen=True)
class CsvFile:
    """A CSV file read whole and its header checked (:func:`read_csv`); its rows are parsed as :meth:`rows` goes."""

    path: Path
    header: tuple[str, ...]
    data: bytes
    #: of the bytes read: a write that replaces the file puts its own in place only over these
    sha256: str
    #: whether it starts with a byte order mark, and how its header line ends: what a rewrite keeps
    bom: bool
    line_end: str

    def at(self, line: int) -> str:
        """Where a line is, as a message names it."""
        return f"{self.path}:{line}"

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Each row, with the line it starts on: as many values as the header has columns."""
        reader = _reader(self.data)
        next(reader)  # the header, checked by read_csv
        start = reader.line_num + 1
        try:
            for values in reader:
                if values:  # a blank line holds no row
                    if len(values) != len(self.header):
                        raise KhabarError(self._miscounted(values), file=self.at(start))
                    yield start, values
                start = reader.line_num + 1
        except csv.Error as exc:
            raise KhabarError(f"not CSV: {exc}", file=self.at(start)) from None

    def _miscounted(self, values: list[str]) -> str:
        counted = f"{len(values)} values where the header has {len(self.header)} columns"
        if len(values) > len(self.header):
            return f"{counted}: {quoted(values[len(self.header)])} has no column"
        return f"{counted}: no value for {', '.join(map(repr, self.header[len(values):]))}"


def read_csv(path: Path, columns: Sequence[str], *, other_columns: bool = False) -> CsvFile:
    """The file at ``path``, whose header must be ``columns`` in that order (``other_columns``: hold them, in any
    order, among others); anything else is refused in one line naming the file and the line (see above)."""
    data = read_regular(path)
    try:
        data.decode("utf-8")  # checked whole, so that an error names its byte's offset in the file
    except UnicodeDecodeError as exc:
        raise KhabarError(not_utf8(exc), file=f"{path}:{_line_of(data, exc.start)}") from None
    if (nul := data.find(b"\x00")) >= 0:
        raise KhabarError("a NUL byte: not a text file", file=f"{path}:{_line_of(data, nul)}")
    try:
        header = next(_reader(data), None)
    except csv.Error as exc:
        raise KhabarError(f"not CSV: {exc}", file=f"{path}:1") from None
    expected = f"{'the columns ' if other_columns else ''}{','.join(columns)}{' among others' if other_columns else ''}"
    if header is None:
        raise KhabarError(f"an empty file: its first line is the header, {expected}", file=f"{path}:1")
    problems = _header_problems(header, columns, other_columns)
    if problems:
        raise KhabarError(f"the header {quoted(','.join(header))} {' and '.join(problems)}: expected {expected}", file=f"{path}:1")
    line_end = LINE_BREAK.search(data)
    return CsvFile(path, tuple(header), data, sha256_bytes(data), data.startswith(codecs.BOM_UTF8), line_end.group().decode() if line_end else "\n")


def _reader(data: bytes) -> _csv.Reader:
    # decoded as the rows are read: a StringIO of the decoded text held four bytes a character (96 MB for the links of
    # a 3M-span export's base); strict, so that what is not CSV is said rather than read as some value
    return csv.reader(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline=""), strict=True)


def _line_of(data: bytes, offset: int) -> int:
    """The line the byte at ``offset`` is on."""
    return 1 + sum(1 for _ in LINE_BREAK.finditer(data, 0, offset))


def _header_problems(header: list[str], columns: Sequence[str], other_columns: bool) -> list[str]:
    named = Counter(header)

    def listed(names: Iterable[str]) -> str:
        return ", ".join(map(repr, names))

    problems = []
    if twice := [name for name, times in named.items() if times > 1]:
        problems.append(f"names {listed(twice)} more than once")
    if missing := [name for name in columns if name not in named]:
        problems.append(f"lacks {listed(missing)}")
    if not other_columns:
        if unknown := [name for name in named if name not in columns]:
            problems.append(f"has {listed(unknown)} besides")
        if not problems and list(header) != list(columns):
            problems.append("has them in another order")
    return problems


def whole_number(column: str, value: str) -> int:
    """The offset or count ``value`` of ``column`` as a file writes it: ASCII digits alone (``int`` also takes ``٣``,
    `` 3``, ``3_0`` and ``-3``), at most :data:`LARGEST`; else ValueError saying what it is."""
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"{column} {quoted(value)} is not a whole number written in ASCII digits")
    if len(value.lstrip("0")) > len(str(LARGEST)) or int(value) > LARGEST:  # first: int() refuses 4,301 digits its own way
        raise ValueError(f"{column} {value} is out of range (at most {LARGEST})")
    return int(value)


def runs_as_formula(value: str) -> bool:
    """Whether a spreadsheet that opens a CSV file runs ``value``, a cell of it, as a formula (:data:`FORMULA`)."""
    return re.match(FORMULA, value) is not None
